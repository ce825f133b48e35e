//! Manifest content operations: round trips against acr-emulator, wire details against
//! httpmock, and bodies httpmock cannot send (chunked, lying about their length) against a
//! bare TCP server.

use futures_util::TryStreamExt as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;

use acr::{
    ContainerRegistryClient, Credential, DOCKER_MANIFEST, Digest, Error, MAX_MANIFEST_SIZE,
    ManifestBody, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST,
};
use acr_emulator::Emulator;
use httpmock::Method::{GET, PUT};
use httpmock::MockServer;
use serde_json::json;

const REPO: &str = "library/hello";
const LIMIT: usize = 4 * 1024 * 1024;
const SBOM: &str = "application/vnd.example.sbom.v1";
const SIGNATURE: &str = "application/vnd.example.signature.v1";

fn client(endpoint: &str) -> ContainerRegistryClient {
    ContainerRegistryClient::builder(endpoint)
        .credential(Credential::basic("admin", "s3cret"))
        .allow_http(true)
        .retry(acr::RetryOptions::none())
        .build()
        .unwrap()
}

fn anonymous(endpoint: &str) -> ContainerRegistryClient {
    ContainerRegistryClient::builder(endpoint)
        .allow_http(true)
        .retry(acr::RetryOptions::none())
        .build()
        .unwrap()
}

async fn emulator() -> Emulator {
    Emulator::builder()
        .user("admin", "s3cret")
        .start()
        .await
        .unwrap()
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> serde_json::Value {
    json!({ "mediaType": media_type, "digest": digest, "size": size })
}

/// An image manifest over blobs stored in `registry`, in the compact form with keys in the
/// order written, so its bytes are predictable.
fn image(registry: &Emulator, media_type: &str, layer: &[u8]) -> Vec<u8> {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = registry.put_blob(REPO, config.to_vec()).unwrap();
    let layer_digest = registry.put_blob(REPO, layer.to_vec()).unwrap();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config_digest, config.len()),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer_digest, layer.len())],
        "annotations": { "org.opencontainers.image.title": "hello" },
    }))
    .unwrap()
}

#[tokio::test]
async fn an_oci_manifest_round_trips_by_tag_and_by_digest() {
    let registry = emulator().await;
    let client = client(registry.endpoint());
    let bytes = image(&registry, OCI_IMAGE_MANIFEST, b"layer one");

    let digest = client
        .set_manifest(REPO, bytes.clone())
        .tag("v1")
        .await
        .unwrap();
    assert_eq!(digest, Digest::sha256(&bytes));
    let other = image(&registry, OCI_IMAGE_MANIFEST, b"layer two");
    let untagged = client.set_manifest(REPO, other.clone()).await.unwrap();
    assert_eq!(untagged, Digest::sha256(&other));

    for reference in ["v1", digest.as_str()] {
        let got = client.get_manifest(REPO, reference).await.unwrap();
        assert_eq!(got.bytes, bytes, "{reference}");
        assert_eq!(got.digest, digest, "{reference}");
        assert_eq!(got.media_type, OCI_IMAGE_MANIFEST, "{reference}");
        let view = got.image_manifest().unwrap();
        assert_eq!(view.schema_version, 2);
        assert_eq!(view.media_type.as_deref(), Some(OCI_IMAGE_MANIFEST));
        assert_eq!(view.config.size, 37);
        assert_eq!(view.layers.len(), 1);
        assert_eq!(view.layers[0].digest, Digest::sha256(b"layer one"));
        assert_eq!(view.layers[0].size, 9);
        assert_eq!(
            view.annotations.unwrap()["org.opencontainers.image.title"],
            "hello"
        );
        assert!(view.subject.is_none());
        assert!(matches!(got.image_index(), Err(Error::InvalidInput(_))));
    }
    let got = client.get_manifest(REPO, untagged.as_str()).await.unwrap();
    assert_eq!(got.bytes, other);

    // Repository names go out with literal slashes, as the distribution spec writes them.
    let paths: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(paths[0], "/v2/library/hello/manifests/v1", "{paths:?}");
}

#[tokio::test]
async fn a_docker_manifest_keeps_its_media_type() {
    let registry = emulator().await;
    let client = client(registry.endpoint());
    let bytes = image(&registry, DOCKER_MANIFEST, b"docker layer");
    let digest = client
        .set_manifest(REPO, bytes.clone())
        .tag("docker")
        .media_type(DOCKER_MANIFEST)
        .await
        .unwrap();

    let got = client.get_manifest(REPO, "docker").await.unwrap();
    assert_eq!(
        (&got.digest, got.media_type.as_str()),
        (&digest, DOCKER_MANIFEST)
    );
    assert_eq!(got.bytes, bytes);
    let view = got.image_manifest().unwrap();
    assert_eq!(view.media_type.as_deref(), Some(DOCKER_MANIFEST));
    assert_eq!(view.layers[0].digest, Digest::sha256(b"docker layer"));
}

#[tokio::test]
async fn an_index_of_two_platforms_round_trips() {
    let registry = emulator().await;
    let client = client(registry.endpoint());
    let amd64 = image(&registry, OCI_IMAGE_MANIFEST, b"amd64 layer");
    let arm64 = image(&registry, OCI_IMAGE_MANIFEST, b"arm64 layer");
    let amd64_digest = client.set_manifest(REPO, amd64.clone()).await.unwrap();
    let arm64_digest = client.set_manifest(REPO, arm64.clone()).await.unwrap();
    let mut arm64_entry = descriptor(OCI_IMAGE_MANIFEST, arm64_digest.as_str(), arm64.len());
    arm64_entry["platform"] = json!({ "architecture": "arm64", "os": "linux", "variant": "v8" });
    let mut amd64_entry = descriptor(OCI_IMAGE_MANIFEST, amd64_digest.as_str(), amd64.len());
    amd64_entry["platform"] =
        json!({ "architecture": "amd64", "os": "windows", "os.version": "10.0.20348.1" });
    let index = ManifestBody::json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_INDEX,
        "manifests": [amd64_entry, arm64_entry],
    }))
    .unwrap();
    let digest = client
        .set_manifest(REPO, index.clone())
        .tag("multi")
        .media_type(OCI_IMAGE_INDEX)
        .await
        .unwrap();

    let got = client.get_manifest(REPO, "multi").await.unwrap();
    assert_eq!(got.digest, digest);
    assert_eq!(got.media_type, OCI_IMAGE_INDEX);
    assert_eq!(got.bytes, index.as_bytes());
    let view = got.image_index().unwrap();
    assert_eq!(view.manifests.len(), 2);
    let (first, second) = (&view.manifests[0], &view.manifests[1]);
    assert_eq!(
        (&first.digest, first.size),
        (&amd64_digest, amd64.len() as u64)
    );
    let platform = first.platform.as_ref().unwrap();
    assert_eq!(
        (
            platform.architecture.as_str(),
            platform.os.as_str(),
            platform.os_version.as_deref()
        ),
        ("amd64", "windows", Some("10.0.20348.1"))
    );
    let platform = second.platform.as_ref().unwrap();
    assert_eq!(
        (
            platform.architecture.as_str(),
            platform.variant.as_deref(),
            &second.digest
        ),
        ("arm64", Some("v8"), &arm64_digest)
    );
    assert!(matches!(got.image_manifest(), Err(Error::InvalidInput(_))));
}

#[tokio::test]
async fn json_bodies_are_serialised_once_and_hash_to_the_returned_digest() {
    let registry = emulator().await;
    let client = client(registry.endpoint());
    let config = registry.put_blob(REPO, b"{}".to_vec()).unwrap();
    let value = json!({
        "schemaVersion": 2,
        "config": descriptor("application/vnd.oci.empty.v1+json", &config, 2),
        "layers": [],
        "annotations": { "note": "non-ASCII: é, ü" },
    });
    let body = ManifestBody::json(&value).unwrap();
    assert_eq!(body.as_bytes(), serde_json::to_vec(&value).unwrap());

    let digest = client.set_manifest(REPO, body.clone()).await.unwrap();
    assert_eq!(digest, Digest::sha256(body.as_bytes()));
    let got = client.get_manifest(REPO, digest.as_str()).await.unwrap();
    assert_eq!(got.bytes, body.as_bytes());
    assert_eq!(
        got.image_manifest().unwrap().annotations.unwrap()["note"],
        "non-ASCII: é, ü"
    );
}

#[tokio::test]
async fn set_manifest_sends_exactly_the_given_bytes() {
    let server = MockServer::start_async().await;
    // Spacing and key order a serialiser would change.
    let bytes: &'static [u8] = b"{ \"schemaVersion\" : 2,\n  \"layers\": [], \"config\" : {} }\n";
    let digest = Digest::sha256(bytes);
    let put = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path("/v2/hello/manifests/v2")
                .header("content-type", DOCKER_MANIFEST)
                .body(std::str::from_utf8(bytes).unwrap());
            then.status(201)
                .header("Docker-Content-Digest", digest.as_str());
        })
        .await;
    let got = anonymous(&server.base_url())
        .set_manifest("hello", bytes)
        .tag("v2")
        .media_type(DOCKER_MANIFEST)
        .await
        .unwrap();
    assert_eq!(got, digest);
    put.assert_async().await;
}

#[tokio::test]
async fn set_manifest_without_a_tag_puts_by_digest_with_the_oci_media_type() {
    let server = MockServer::start_async().await;
    let bytes = b"{\"schemaVersion\":2}".to_vec();
    let digest = Digest::sha256(&bytes);
    let put = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(format!("/v2/hello/manifests/{digest}"))
                .header("content-type", OCI_IMAGE_MANIFEST);
            then.status(201);
        })
        .await;
    let got = anonymous(&server.base_url())
        .set_manifest("hello", bytes::Bytes::from(bytes))
        .await
        .unwrap();
    assert_eq!(got, digest);
    put.assert_async().await;
}

#[tokio::test]
async fn set_manifest_rejects_a_server_digest_of_other_bytes() {
    let server = MockServer::start_async().await;
    let wrong = Digest::sha256(b"something else");
    server
        .mock_async(|when, then| {
            when.method(PUT);
            then.status(201)
                .header("Docker-Content-Digest", wrong.as_str());
        })
        .await;
    let error = anonymous(&server.base_url())
        .set_manifest("hello", b"{}".as_slice())
        .tag("v1")
        .await
        .unwrap_err();
    match error {
        Error::DigestMismatch { expected, actual } => {
            assert_eq!(expected, wrong.as_str());
            assert_eq!(actual, Digest::sha256(b"{}").as_str());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn set_manifest_refuses_oversize_and_invalid_input_without_a_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|_, then| {
            then.status(201);
        })
        .await;
    let client = anonymous(&server.base_url());

    let error = client
        .set_manifest("hello", vec![b' '; LIMIT + 1])
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ManifestTooLarge { limit: MAX_MANIFEST_SIZE, declared: Some(d) } if d == LIMIT as u64 + 1),
        "{error:?}"
    );
    let error = client
        .set_manifest("hello", b"{}".as_slice())
        .tag("not a tag")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    let error = client
        .set_manifest("Hello", b"{}".as_slice())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert_eq!(any.calls_async().await, 0);

    // Exactly the limit goes out.
    client
        .set_manifest("hello", vec![b' '; LIMIT])
        .await
        .unwrap();
    assert_eq!(any.calls_async().await, 1);
}

#[tokio::test]
async fn get_manifest_asks_for_every_manifest_kind_and_strips_parameters() {
    let server = MockServer::start_async().await;
    let body = r#"{"schemaVersion":2,"manifests":[]}"#;
    let mock = server
        .mock_async(|when, then| {
            let mut when = when.method(GET).path("/v2/hello/manifests/latest");
            for media_type in [
                OCI_IMAGE_MANIFEST,
                OCI_IMAGE_INDEX,
                DOCKER_MANIFEST,
                acr::DOCKER_MANIFEST_LIST,
                "application/vnd.oci.artifact.manifest.v1+json",
            ] {
                when = when.header_includes("accept", media_type);
            }
            then.status(200)
                .header("Content-Type", format!("{OCI_IMAGE_INDEX}; charset=utf-8"))
                .body(body);
        })
        .await;
    let got = anonymous(&server.base_url())
        .get_manifest("hello", "latest")
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(got.media_type, OCI_IMAGE_INDEX);
    // No Docker-Content-Digest: the digest is the bytes' own.
    assert_eq!(got.digest, Digest::sha256(body.as_bytes()));
    assert!(got.image_index().unwrap().manifests.is_empty());
}

async fn serve_manifest(server: &MockServer, reference: &str, body: &str, header: Option<&str>) {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/hello/manifests/{reference}"));
            let then = then
                .status(200)
                .header("Content-Type", OCI_IMAGE_MANIFEST)
                .body(body);
            if let Some(digest) = header {
                then.header("Docker-Content-Digest", digest);
            }
        })
        .await;
}

#[tokio::test]
async fn a_body_that_is_not_the_requested_digest_is_refused() {
    let server = MockServer::start_async().await;
    let requested = Digest::sha256(b"the real manifest");
    serve_manifest(&server, requested.as_str(), "a forged manifest", None).await;
    let error = anonymous(&server.base_url())
        .get_manifest("hello", requested.as_str())
        .await
        .unwrap_err();
    match error {
        Error::DigestMismatch { expected, actual } => {
            assert_eq!(expected, requested.as_str());
            assert_eq!(actual, Digest::sha256(b"a forged manifest").as_str());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_registry_digest_header_must_match_the_body() {
    let server = MockServer::start_async().await;
    let body = "{\"schemaVersion\":2}";
    let wrong = Digest::sha256(b"other");
    serve_manifest(&server, "wrong", body, Some(wrong.as_str())).await;
    let error = anonymous(&server.base_url())
        .get_manifest("hello", "wrong")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::DigestMismatch { expected, .. } if expected == wrong.as_str()),
        "{error:?}"
    );

    // A digest reference is checked against the header too, not only the request.
    let requested = Digest::sha256(body.as_bytes());
    serve_manifest(&server, requested.as_str(), body, Some(wrong.as_str())).await;
    let error = anonymous(&server.base_url())
        .get_manifest("hello", requested.as_str())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error:?}");
}

#[tokio::test]
async fn the_registry_digest_header_is_checked_in_its_own_algorithm() {
    let server = MockServer::start_async().await;
    let body = "{\"schemaVersion\":2}";
    let actual_sha512 = {
        use sha2::Digest as _;
        let hash = sha2::Sha512::digest(body.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha512:{hex}")
    };
    serve_manifest(&server, "v1", body, Some(&actual_sha512)).await;
    let got = anonymous(&server.base_url())
        .get_manifest("hello", "v1")
        .await
        .unwrap();
    assert_eq!(got.digest.as_str(), actual_sha512);
}

/// A bare HTTP/1.1 server for one exchange that httpmock cannot produce: a chunked body,
/// or a `Content-Length` that does not match the body. Writes `head`, then `piece`
/// `repeats` times (chunk-encoded when `chunked`), then closes; reports whether the whole
/// body got out before the client hung up.
fn raw_server(
    head: String,
    piece: Vec<u8>,
    repeats: usize,
    chunked: bool,
) -> (String, mpsc::Receiver<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 2 {
            line.clear();
        }
        let mut send = || -> std::io::Result<()> {
            stream.write_all(head.as_bytes())?;
            for _ in 0..repeats {
                if chunked {
                    write!(stream, "{:x}\r\n", piece.len())?;
                }
                stream.write_all(&piece)?;
                if chunked {
                    stream.write_all(b"\r\n")?;
                }
            }
            if chunked {
                stream.write_all(b"0\r\n\r\n")?;
            }
            stream.flush()
        };
        let _ = done.send(send().is_ok());
    });
    (url, finished)
}

/// Waits for the raw server off the runtime's thread, which the client's connection
/// needs in order to hang up.
async fn outcome(finished: mpsc::Receiver<bool>) -> bool {
    tokio::task::spawn_blocking(move || finished.recv().unwrap())
        .await
        .unwrap()
}

fn head(headers: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {OCI_IMAGE_MANIFEST}\r\nConnection: close\r\n{headers}\r\n"
    )
}

const PIECE: usize = 64 * 1024;

#[tokio::test]
async fn an_oversize_chunked_body_is_cut_off_at_the_limit() {
    // 64 MiB: far more than loopback socket buffers hold, so the server can only write it
    // all if the client keeps reading.
    let (url, finished) = raw_server(
        head("Transfer-Encoding: chunked\r\n"),
        vec![b' '; PIECE],
        1024,
        true,
    );
    let client = anonymous(&url);
    let error = client.get_manifest("hello", "big").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::ManifestTooLarge {
                limit: MAX_MANIFEST_SIZE,
                declared: None
            }
        ),
        "{error:?}"
    );
    drop(client);
    assert!(
        !outcome(finished).await,
        "the client read the whole oversize body"
    );
}

#[tokio::test]
async fn a_chunked_body_of_exactly_the_limit_is_accepted() {
    let (url, finished) = raw_server(
        head("Transfer-Encoding: chunked\r\n"),
        vec![b' '; PIECE],
        LIMIT / PIECE,
        true,
    );
    // By digest: bytes named by a tag must also have a manifest's form, which these lack.
    let digest = Digest::sha256(&vec![b' '; LIMIT]);
    let got = anonymous(&url)
        .get_manifest("hello", &digest)
        .await
        .unwrap();
    assert_eq!(got.bytes.len(), LIMIT);
    assert_eq!(got.digest, digest);
    assert!(outcome(finished).await);
}

#[tokio::test]
async fn a_declared_oversize_fails_before_the_body_is_read() {
    // The body is cut short: reading it would be a transport error, not this one.
    let declared = LIMIT as u64 + 1;
    let (url, _finished) = raw_server(
        head(&format!("Content-Length: {declared}\r\n")),
        b"{}".to_vec(),
        1,
        false,
    );
    let error = anonymous(&url)
        .get_manifest("hello", "big")
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ManifestTooLarge { declared: Some(d), .. } if d == declared),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_content_length_that_understates_the_body_is_not_trusted() {
    let body = vec![b' '; LIMIT + PIECE];
    let digest = Digest::sha256(&body);
    let (url, _finished) = raw_server(
        head(&format!(
            "Content-Length: 100\r\nDocker-Content-Digest: {digest}\r\n"
        )),
        vec![b' '; PIECE],
        LIMIT / PIECE + 1,
        false,
    );
    let error = anonymous(&url)
        .get_manifest("hello", "liar")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::DigestMismatch { expected, .. } if *expected == digest.as_str()),
        "{error:?}"
    );
}

#[tokio::test]
async fn content_length_at_the_limit_passes_and_one_byte_more_fails() {
    let server = MockServer::start_async().await;
    let exact = " ".repeat(LIMIT);
    let over = " ".repeat(LIMIT + 1);
    let exact_digest = Digest::sha256(exact.as_bytes());
    server
        .mock_async(|when, then| {
            when.path(format!("/v2/hello/manifests/{exact_digest}"));
            then.status(200)
                .header("Content-Type", OCI_IMAGE_MANIFEST)
                .body(&exact);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/v2/hello/manifests/over");
            then.status(200)
                .header("Content-Type", OCI_IMAGE_MANIFEST)
                .body(&over);
        })
        .await;
    let client = anonymous(&server.base_url());
    assert_eq!(
        client
            .get_manifest("hello", &exact_digest)
            .await
            .unwrap()
            .bytes
            .len(),
        LIMIT
    );
    let error = client.get_manifest("hello", "over").await.unwrap_err();
    assert!(
        matches!(error, Error::ManifestTooLarge { declared: Some(d), .. } if d == LIMIT as u64 + 1),
        "{error:?}"
    );
}

#[tokio::test]
async fn referrers_from_the_emulator_with_and_without_a_filter() {
    let registry = emulator().await;
    let client = client(registry.endpoint());
    let subject_bytes = image(&registry, OCI_IMAGE_MANIFEST, b"subject layer");
    let subject = client
        .set_manifest(REPO, subject_bytes.clone())
        .tag("v1")
        .await
        .unwrap();
    let empty = registry.put_blob(REPO, b"{}".to_vec()).unwrap();
    let mut referrers = Vec::new();
    for (artifact_type, content) in [(SBOM, &b"sbom"[..]), (SIGNATURE, &b"signature"[..])] {
        let blob = registry.put_blob(REPO, content.to_vec()).unwrap();
        let body = ManifestBody::json(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor("application/vnd.oci.empty.v1+json", &empty, 2),
            "layers": [descriptor("application/octet-stream", &blob, content.len())],
            "subject": descriptor(OCI_IMAGE_MANIFEST, subject.as_str(), subject_bytes.len()),
        }))
        .unwrap();
        referrers.push((
            artifact_type,
            client.set_manifest(REPO, body).await.unwrap(),
        ));
    }

    let mut all: Vec<_> = client
        .list_referrers(REPO, &subject, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.artifact_type.unwrap(), d.digest))
        .collect();
    all.sort();
    let mut expected: Vec<_> = referrers
        .iter()
        .map(|(t, d)| (t.to_string(), d.clone()))
        .collect();
    expected.sort();
    assert_eq!(all, expected);

    let sboms = client
        .list_referrers(REPO, &subject, Some(SBOM))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(sboms.len(), 1);
    assert_eq!(sboms[0].digest, referrers[0].1);
    assert_eq!(sboms[0].media_type, OCI_IMAGE_MANIFEST);

    let artifact = client
        .get_manifest(REPO, referrers[0].1.as_str())
        .await
        .unwrap()
        .image_manifest()
        .unwrap();
    assert_eq!(artifact.artifact_type.as_deref(), Some(SBOM));
    assert_eq!(artifact.subject.unwrap().digest, subject);

    let unreferenced = referrers[1].1.clone();
    assert!(
        client
            .list_referrers(REPO, &unreferenced, None)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty()
    );
}

fn index_of(entries: &[(&str, &Digest)]) -> String {
    let manifests: Vec<_> = entries
        .iter()
        .map(|(artifact_type, digest)| {
            json!({ "mediaType": OCI_IMAGE_MANIFEST, "digest": digest.as_str(), "size": 10, "artifactType": artifact_type })
        })
        .collect();
    json!({ "schemaVersion": 2, "mediaType": OCI_IMAGE_INDEX, "manifests": manifests }).to_string()
}

#[tokio::test]
async fn referrer_pages_are_followed_and_filtered_when_the_registry_did_not() {
    let server = MockServer::start_async().await;
    let subject = Digest::sha256(b"subject");
    let (sbom1, sig, sbom2) = (
        Digest::sha256(b"1"),
        Digest::sha256(b"2"),
        Digest::sha256(b"3"),
    );
    let path = format!("/v2/hello/referrers/{subject}");
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(&path)
                .query_param("artifactType", SBOM)
                .query_param_missing("last");
            then.status(200)
                .header("Content-Type", OCI_IMAGE_INDEX)
                .header(
                    "Link",
                    format!("<{path}?artifactType={SBOM}&last=2>; rel=\"next\""),
                )
                .body(index_of(&[(SBOM, &sbom1), (SIGNATURE, &sig)]));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET).path(&path).query_param("last", "2");
            then.status(200)
                .header("Content-Type", OCI_IMAGE_INDEX)
                .body(index_of(&[(SBOM, &sbom2)]));
        })
        .await;
    let got: Vec<_> = anonymous(&server.base_url())
        .list_referrers("hello", &subject, Some(SBOM))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.digest)
        .collect();
    assert_eq!(got, [sbom1, sbom2]);
    first.assert_async().await;
    second.assert_async().await;
}

#[tokio::test]
async fn a_filter_the_registry_applied_is_trusted() {
    let server = MockServer::start_async().await;
    let subject = Digest::sha256(b"subject");
    let other = Digest::sha256(b"typed differently");
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/hello/referrers/{subject}"));
            then.status(200)
                .header("Content-Type", OCI_IMAGE_INDEX)
                .header("OCI-Filters-Applied", "artifactType")
                .body(index_of(&[(SIGNATURE, &other)]));
        })
        .await;
    let got = anonymous(&server.base_url())
        .list_referrers("hello", &subject, Some(SBOM))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
}

#[tokio::test]
async fn without_the_referrers_api_the_tag_schema_is_read() {
    let server = MockServer::start_async().await;
    let subject = Digest::sha256(b"subject");
    let (sbom, sig) = (Digest::sha256(b"1"), Digest::sha256(b"2"));
    let api = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/hello/referrers/{subject}"));
            then.status(404)
                .body(r#"{"errors":[{"code":"NOT_FOUND","message":"unknown route"}]}"#);
        })
        .await;
    let tag = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/hello/manifests/sha256-{}", subject.encoded()))
                .header_includes("accept", OCI_IMAGE_INDEX);
            then.status(200)
                .header("Content-Type", OCI_IMAGE_INDEX)
                .body(index_of(&[(SBOM, &sbom), (SIGNATURE, &sig)]));
        })
        .await;
    let client = anonymous(&server.base_url());
    let all: Vec<_> = client
        .list_referrers("hello", &subject, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.digest)
        .collect();
    assert_eq!(all, [sbom.clone(), sig]);
    let sboms: Vec<_> = client
        .list_referrers("hello", &subject, Some(SBOM))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.digest)
        .collect();
    assert_eq!(sboms, [sbom]);
    assert_eq!(api.calls_async().await, 2);
    assert_eq!(tag.calls_async().await, 2);
}

#[tokio::test]
async fn without_the_referrers_api_or_the_tag_there_are_no_referrers() {
    let server = MockServer::start_async().await;
    let subject = Digest::sha256(b"subject");
    let tag_path = format!("/v2/hello/manifests/sha256-{}", subject.encoded());
    let tag = server
        .mock_async(|when, then| {
            when.method(GET).path(&tag_path);
            then.status(404)
                .body(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#);
        })
        .await;
    let api = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/hello/referrers/{subject}"));
            then.status(404);
        })
        .await;
    let got = anonymous(&server.base_url())
        .list_referrers("hello", &subject, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(got.is_empty());
    api.assert_async().await;
    tag.assert_async().await;
}

#[tokio::test]
async fn other_referrers_failures_are_errors() {
    let server = MockServer::start_async().await;
    let subject = Digest::sha256(b"subject");
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(403)
                .body(r#"{"errors":[{"code":"DENIED","message":"no pull"}]}"#);
        })
        .await;
    let error = anonymous(&server.base_url())
        .list_referrers("hello", &subject, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
}
