//! The OCI distribution API: base, blobs, uploads, manifests, lists and referrers.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn base_challenges_without_token_and_answers_with_one() {
    let emu = start().await;
    let c = client();
    let resp = c
        .get(format!("{}/v2/", emu.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(&resp, "www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"http://{0}/oauth2/token\",service=\"{0}\"",
            emu.host()
        )
    );
    let token = token(&emu, &[]).await;
    let resp = c
        .get(format!("{}/v2/", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "docker-distribution-api-version").unwrap(),
        "registry/2.0"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn chunked_upload_then_download_whole_and_ranged() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "library/app").await;
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let digest = sha256(&data);

    let resp = c
        .post(format!(
            "{}/v2/library%2Fapp/blobs/uploads/",
            emu.endpoint()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(header(&resp, "range").unwrap(), "0-0");
    let uuid = header(&resp, "docker-upload-uuid").unwrap();
    let location = header(&resp, "location").unwrap();
    assert!(location.starts_with(&format!(
        "/v2/library/app/blobs/uploads/{uuid}?_nouploadcache=false&_state="
    )));

    // First chunk with Content-Range, second without (as the Python SDK sends them).
    let resp = c
        .patch(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .header("Content-Range", "0-399")
        .body(data[..400].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(header(&resp, "range").unwrap(), "0-399");
    let location = header(&resp, "location").unwrap();
    let resp = c
        .patch(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .body(data[400..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(header(&resp, "range").unwrap(), "0-999");
    let location = header(&resp, "location").unwrap();

    let resp = c
        .get(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "range").unwrap(), "0-999");

    let (path, query) = location.split_once('?').unwrap();
    let resp = c
        .put(format!(
            "{}{path}?digest={}&{query}",
            emu.endpoint(),
            digest.replace(':', "%3A")
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);
    assert_eq!(
        header(&resp, "location").unwrap(),
        format!("/v2/library/app/blobs/{digest}")
    );

    let blob_url = format!("{}/v2/library/app/blobs/{digest}", emu.endpoint());
    let resp = c.get(&blob_url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[..]);

    let resp = c
        .get(&blob_url)
        .bearer_auth(&token)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(header(&resp, "content-range").unwrap(), "bytes 10-19/1000");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[10..20]);

    // A range running past the end is clipped, as the SDKs' 4 MiB chunk requests need.
    let resp = c
        .get(&blob_url)
        .bearer_auth(&token)
        .header("Range", "bytes=996-4194303")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&resp, "content-range").unwrap(),
        "bytes 996-999/1000"
    );
    let resp = c
        .get(&blob_url)
        .bearer_auth(&token)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 416);

    let resp = c.head(&blob_url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-length").unwrap(), "1000");

    let resp = c
        .delete(&blob_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let resp = c.get(&blob_url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "BLOB_UNKNOWN");
    emu.shutdown().await;
}

async fn start_upload(emu: &acr_emulator::Emulator, token: &str, repo: &str) -> String {
    let resp = client()
        .post(format!("{}/v2/{repo}/blobs/uploads/", emu.endpoint()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    header(&resp, "location").unwrap()
}

#[tokio::test]
async fn wrong_digest_is_refused_and_replayed_chunks_are_rejected() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "r").await;
    let location = start_upload(&emu, &token, "r").await;
    let resp = c
        .patch(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // Sending the same chunk again with the old _state is what a naive retry does.
    let resp = c
        .patch(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "BLOB_UPLOAD_INVALID");

    let location = start_upload(&emu, &token, "r").await;
    let (path, query) = location.split_once('?').unwrap();
    let resp = c
        .put(format!(
            "{}{path}?digest={}&{query}",
            emu.endpoint(),
            sha256(b"other")
        ))
        .bearer_auth(&token)
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "DIGEST_INVALID");

    // A chunk that does not continue the upload is refused with 416.
    let location = start_upload(&emu, &token, "r").await;
    let resp = c
        .patch(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .header("Content-Range", "5-7")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 416);

    // Cancelled uploads are gone.
    let resp = c
        .delete(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = c
        .patch(format!("{}{location}", emu.endpoint()))
        .bearer_auth(&token)
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "BLOB_UPLOAD_UNKNOWN");
    emu.shutdown().await;
}

#[tokio::test]
async fn monolithic_upload_and_cross_repository_mount() {
    let emu = start().await;
    let c = client();
    let token = token(
        &emu,
        &["repository:src:pull,push", "repository:dst:pull,push"],
    )
    .await;
    let digest = sha256(b"hello");
    let resp = c
        .post(format!(
            "{}/v2/src/blobs/uploads/?digest={digest}",
            emu.endpoint()
        ))
        .bearer_auth(&token)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);

    let resp = c
        .post(format!(
            "{}/v2/src/blobs/uploads/?digest={}",
            emu.endpoint(),
            sha256(b"x")
        ))
        .bearer_auth(&token)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let resp = c
        .post(format!(
            "{}/v2/dst/blobs/uploads/?mount={digest}&from=src",
            emu.endpoint()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        header(&resp, "location").unwrap(),
        format!("/v2/dst/blobs/{digest}")
    );
    let resp = c
        .get(format!("{}/v2/dst/blobs/{digest}", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"hello");

    // Mounting a blob the source lacks starts an ordinary upload instead.
    let resp = c
        .post(format!(
            "{}/v2/dst/blobs/uploads/?mount={}&from=src",
            emu.endpoint(),
            sha256(b"missing")
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert!(header(&resp, "docker-upload-uuid").is_some());
    emu.shutdown().await;
}

#[tokio::test]
async fn manifests_by_tag_and_digest() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "a/b").await;
    let config = br#"{"architecture":"arm64","os":"linux"}"#;
    let config_digest = emu.put_blob("a/b", config.to_vec()).unwrap();
    let layer_digest = emu.put_blob("a/b", b"layer".to_vec()).unwrap();
    let manifest = image_manifest((&config_digest, config.len()), &[(&layer_digest, 5)]);
    let digest = sha256(&manifest);
    let url = |r: &str| format!("{}/v2/a/b/manifests/{r}", emu.endpoint());

    let resp = c
        .put(url("v1"))
        .bearer_auth(&token)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);
    assert_eq!(
        header(&resp, "location").unwrap(),
        format!("/v2/a/b/manifests/{digest}")
    );

    for reference in ["v1", digest.as_str()] {
        let resp = c
            .get(url(reference))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            header(&resp, "content-type").unwrap(),
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &manifest[..]);
    }
    let resp = c.head(url("v1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-length").unwrap(),
        manifest.len().to_string()
    );

    // References to blobs the repository lacks are refused.
    let bad = image_manifest((&sha256(b"nope"), 4), &[]);
    let resp = c
        .put(url("bad"))
        .bearer_auth(&token)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "MANIFEST_BLOB_UNKNOWN");

    // A digest reference must match the body.
    let resp = c
        .put(url(&sha256(b"something else")))
        .bearer_auth(&token)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "DIGEST_INVALID");

    // The 4 MiB limit: exactly 4 MiB would be accepted, one byte more is not.
    let mut huge = b"{\"schemaVersion\":2,\"pad\":\"".to_vec();
    huge.resize(4 * 1024 * 1024 - 1, b'x');
    huge.extend_from_slice(b"\"}");
    let resp = c
        .put(url("huge"))
        .bearer_auth(&token)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    let resp = c
        .delete(url(&digest))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    for reference in ["v1", digest.as_str()] {
        let resp = c
            .get(url(reference))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(error_code(resp).await, "MANIFEST_UNKNOWN");
    }
    let resp = c
        .get(format!("{}/v2/nothere/manifests/v1", emu.endpoint()))
        .bearer_auth(token_for(&emu, "nothere").await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "NAME_UNKNOWN");
    emu.shutdown().await;
}

async fn token_for(emu: &acr_emulator::Emulator, repo: &str) -> String {
    admin_token(emu, repo).await
}

fn link_next(resp: &reqwest::Response) -> Option<String> {
    header(resp, "link")
}

#[tokio::test]
async fn tag_list_and_catalog_pages_follow_links() {
    let emu = start().await;
    let c = client();
    for repo in ["r1", "r2", "r3"] {
        for tag in ["a", "b", "c"] {
            emu.put_manifest(
                repo,
                tag,
                "application/vnd.oci.image.manifest.v1+json",
                format!("{{\"t\":\"{tag}\"}}"),
            )
            .unwrap();
        }
    }
    let token = token(&emu, &["repository:r2:pull", "registry:catalog:*"]).await;
    let resp = c
        .get(format!("{}/v2/r2/tags/list?n=2", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        link_next(&resp).unwrap(),
        "</v2/r2/tags/list?last=b&n=2>; rel=\"next\""
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"name": "r2", "tags": ["a", "b"]}));
    let resp = c
        .get(format!("{}/v2/r2/tags/list?last=b&n=2", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(link_next(&resp).is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tags"], json!(["c"]));

    let resp = c
        .get(format!("{}/v2/_catalog?n=1&last=r1", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        link_next(&resp).unwrap(),
        "</v2/_catalog?last=r2&n=1>; rel=\"next\""
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"repositories": ["r2"]}));
    emu.shutdown().await;
}

#[tokio::test]
async fn referrers_list_manifests_with_a_subject_and_filter_by_artifact_type() {
    let emu = start().await;
    let c = client();
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let subject = emu
        .put_manifest("app", "v1", mt, r#"{"schemaVersion":2}"#)
        .unwrap();
    let referrer = |artifact_type: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": [],
            "subject": {"mediaType": mt, "digest": subject, "size": 19},
            "annotations": {"k": artifact_type},
        }))
        .unwrap()
    };
    let sig = emu
        .put_manifest(
            "app",
            &sha256(&referrer("application/sig")),
            mt,
            referrer("application/sig"),
        )
        .unwrap();
    let sbom = emu
        .put_manifest(
            "app",
            &sha256(&referrer("application/sbom")),
            mt,
            referrer("application/sbom"),
        )
        .unwrap();
    let token = token(&emu, &["repository:app:pull"]).await;

    let resp = c
        .get(format!("{}/v2/app/referrers/{subject}", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-type").unwrap(),
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(header(&resp, "oci-filters-applied").is_none());
    let body: Value = resp.json().await.unwrap();
    let mut digests: Vec<&str> = body["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    digests.sort();
    let mut expected = vec![sig.as_str(), sbom.as_str()];
    expected.sort();
    assert_eq!(digests, expected);

    let resp = c
        .get(format!(
            "{}/v2/app/referrers/{subject}?artifactType=application/sbom",
            emu.endpoint()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&resp, "oci-filters-applied").unwrap(),
        "artifactType"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(body["manifests"][0]["digest"], json!(sbom));
    assert_eq!(
        body["manifests"][0]["artifactType"],
        json!("application/sbom")
    );
    assert_eq!(
        body["manifests"][0]["annotations"],
        json!({"k": "application/sbom"})
    );
    emu.shutdown().await;
}

async fn error_message(resp: reqwest::Response) -> (String, String) {
    let body: Value = resp.json().await.expect("error body is JSON");
    let error = &body["errors"][0];
    (
        error["code"].as_str().unwrap_or_default().to_string(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// The spec: "When pushing a blob with a digest algorithm other than `sha256`, the post
/// request SHOULD include the `digest-algorithm` parameter", and "if the client provided
/// digest is invalid or uses an unsupported algorithm, the registry SHOULD respond with a
/// response code `400 Bad Request`". The image spec registers sha512 beside sha256.
#[tokio::test]
async fn sha512_blobs_and_manifests_round_trip() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "r").await;
    let url = |path: &str| format!("{}{path}", emu.endpoint());
    let layer = b"a layer named by sha512".to_vec();
    let layer_digest = sha512(&layer);

    // Chunked: POST with digest-algorithm, PATCH, then PUT with the sha512 digest.
    let resp = c
        .post(url("/v2/r/blobs/uploads/?digest-algorithm=sha512"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = header(&resp, "location").unwrap();
    let resp = c
        .patch(url(&location))
        .bearer_auth(&token)
        .header("Content-Range", format!("0-{}", layer.len() - 1))
        .body(layer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = header(&resp, "location").unwrap();
    let resp = c
        .put(url(&format!("{location}&digest={layer_digest}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        header(&resp, "docker-content-digest").unwrap(),
        layer_digest
    );
    assert_eq!(
        header(&resp, "location").unwrap(),
        format!("/v2/r/blobs/{layer_digest}")
    );
    let resp = c
        .get(url(&format!("/v2/r/blobs/{layer_digest}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "docker-content-digest").unwrap(),
        layer_digest
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &layer[..]);

    // Monolithic, in the POST itself.
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let config_digest = sha512(&config);
    let resp = c
        .post(url(&format!("/v2/r/blobs/uploads/?digest={config_digest}")))
        .bearer_auth(&token)
        .body(config.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = c
        .head(url(&format!("/v2/r/blobs/{config_digest}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-length").unwrap(),
        config.len().to_string()
    );

    // A manifest over both, pushed by its own sha512 digest.
    let manifest = image_manifest(
        (&config_digest, config.len()),
        &[(&layer_digest, layer.len())],
    );
    let manifest_digest = sha512(&manifest);
    let resp = c
        .put(url(&format!("/v2/r/manifests/{manifest_digest}")))
        .bearer_auth(&token)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        header(&resp, "docker-content-digest").unwrap(),
        manifest_digest
    );
    let resp = c
        .get(url(&format!("/v2/r/manifests/{manifest_digest}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "docker-content-digest").unwrap(),
        manifest_digest
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &manifest[..]);

    // A sha512 digest of other content is still a mismatch.
    let resp = c
        .put(url(&format!("/v2/r/manifests/{}", sha512(b"other"))))
        .bearer_auth(&token)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "DIGEST_INVALID");
    emu.shutdown().await;
}

#[tokio::test]
async fn unsupported_digest_algorithms_are_refused_as_such() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "r").await;
    let url = |path: &str| format!("{}{path}", emu.endpoint());
    let sha384 = format!("sha384:{}", "0".repeat(96));

    let resp = c
        .post(url("/v2/r/blobs/uploads/?digest-algorithm=blake2b"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (code, message) = error_message(resp).await;
    assert_eq!(code, "DIGEST_INVALID");
    assert!(
        message.contains("unsupported digest algorithm"),
        "{message}"
    );

    let resp = c
        .post(url(&format!("/v2/r/blobs/uploads/?digest={sha384}")))
        .bearer_auth(&token)
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (_, message) = error_message(resp).await;
    assert!(message.contains("\"sha384\""), "{message}");

    // Closing a session with such a digest leaves the session open for a usable one.
    let location = start_upload(&emu, &token, "r").await;
    let resp = c
        .put(url(&format!("{location}&digest={sha384}")))
        .bearer_auth(&token)
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (_, message) = error_message(resp).await;
    assert!(
        message.contains("unsupported digest algorithm"),
        "{message}"
    );
    let resp = c
        .put(url(&format!("{location}&digest={}", sha256(b"data"))))
        .bearer_auth(&token)
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let resp = c
        .put(url(&format!("/v2/r/manifests/{sha384}")))
        .bearer_auth(&token)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(r#"{"schemaVersion":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (code, message) = error_message(resp).await;
    assert_eq!(code, "DIGEST_INVALID");
    assert!(
        message.contains("unsupported digest algorithm"),
        "{message}"
    );
    emu.shutdown().await;
}

/// The spec: "`<tag-or-digest>` as a tag MUST be at most 128 characters in length and MUST
/// match the following regular expression: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`", and "The
/// `<tag-or-digest>` MUST NOT be in any other format."
#[tokio::test]
async fn references_that_are_neither_tag_nor_digest_are_refused() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "r").await;
    let manifest =
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
    let put = |reference: String| {
        c.put(format!("{}/v2/r/manifests/{reference}", emu.endpoint()))
            .bearer_auth(&token)
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest)
            .send()
    };

    // A colon makes a digest, so these are judged as digests.
    let resp = put("sha256:baddigeststring".into()).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "DIGEST_INVALID");
    let resp = put("bad:tag".into()).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "DIGEST_INVALID");
    // Tags outside the grammar: a leading separator, too long, a character it lacks.
    for bad in [
        ".v1".to_string(),
        "-v1".into(),
        "a".repeat(129),
        "v1%2Bx".into(),
    ] {
        let resp = put(bad.clone()).await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        assert_eq!(error_code(resp).await, "MANIFEST_INVALID", "{bad}");
    }
    // The grammar's edges are accepted.
    for good in ["_v1.0-rc".to_string(), "a".repeat(128)] {
        let resp = put(good.clone()).await.unwrap();
        assert_eq!(resp.status(), 201, "{good}");
    }

    let resp = c
        .get(format!("{}/v2/r/tags/list", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tags"], json!(["_v1.0-rc", "a".repeat(128)]));
    let resp = c
        .get(format!(
            "{}/v2/r/manifests/sha256:baddigeststring",
            emu.endpoint()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    emu.shutdown().await;
}

/// The image spec: non-distributable layers "are typically downloaded directly from a
/// distributor but never uploaded", and "Implementations SHOULD NOT upload layers tagged
/// with this media type"; Docker's foreign layers are the same idea. The distribution spec
/// lets a registry refuse a manifest over missing blobs ("MAY reject"), so it need not
/// refuse one over blobs that are never uploaded.
#[tokio::test]
async fn non_distributable_and_foreign_layers_need_no_blob() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "win").await;
    let config = br#"{"architecture":"amd64","os":"windows"}"#;
    let config_digest = emu.put_blob("win", config.to_vec()).unwrap();
    let layer_digest = emu.put_blob("win", b"app layer".to_vec()).unwrap();
    let absent = sha256(b"a base layer only its distributor serves");
    let descriptor = |media_type: &str, digest: &str, size: usize| json!({"mediaType": media_type, "digest": digest, "size": size});
    let manifest = |media_type: &str, config_type: &str, base_type: &str| {
        let mut base = descriptor(base_type, &absent, 1024);
        base["urls"] = json!(["https://distributor.example/base.tar.gz"]);
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(config_type, &config_digest, config.len()),
            "layers": [base, descriptor("application/vnd.oci.image.layer.v1.tar", &layer_digest, 9)],
        }))
        .unwrap()
    };
    let cases = [
        (
            "oci",
            manifest(
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            ),
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            "docker",
            manifest(
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            ),
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        (
            "missing",
            manifest(
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            "application/vnd.oci.image.manifest.v1+json",
        ),
    ];
    for (tag, body, content_type) in cases {
        let resp = c
            .put(format!("{}/v2/win/manifests/{tag}", emu.endpoint()))
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        if tag == "missing" {
            // An ordinary layer is still required to be in the repository.
            assert_eq!(resp.status(), 400);
            assert_eq!(error_code(resp).await, "MANIFEST_BLOB_UNKNOWN");
        } else {
            assert_eq!(resp.status(), 201, "{tag}");
        }
    }
    let resp = c
        .get(format!("{}/v2/win/tags/list", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tags"], json!(["docker", "oci"]));
    emu.shutdown().await;
}

/// The spec on listing referrers: "If the registry supports the referrers API, the registry
/// MUST NOT return a `404 Not Found` to a referrers API requests", "If a query results in no
/// matching referrers, an empty manifest list MUST be returned", and "If the request is
/// invalid, such as a `<digest>` with an invalid syntax, a `400 Bad Request` MUST be
/// returned".
#[tokio::test]
async fn referrers_of_a_repository_that_does_not_exist_are_an_empty_index() {
    let emu = start().await;
    let c = client();
    // "blobs-only" holds a blob but no manifest, so it is not a repository clients can see.
    emu.put_blob("blobs-only", b"x".to_vec()).unwrap();
    let subject = sha256(b"a manifest nobody pushed");
    for repo in ["nothere", "blobs-only"] {
        let resp = c
            .get(format!("{}/v2/{repo}/referrers/{subject}", emu.endpoint()))
            .bearer_auth(admin_token(&emu, repo).await)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{repo}");
        assert_eq!(
            header(&resp, "content-type").unwrap(),
            "application/vnd.oci.image.index.v1+json"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [],
            })
        );
    }
    let resp = c
        .get(format!(
            "{}/v2/nothere/referrers/sha256:not-hex",
            emu.endpoint()
        ))
        .bearer_auth(admin_token(&emu, "nothere").await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "DIGEST_INVALID");
    emu.shutdown().await;
}

/// The spec: "If the final chunk is uploaded out of order, the registry MUST respond with a
/// `416 Requested Range Not Satisfiable` code", and "To get the current status after a 416
/// error, issue a `GET` request to a URL `<blob-push-location>`", which "MUST be a `204 No
/// Content`" for an active upload: the session outlives the refusal.
#[tokio::test]
async fn out_of_order_final_chunk_is_416_and_keeps_the_session() {
    let emu = start().await;
    let c = client();
    let token = admin_token(&emu, "r").await;
    let url = |location: &str| format!("{}{location}", emu.endpoint());
    let digest = sha256(b"abcdef");
    let location = start_upload(&emu, &token, "r").await;
    let resp = c
        .patch(url(&location))
        .bearer_auth(&token)
        .header("Content-Range", "0-2")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = header(&resp, "location").unwrap();

    let resp = c
        .put(url(&format!("{location}&digest={digest}")))
        .bearer_auth(&token)
        .header("Content-Range", "4-6")
        .body("def")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 416);
    assert_eq!(header(&resp, "range").unwrap(), "0-2");
    let resume = header(&resp, "location").unwrap();

    let resp = c
        .get(url(&resume))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "range").unwrap(), "0-2");

    let resp = c
        .put(url(&format!("{resume}&digest={digest}")))
        .bearer_auth(&token)
        .header("Content-Range", "3-5")
        .body("def")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = c
        .get(url(&format!("/v2/r/blobs/{digest}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"abcdef");
    emu.shutdown().await;
}
