//! Listings of a large repository, followed page by page through their `Link` headers.

mod common;

use acr_emulator::Emulator;
use common::*;
use serde_json::Value;

const TAGS: usize = 100_000;
const PAGE: usize = 1_000;

/// Follows `Link: <...>; rel="next"` from `first`, returning every page's body.
async fn walk(emu: &Emulator, token: &str, first: &str) -> Vec<Value> {
    let c = client();
    let mut pages = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next {
        let resp = c
            .get(format!("{}{path}", emu.endpoint()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        next = header(&resp, "link").map(|link| {
            let (target, rel) = link.split_once(">;").expect("link shape");
            assert_eq!(rel.trim(), "rel=\"next\"");
            target.trim_start_matches('<').to_string()
        });
        pages.push(resp.json().await.unwrap());
        assert!(pages.len() <= TAGS / PAGE, "more pages than tags allow");
    }
    pages
}

#[tokio::test]
async fn a_hundred_thousand_tags_list_once_each_and_in_order() {
    let emu = start().await;
    // Created in an order unlike their names (7919 is prime to TAGS, so every name
    // comes up once), so name and time orders differ on every page.
    let created: Vec<String> = (0..TAGS)
        .map(|i| format!("v{:06}", i * 7919 % TAGS))
        .collect();
    for tag in &created {
        emu.put_manifest(
            "big",
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            r#"{"schemaVersion":2}"#,
        )
        .unwrap();
    }
    let mut by_name = created.clone();
    by_name.sort();
    let token = admin_token(&emu, "big").await;

    let pages = walk(&emu, &token, &format!("/v2/big/tags/list?n={PAGE}")).await;
    let listed: Vec<&str> = pages
        .iter()
        .flat_map(|p| p["tags"].as_array().unwrap())
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(pages.len(), TAGS / PAGE);
    assert_eq!(listed, by_name);

    let pages = walk(
        &emu,
        &token,
        &format!("/acr/v1/big/_tags?orderby=timeasc&n={PAGE}"),
    )
    .await;
    let listed: Vec<&str> = pages
        .iter()
        .flat_map(|p| p["tags"].as_array().unwrap())
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(pages.len(), TAGS / PAGE);
    assert_eq!(listed, created);
    emu.shutdown().await;
}
