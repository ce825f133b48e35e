//! Fault injection: one test per kind of fault, seen through a plain client.

mod common;

use std::time::Duration;

use acr_emulator::{Emulator, Faults};
use common::*;

/// An emulator with `faults`, a blob in `repo` and a token that reads it. The token is
/// fetched before faults could matter: token endpoints are exempt by default.
async fn with_faults(faults: Faults) -> (Emulator, String, Vec<u8>, String) {
    let emu = Emulator::builder()
        .user(USER, PASSWORD)
        .faults(faults)
        .start()
        .await
        .unwrap();
    let data: Vec<u8> = (0..64u8).collect();
    let digest = emu.put_blob("repo", data.clone()).unwrap();
    let token = token(&emu, &["repository:repo:pull"]).await;
    (emu, digest, data, token)
}

async fn get_blob(emu: &Emulator, digest: &str, token: &str) -> reqwest::Result<reqwest::Response> {
    client()
        .get(format!("{}/v2/repo/blobs/{digest}", emu.endpoint()))
        .bearer_auth(token)
        .send()
        .await
}

#[tokio::test]
async fn error_rate_answers_503_but_token_endpoints_stay_up() {
    let (emu, digest, _, token) = with_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let resp = get_blob(&emu, &digest, &token).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(error_code(resp).await, "UNAVAILABLE");
    emu.shutdown().await;

    // Opting token endpoints in makes them fail as well.
    let emu = Emulator::builder()
        .user(USER, PASSWORD)
        .faults(Faults {
            error_rate: 1.0,
            include_token_endpoints: true,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let resp = client()
        .get(format!(
            "{}/oauth2/token?service={}&scope=registry:catalog:*",
            emu.endpoint(),
            emu.host()
        ))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    emu.shutdown().await;
}

#[tokio::test]
async fn throttle_rate_answers_429_with_retry_after() {
    let (emu, digest, _, token) = with_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let resp = get_blob(&emu, &digest, &token).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after").unwrap(), "1");
    emu.shutdown().await;
}

#[tokio::test]
async fn reset_mid_body_breaks_the_download() {
    let (emu, digest, _, token) = with_faults(Faults {
        reset_mid_body_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let resp = get_blob(&emu, &digest, &token).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-length").unwrap(), "64");
    assert!(
        resp.bytes().await.is_err(),
        "the body must fail to complete"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn truncate_body_sends_a_consistent_but_short_body() {
    let (emu, digest, data, token) = with_faults(Faults {
        truncate_body_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let resp = get_blob(&emu, &digest, &token).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-length").unwrap(), "32");
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.as_ref(), &data[..32]);
    assert_ne!(sha256(&body), digest);
    emu.shutdown().await;
}

#[tokio::test]
async fn flip_byte_corrupts_exactly_one_byte_of_blob_downloads() {
    let (emu, digest, data, token) = with_faults(Faults {
        flip_byte_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let body = get_blob(&emu, &digest, &token)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), data.len());
    let differing = body.iter().zip(&data).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 1);
    // Manifests and metadata are left alone: only blob content is flipped.
    emu.put_manifest(
        "repo",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        "{\"a\":1}",
    )
    .unwrap();
    let manifest = client()
        .get(format!("{}/v2/repo/manifests/v1", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(manifest.as_ref(), b"{\"a\":1}");
    emu.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn delay_holds_each_response_back() {
    // Tokio's paused clock makes the delay observable without waiting for it.
    let (emu, digest, _, token) = with_faults(Faults {
        delay: Some(Duration::from_secs(30)),
        ..Faults::default()
    })
    .await;
    let before = tokio::time::Instant::now();
    let resp = get_blob(&emu, &digest, &token).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(tokio::time::Instant::now() - before >= Duration::from_secs(30));
    emu.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_fails_the_same_requests() {
    let faults = Faults {
        seed: 42,
        error_rate: 0.5,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (emu, digest, _, token) = with_faults(faults.clone()).await;
        let mut statuses = Vec::new();
        for _ in 0..32 {
            statuses.push(
                get_blob(&emu, &digest, &token)
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        emu.shutdown().await;
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&503) && runs[0].contains(&200),
        "{:?}",
        runs[0]
    );
}
