//! Blob uploads and downloads: against the project's test registry for round trips and
//! faults, against httpmock for wire details.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use acr::{
    BlobData, ContainerRegistryClient, Credential, Digest, Error, MountOutcome, RetryOptions,
};
use acr_emulator::{Emulator, Faults};
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use httpmock::Method::{GET, HEAD, PATCH, POST, PUT};
use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};

const REPO: &str = "library/blobs";
const CHUNK: usize = 1024;

/// Deterministic, non-repeating content.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

async fn emulator(faults: Faults) -> Emulator {
    Emulator::builder()
        .user("admin", "s3cret")
        .faults(faults)
        .start()
        .await
        .unwrap()
}

fn client_for(endpoint: &str) -> ContainerRegistryClient {
    ContainerRegistryClient::builder(endpoint)
        .credential(Credential::basic("admin", "s3cret"))
        .allow_http(true)
        .retry(RetryOptions::default().initial_delay(std::time::Duration::from_millis(1)))
        .build()
        .unwrap()
}

async fn download(
    client: &ContainerRegistryClient,
    digest: &Digest,
    concurrency: usize,
) -> acr::Result<Vec<u8>> {
    let stream = client
        .download_blob(REPO, digest)
        .chunk_size(CHUNK)
        .concurrency(concurrency)
        .await?;
    let pieces: Vec<Bytes> = stream.try_collect().await?;
    Ok(pieces.concat())
}

#[tokio::test]
async fn round_trips_at_every_size_around_the_chunk() {
    let registry = emulator(Faults::default()).await;
    let client = client_for(registry.endpoint());
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 3] {
        let data = content(size);
        let uploaded = client
            .upload_blob(REPO, data.clone())
            .chunk_size(CHUNK)
            .await
            .unwrap();
        assert_eq!(uploaded.digest, Digest::sha256(&data), "{size}");
        assert_eq!(uploaded.size, size as u64);
        assert_eq!(
            client.blob_exists(REPO, &uploaded.digest).await.unwrap(),
            Some(size as u64)
        );
        for concurrency in [1, 3] {
            assert_eq!(
                download(&client, &uploaded.digest, concurrency)
                    .await
                    .unwrap(),
                data,
                "{size} × {concurrency}"
            );
        }
        let stream = client
            .download_blob(REPO, &uploaded.digest)
            .chunk_size(CHUNK)
            .await
            .unwrap();
        assert_eq!(stream.size(), Some(size as u64));
    }
}

#[tokio::test]
async fn readers_and_streams_of_unknown_length_upload_too() {
    let registry = emulator(Faults::default()).await;
    let client = client_for(registry.endpoint());
    let data = content(3 * CHUNK + 17);

    let from_reader = client
        .upload_blob(REPO, BlobData::reader(std::io::Cursor::new(data.clone())))
        .chunk_size(CHUNK)
        .await
        .unwrap();
    // Pieces that straddle chunk boundaries.
    let pieces: Vec<std::io::Result<Bytes>> = data
        .chunks(700)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let from_stream = client
        .upload_blob(REPO, BlobData::stream(futures_util::stream::iter(pieces)))
        .chunk_size(CHUNK)
        .await
        .unwrap();
    let path = std::env::temp_dir().join(format!("acr-upload-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let from_file = client
        .upload_blob(REPO, BlobData::file(&path))
        .chunk_size(CHUNK)
        .await
        .unwrap();
    std::fs::remove_file(&path).unwrap();

    let expected = Digest::sha256(&data);
    for result in [from_reader, from_stream, from_file] {
        assert_eq!(
            (result.digest, result.size),
            (expected.clone(), data.len() as u64)
        );
    }
    assert_eq!(download(&client, &expected, 1).await.unwrap(), data);
}

#[tokio::test]
async fn a_small_blob_costs_two_requests_once_the_scope_is_known() {
    let registry = emulator(Faults::default()).await;
    let client = client_for(registry.endpoint());
    client.upload_blob(REPO, b"first".to_vec()).await.unwrap();
    let before = registry.requests().len();
    client.upload_blob(REPO, b"second".to_vec()).await.unwrap();
    let requests = registry.requests();
    let methods: Vec<_> = requests[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.status))
        .collect();
    assert_eq!(methods, ["POST 202", "PUT 201"]);
}

#[tokio::test]
async fn progress_is_reported_up_to_the_size() {
    let registry = emulator(Faults::default()).await;
    let client = client_for(registry.endpoint());
    let data = content(4 * CHUNK + 1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let uploaded = client
        .upload_blob(REPO, data.clone())
        .chunk_size(CHUNK)
        .progress(move |done, total| log.lock().unwrap().push((done, total)))
        .await
        .unwrap();
    let total = Some(data.len() as u64);
    assert_eq!(
        *seen.lock().unwrap(),
        [1, 2, 3, 4]
            .map(|i| (i * CHUNK as u64, total))
            .into_iter()
            .chain([(data.len() as u64, total)])
            .collect::<Vec<_>>()
    );

    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let stream = client
        .download_blob(REPO, &uploaded.digest)
        .chunk_size(CHUNK)
        .progress(move |done, _| counter.store(done as usize, Ordering::SeqCst))
        .await
        .unwrap();
    stream.write_to(&mut tokio::io::sink()).await.unwrap();
    assert_eq!(received.load(Ordering::SeqCst), data.len());
}

#[tokio::test]
async fn a_flipped_byte_is_a_digest_mismatch_and_leaves_no_file() {
    let faults = Faults {
        seed: 7,
        flip_byte_rate: 1.0,
        ..Faults::default()
    };
    let registry = emulator(faults).await;
    let data = content(3 * CHUNK);
    let digest: Digest = registry
        .put_blob(REPO, data.clone())
        .unwrap()
        .parse()
        .unwrap();
    let client = client_for(registry.endpoint());

    let error = download(&client, &digest, 1).await.unwrap_err();
    let Error::DigestMismatch { expected, actual } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (expected.as_str(), actual == expected),
        (digest.as_str(), false)
    );

    let dir = std::env::temp_dir().join(format!("acr-download-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("layer.bin");
    let stream = client
        .download_blob(REPO, &digest)
        .chunk_size(CHUNK)
        .await
        .unwrap();
    let error = stream.to_file(&target).await.unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error:?}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir(&dir).unwrap();
}

/// One damaged answer, then sound ones: the file gets the verified content after one
/// more fetch, where the stream alone reports the damage it saw.
#[tokio::test]
async fn a_file_download_fetches_once_more_after_a_flipped_byte() {
    let server = MockServer::start_async().await;
    let data = content(3 * CHUNK);
    let digest = Digest::sha256(&data);
    let mut damaged = data.clone();
    damaged[CHUNK] ^= 0x01;
    let answers = Arc::new(AtomicUsize::new(0));
    let (sound, counted) = (data.clone(), answers.clone());
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/library/blobs/blobs/{digest}"));
            then.respond_with(move |_req: &HttpMockRequest| {
                let body = if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    damaged.clone()
                } else {
                    sound.clone()
                };
                HttpMockResponse::builder().status(200).body(body).build()
            });
        })
        .await;
    let dir = std::env::temp_dir().join(format!("acr-refetch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("layer.bin");
    let size = mock_client(&server)
        .download_blob(REPO, &digest)
        .await
        .unwrap()
        .to_file(&target)
        .await
        .unwrap();
    assert_eq!(size, data.len() as u64);
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert_eq!(answers.load(Ordering::SeqCst), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_verified_download_lands_in_its_file() {
    let registry = emulator(Faults::default()).await;
    let data = content(2 * CHUNK + 5);
    let digest: Digest = registry
        .put_blob(REPO, data.clone())
        .unwrap()
        .parse()
        .unwrap();
    let client = client_for(registry.endpoint());
    let dir = std::env::temp_dir().join(format!("acr-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("layer.bin");
    let size = client
        .download_blob(REPO, &digest)
        .chunk_size(CHUNK)
        .await
        .unwrap()
        .to_file(&target)
        .await
        .unwrap();
    assert_eq!(size, data.len() as u64);
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn dropped_and_truncated_bodies_are_resumed_where_they_stopped() {
    for faults in [
        Faults {
            seed: 3,
            reset_mid_body_rate: 0.4,
            ..Faults::default()
        },
        Faults {
            seed: 5,
            truncate_body_rate: 0.4,
            ..Faults::default()
        },
    ] {
        let registry = emulator(faults.clone()).await;
        let data = content(8 * CHUNK + 100);
        let digest: Digest = registry
            .put_blob(REPO, data.clone())
            .unwrap()
            .parse()
            .unwrap();
        let client = client_for(registry.endpoint());
        assert_eq!(
            download(&client, &digest, 1).await.unwrap(),
            data,
            "{faults:?}"
        );
        let statuses = registry
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count();
        assert!(
            statuses > 9,
            "the faults should have forced resumed ranges: {statuses} GETs"
        );
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_during_transfers() {
    let faults = Faults {
        seed: 11,
        error_rate: 0.2,
        throttle_rate: 0.0,
        ..Faults::default()
    };
    let registry = emulator(faults).await;
    let client = client_for(registry.endpoint());
    let data = content(6 * CHUNK + 1);
    let uploaded = client
        .upload_blob(REPO, data.clone())
        .chunk_size(CHUNK)
        .await
        .unwrap();
    assert_eq!(uploaded.digest, Digest::sha256(&data));
    assert_eq!(download(&client, &uploaded.digest, 2).await.unwrap(), data);
    assert!(registry.requests().iter().any(|r| r.status == 503));
}

#[tokio::test]
async fn deleting_blobs_is_idempotent() {
    let registry = emulator(Faults::default()).await;
    let client = client_for(registry.endpoint());
    let uploaded = client
        .upload_blob(REPO, b"gone soon".to_vec())
        .await
        .unwrap();
    client.delete_blob(REPO, &uploaded.digest).await.unwrap();
    assert_eq!(
        client.blob_exists(REPO, &uploaded.digest).await.unwrap(),
        None
    );
    client.delete_blob(REPO, &uploaded.digest).await.unwrap();
    let error = download(&client, &uploaded.digest, 1).await.unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

/// The token asked for covers the target repository only (the scope of the challenge),
/// so a registry that checks pull rights on the source declines the mount: the blob is
/// then copied. Either way the target holds the verified blob.
#[tokio::test]
async fn mounting_makes_a_blob_of_another_repository_available() {
    let registry = emulator(Faults::default()).await;
    let client = client_for(registry.endpoint());
    let data = content(3000);
    let uploaded = client
        .upload_blob("source/repo", data.clone())
        .await
        .unwrap();
    let outcome = client
        .mount_blob(REPO, "source/repo", &uploaded.digest)
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            MountOutcome::Mounted | MountOutcome::Copied { size: 3000 }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        client.blob_exists(REPO, &uploaded.digest).await.unwrap(),
        Some(3000)
    );
    assert_eq!(download(&client, &uploaded.digest, 1).await.unwrap(), data);
}

#[tokio::test]
async fn an_accepted_mount_copies_nothing() {
    let server = MockServer::start_async().await;
    let digest = Digest::sha256(b"shared layer");
    let mount = server
        .mock_async(|when, then| {
            when.method(POST)
                .query_param("mount", digest.as_str())
                .query_param("from", "source/repo");
            then.status(201)
                .header("location", format!("/v2/library/blobs/blobs/{digest}"));
        })
        .await;
    let anything_else = server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(500);
        })
        .await;
    let outcome = mock_client(&server)
        .mount_blob(REPO, "source/repo", &digest)
        .await
        .unwrap();
    assert_eq!(outcome, MountOutcome::Mounted);
    assert_eq!(
        (mount.calls_async().await, anything_else.calls_async().await),
        (1, 0)
    );
}

// Wire details, against httpmock.

fn mock_client(server: &MockServer) -> ContainerRegistryClient {
    ContainerRegistryClient::builder(server.base_url())
        .allow_http(true)
        .retry(RetryOptions::default().initial_delay(std::time::Duration::from_millis(1)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn chunks_carry_content_range_and_the_digest_joins_the_sessions_query() {
    let server = MockServer::start_async().await;
    // Text, so that the mock can match the PUT's body.
    let data: Vec<u8> = (0..2 * CHUNK + 10).map(|i| b'a' + (i % 26) as u8).collect();
    let digest = Digest::sha256(&data);
    // An absolute Location for the first answer, relative ones after.
    let first = server.url("/v2/library/blobs/blobs/uploads/s1?_state=one");
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/library/blobs/blobs/uploads/");
            then.status(202).header("location", first.as_str());
        })
        .await;
    let patch1 = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path("/v2/library/blobs/blobs/uploads/s1")
                .query_param("_state", "one")
                .header("content-range", format!("0-{}", CHUNK - 1))
                .header("content-type", "application/octet-stream");
            then.status(202)
                .header("location", "/v2/library/blobs/blobs/uploads/s1?_state=two");
        })
        .await;
    let patch2 = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path("/v2/library/blobs/blobs/uploads/s1")
                .query_param("_state", "two")
                .header("content-range", format!("{CHUNK}-{}", 2 * CHUNK - 1));
            then.status(202).header("location", "s1?_state=three");
        })
        .await;
    let tail = data[2 * CHUNK..].to_vec();
    let put = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path("/v2/library/blobs/blobs/uploads/s1")
                .query_param("_state", "three")
                .query_param("digest", digest.as_str())
                .body(String::from_utf8_lossy(&tail));
            then.status(201)
                .header("docker-content-digest", digest.as_str());
        })
        .await;

    let uploaded = mock_client(&server)
        .upload_blob(REPO, data.clone())
        .chunk_size(CHUNK)
        .await
        .unwrap();

    assert_eq!(uploaded.digest, digest);
    for mock in [&patch1, &patch2, &put] {
        assert_eq!(mock.calls_async().await, 1);
    }
}

#[tokio::test]
async fn a_location_on_another_host_is_refused() {
    let server = MockServer::start_async().await;
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|_when, then| {
            then.status(202);
        })
        .await;
    let target = elsewhere.url("/v2/x/blobs/uploads/s?_state=secret");
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(202).header("location", target.as_str());
        })
        .await;
    let error = mock_client(&server)
        .upload_blob(REPO, b"data".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Protocol(message) if message.contains("not to the registry")),
        "{error:?}"
    );
    assert_eq!(stolen.calls_async().await, 0);
}

/// A session whose first PATCH fails with a retryable error, and which is gone when
/// asked where it stands (`GET` answers 404).
async fn failing_once(
    server: &MockServer,
) -> (httpmock::Mock<'_>, httpmock::Mock<'_>, httpmock::Mock<'_>) {
    let post = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(202).header("location", "/v2/up/s?_state=x");
        })
        .await;
    let failures = Arc::new(AtomicUsize::new(0));
    server
        .mock_async(|when, then| {
            when.method(PATCH);
            then.respond_with(move |_req: &HttpMockRequest| {
                let status = if failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    500
                } else {
                    202
                };
                HttpMockResponse::builder()
                    .status(status)
                    .header("location", "/v2/up/s?_state=y")
                    .build()
            });
        })
        .await;
    let status = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/up/s");
            then.status(404)
                .json_body(serde_json::json!({"errors": [{"code": "BLOB_UPLOAD_UNKNOWN"}]}));
        })
        .await;
    let put = server
        .mock_async(|when, then| {
            when.method(PUT).path("/v2/up/s");
            then.status(201);
        })
        .await;
    (post, status, put)
}

#[tokio::test]
async fn a_lost_session_starts_replayable_content_over() {
    let server = MockServer::start_async().await;
    let (post, status, put) = failing_once(&server).await;
    let data = content(2 * CHUNK);
    let uploaded = mock_client(&server)
        .upload_blob(REPO, data.clone())
        .chunk_size(CHUNK)
        .await
        .unwrap();
    assert_eq!(uploaded.digest, Digest::sha256(&data));
    assert_eq!(
        (
            post.calls_async().await,
            status.calls_async().await,
            put.calls_async().await
        ),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn content_read_once_is_not_uploaded_twice() {
    let server = MockServer::start_async().await;
    let (post, status, put) = failing_once(&server).await;
    let reader = BlobData::reader(std::io::Cursor::new(content(2 * CHUNK)));
    let error = mock_client(&server)
        .upload_blob(REPO, reader)
        .chunk_size(CHUNK)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Service { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(
        (
            post.calls_async().await,
            status.calls_async().await,
            put.calls_async().await
        ),
        (1, 1, 0)
    );
}

/// A chunk refused with `429 Retry-After: 1` after the registry kept half of it: the
/// client waits as asked, asks the session where it stands, and sends only the rest,
/// from a reader that cannot be read twice.
#[tokio::test]
async fn a_throttled_chunk_resumes_where_the_session_stands_after_the_wait_asked() {
    let server = MockServer::start_async().await;
    // Text, so that the mock can match the resumed PATCH's body.
    let data: Vec<u8> = (0..3 * CHUNK).map(|i| b'a' + (i % 26) as u8).collect();
    let half = CHUNK / 2;
    let post = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(202).header("location", "/v2/up/s?_state=0");
        })
        .await;
    let throttled = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .query_param("_state", "0")
                .header("content-range", format!("0-{}", CHUNK - 1));
            then.status(429).header("retry-after", "1");
        })
        .await;
    let status = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/up/s").query_param("_state", "0");
            then.status(204)
                .header("location", "/v2/up/s?_state=half")
                .header("range", format!("0-{}", half - 1));
        })
        .await;
    let rest = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .query_param("_state", "half")
                .header("content-range", format!("{half}-{}", CHUNK - 1))
                .body(String::from_utf8_lossy(&data[half..CHUNK]));
            then.status(202).header("location", "/v2/up/s?_state=1");
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .query_param("_state", "1")
                .header("content-range", format!("{CHUNK}-{}", 2 * CHUNK - 1));
            then.status(202).header("location", "/v2/up/s?_state=2");
        })
        .await;
    let put = server
        .mock_async(|when, then| {
            when.method(PUT)
                .query_param("_state", "2")
                .query_param("digest", Digest::sha256(&data).as_str());
            then.status(201);
        })
        .await;
    let started = std::time::Instant::now();
    let uploaded = mock_client(&server)
        .upload_blob(REPO, BlobData::reader(std::io::Cursor::new(data.clone())))
        .chunk_size(CHUNK)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "the registry asked for a second"
    );
    assert_eq!(uploaded.digest, Digest::sha256(&data));
    for (mock, calls) in [
        (&post, 1),
        (&throttled, 1),
        (&status, 1),
        (&rest, 1),
        (&second, 1),
        (&put, 1),
    ] {
        assert_eq!(mock.calls_async().await, calls);
    }
}

#[tokio::test]
async fn the_registrys_digest_must_match_the_contents() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(202).header("location", "/v2/up/s");
        })
        .await;
    let wrong = Digest::sha256(b"something else");
    server
        .mock_async(|when, then| {
            when.method(PUT);
            then.status(201)
                .header("docker-content-digest", wrong.as_str());
        })
        .await;
    let error = mock_client(&server)
        .upload_blob(REPO, b"data".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::DigestMismatch { actual, .. } if actual == wrong.as_str()),
        "{error:?}"
    );
}

#[tokio::test]
async fn whole_body_answers_and_empty_blobs_download() {
    let server = MockServer::start_async().await;
    let data = content(3 * CHUNK);
    let digest = Digest::sha256(&data);
    let path = format!("/v2/library/blobs/blobs/{digest}");
    // A registry that ignores Range.
    server
        .mock_async(|when, then| {
            when.method(GET).path(path.as_str());
            then.status(200).body(&data);
        })
        .await;
    assert_eq!(
        download(&mock_client(&server), &digest, 1).await.unwrap(),
        data
    );

    let empty = Digest::sha256(b"");
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/library/blobs/blobs/{empty}"));
            then.status(416).header("content-range", "bytes */0");
        })
        .await;
    let stream = mock_client(&server)
        .download_blob(REPO, &empty)
        .await
        .unwrap();
    assert_eq!(stream.size(), Some(0));
    let pieces: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert!(pieces.concat().is_empty());
}

#[tokio::test]
async fn a_redirected_download_goes_to_storage_without_the_token() {
    let registry = MockServer::start_async().await;
    let storage = MockServer::start_async().await;
    let data = content(CHUNK / 2);
    let digest = Digest::sha256(&data);
    registry
        .mock_async(|when, then| {
            when.method(GET).header_missing("authorization");
            then.status(401).header(
                "www-authenticate",
                r#"Bearer realm="x",service="reg",scope="repository:library/blobs:pull""#,
            );
        })
        .await;
    registry
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200)
                .json_body(serde_json::json!({"access_token": "t"}));
        })
        .await;
    let signed = storage.url("/blob?sig=signed");
    registry
        .mock_async(|when, then| {
            when.method(GET).header("authorization", "Bearer t");
            then.status(307).header("location", signed.as_str());
        })
        .await;
    let leaked = storage
        .mock_async(|when, then| {
            when.header_exists("authorization");
            then.status(400);
        })
        .await;
    let served = storage
        .mock_async(|when, then| {
            when.method(GET)
                .path("/blob")
                .header("range", format!("bytes=0-{}", CHUNK - 1));
            then.status(206)
                .header(
                    "content-range",
                    format!("bytes 0-{}/{}", data.len() - 1, data.len()),
                )
                .body(&data);
        })
        .await;
    let client = ContainerRegistryClient::builder(registry.base_url())
        .allow_http(true)
        .build()
        .unwrap();
    let got: Vec<Bytes> = client
        .download_blob(REPO, &digest)
        .chunk_size(CHUNK)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got.concat(), data);
    assert_eq!(
        (served.calls_async().await, leaked.calls_async().await),
        (1, 0)
    );
}

#[tokio::test]
async fn a_refused_mount_copies_the_blob_and_verifies_it() {
    let server = MockServer::start_async().await;
    let data = content(CHUNK + 3);
    let digest = Digest::sha256(&data);
    server
        .mock_async(|when, then| {
            when.method(POST)
                .query_param("mount", digest.as_str())
                .query_param("from", "source/repo");
            then.status(202)
                .header("location", "/v2/library/blobs/blobs/uploads/m");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/source/repo/blobs/{digest}"));
            then.status(200).body(&data);
        })
        .await;
    let put = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path("/v2/library/blobs/blobs/uploads/m")
                .query_param("digest", digest.as_str());
            then.status(201)
                .header("docker-content-digest", digest.as_str());
        })
        .await;
    let outcome = mock_client(&server)
        .mount_blob(REPO, "source/repo", &digest)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        MountOutcome::Copied {
            size: data.len() as u64
        }
    );
    assert_eq!(put.calls_async().await, 1);

    let exists = server
        .mock_async(|when, then| {
            when.method(HEAD)
                .path(format!("/v2/library/blobs/blobs/{digest}"));
            then.status(200).header("content-length", "7");
        })
        .await;
    assert_eq!(
        mock_client(&server)
            .blob_exists(REPO, &digest)
            .await
            .unwrap(),
        Some(7)
    );
    assert_eq!(exists.calls_async().await, 1);
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|_when, then| {
            then.status(500);
        })
        .await;
    let client = mock_client(&server);
    let digest = Digest::sha256(b"x");
    assert!(matches!(
        client.upload_blob("Bad Name", b"x".to_vec()).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        client.download_blob("a//b", &digest).await,
        Err(Error::InvalidInput(_))
    ));
    let unknown: Digest = "md5:abcdef".parse().unwrap();
    assert!(matches!(
        client.download_blob(REPO, &unknown).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(any.calls_async().await, 0);
}

#[tokio::test]
async fn throttled_and_slow_registries_are_waited_for() {
    let faults = Faults {
        seed: 13,
        throttle_rate: 0.15,
        delay: Some(std::time::Duration::from_millis(20)),
        ..Faults::default()
    };
    let registry = emulator(faults).await;
    let client = client_for(registry.endpoint());
    let data = content(4 * CHUNK + 9);
    let uploaded = client
        .upload_blob(REPO, data.clone())
        .chunk_size(CHUNK)
        .await
        .unwrap();
    assert_eq!(download(&client, &uploaded.digest, 1).await.unwrap(), data);
    assert!(
        registry.requests().iter().any(|r| r.status == 429),
        "the seed should throttle some requests"
    );
}

/// Blobs from 4 MiB on are hashed on a thread of their own while the bytes arrive.
#[tokio::test]
async fn large_blobs_are_verified_too() {
    let data = content(6 * 1024 * 1024 + 5);
    let digest = Digest::sha256(&data);
    let registry = emulator(Faults::default()).await;
    registry.put_blob(REPO, data.clone()).unwrap();
    let client = client_for(registry.endpoint());
    for concurrency in [1, 3] {
        let pieces: Vec<Bytes> = client
            .download_blob(REPO, &digest)
            .chunk_size(1024 * 1024)
            .concurrency(concurrency)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(pieces.concat() == data);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("large.bin");
    let size = client
        .download_blob(REPO, &digest)
        .await
        .unwrap()
        .to_file(&file)
        .await
        .unwrap();
    assert_eq!(size, data.len() as u64);
    assert!(std::fs::read(&file).unwrap() == data);

    let corrupt = emulator(Faults {
        seed: 1,
        flip_byte_rate: 1.0,
        ..Faults::default()
    })
    .await;
    corrupt.put_blob(REPO, data.clone()).unwrap();
    let client = client_for(corrupt.endpoint());
    let outcome: acr::Result<Vec<Bytes>> = client
        .download_blob(REPO, &digest)
        .await
        .unwrap()
        .try_collect()
        .await;
    assert!(
        matches!(outcome, Err(Error::DigestMismatch { .. })),
        "{outcome:?}"
    );
    // Damaged on every fetch: no file, and nothing left beside it.
    let damaged = dir.path().join("damaged.bin");
    let error = client
        .download_blob(REPO, &digest)
        .await
        .unwrap()
        .to_file(&damaged)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(left, ["large.bin"]);
}
