//! ACR's metadata API (`/acr/v1/...`), changeable attributes and storage.

mod common;

use acr_emulator::{Emulator, Storage};
use common::*;
use serde_json::{Value, json};

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

async fn get(emu: &Emulator, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", emu.endpoint()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn patch(emu: &Emulator, token: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .patch(format!("{}{path}", emu.endpoint()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(emu: &Emulator, token: &str, path: &str) -> reqwest::Response {
    client()
        .delete(format!("{}{path}", emu.endpoint()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

#[tokio::test]
async fn repository_tag_and_manifest_properties_have_acr_shapes() {
    let emu = start().await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let cfg = emu.put_blob("lib/app", config.to_vec()).unwrap();
    let image = image_manifest((&cfg, config.len()), &[]);
    let child = emu
        .put_manifest("lib/app", &sha256(&image), OCI, image)
        .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI, "digest": child, "size": 10, "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    let index_digest = emu
        .put_manifest(
            "lib/app",
            "latest",
            "application/vnd.oci.image.index.v1+json",
            index,
        )
        .unwrap();
    let token = admin_token(&emu, "lib/app").await;

    let repo: Value = get(&emu, &token, "/acr/v1/lib%2Fapp")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys(&repo),
        [
            "changeableAttributes",
            "createdTime",
            "imageName",
            "lastUpdateTime",
            "manifestCount",
            "registry",
            "tagCount"
        ]
    );
    assert_eq!(repo["registry"], json!(emu.host()));
    assert_eq!(
        (repo["manifestCount"].as_u64(), repo["tagCount"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        repo["changeableAttributes"],
        json!({"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true})
    );
    // ACR's timestamp format: seven fractional digits.
    let created = repo["createdTime"].as_str().unwrap();
    assert_eq!(
        created.len(),
        "2022-07-08T21:52:31.1999242Z".len(),
        "{created}"
    );

    let tag: Value = get(&emu, &token, "/acr/v1/lib%2Fapp/_tags/latest")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&tag), ["imageName", "registry", "tag"]);
    assert_eq!(
        keys(&tag["tag"]),
        [
            "changeableAttributes",
            "createdTime",
            "digest",
            "lastUpdateTime",
            "name",
            "signed"
        ]
    );
    assert_eq!(tag["tag"]["digest"], json!(index_digest));

    let m: Value = get(
        &emu,
        &token,
        &format!("/acr/v1/lib%2Fapp/_manifests/{index_digest}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(m["manifest"]["tags"], json!(["latest"]));
    assert_eq!(
        m["manifest"]["references"],
        json!([{"digest": child, "architecture": "amd64", "os": "linux"}])
    );
    let m: Value = get(
        &emu,
        &token,
        &format!("/acr/v1/lib%2Fapp/_manifests/{child}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (
            m["manifest"]["architecture"].as_str(),
            m["manifest"]["os"].as_str()
        ),
        (Some("amd64"), Some("linux"))
    );
    assert!(
        m["manifest"].get("tags").is_none(),
        "untagged manifests have no tags key"
    );

    let list: Value = get(&emu, &token, "/acr/v1/lib%2Fapp/_manifests")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["manifests"].as_array().unwrap().len(), 2);
    assert!(
        list["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("references").is_none())
    );

    let resp = get(&emu, &token, "/acr/v1/lib%2Fapp/_tags/nope").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "TAG_UNKNOWN");
    let resp = get(&emu, &admin_token(&emu, "nope").await, "/acr/v1/nope").await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["detail"], json!({"name": "nope"}));
    // Upper-case names match no route on ACR, before any authentication.
    let resp = client()
        .get(format!(
            "{}/acr/v1/Nonexistent/_tags/Nonexistent",
            emu.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), "404 page not found\n");
    emu.shutdown().await;
}

#[tokio::test]
async fn tag_lists_order_page_and_link_like_acr() {
    let emu = start().await;
    // Created in this order, so creation time and name order differ.
    for tag in ["b", "c", "a", "d"] {
        emu.put_manifest("lib/x", tag, OCI, format!("{{\"t\":\"{tag}\"}}"))
            .unwrap();
    }
    let token = admin_token(&emu, "lib/x").await;
    let names = |v: &Value| -> Vec<String> {
        v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };

    let all: Value = get(&emu, &token, "/acr/v1/lib%2Fx/_tags")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&all), ["a", "b", "c", "d"]);
    let asc: Value = get(&emu, &token, "/acr/v1/lib%2Fx/_tags?orderby=timeasc")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&asc), ["b", "c", "a", "d"]);

    let resp = get(&emu, &token, "/acr/v1/lib%2Fx/_tags?orderby=timedesc&n=2").await;
    assert_eq!(
        header(&resp, "link").unwrap(),
        "</acr/v1/lib%2Fx/_tags?last=a&n=2&orderby=timedesc>; rel=\"next\""
    );
    assert_eq!(names(&resp.json().await.unwrap()), ["d", "a"]);
    let resp = get(
        &emu,
        &token,
        "/acr/v1/lib%2Fx/_tags?last=a&n=2&orderby=timedesc",
    )
    .await;
    assert!(header(&resp, "link").is_none());
    assert_eq!(names(&resp.json().await.unwrap()), ["c", "b"]);

    let digest_of_c = all["tags"][2]["digest"].as_str().unwrap().to_string();
    let only_c: Value = get(
        &emu,
        &token,
        &format!("/acr/v1/lib%2Fx/_tags?digest={digest_of_c}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(names(&only_c), ["c"]);

    let resp = get(&emu, &token, "/acr/v1/lib%2Fx/_manifests?n=3").await;
    let link = header(&resp, "link").unwrap();
    assert!(
        link.starts_with("</acr/v1/lib%2Fx/_manifests?last=sha256%3A")
            && link.ends_with("&n=3&orderby=>; rel=\"next\""),
        "{link}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn catalog_link_has_acr_shape() {
    let emu = start().await;
    for repo in ["library/alpine", "library/busybox", "library/hello-world"] {
        emu.put_manifest(repo, "latest", OCI, "{}").unwrap();
    }
    // Blobs alone do not make a repository visible.
    emu.put_blob("blobs-only", b"x".to_vec()).unwrap();
    let token = token(&emu, &["registry:catalog:*"]).await;
    let resp = get(&emu, &token, "/acr/v1/_catalog?n=2").await;
    assert_eq!(
        header(&resp, "link").unwrap(),
        "</acr/v1/_catalog?last=library%2Fbusybox&n=2&orderby=>; rel=\"next\""
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"repositories": ["library/alpine", "library/busybox"]})
    );
    let resp = get(
        &emu,
        &token,
        "/acr/v1/_catalog?last=library%2Fbusybox&n=2&orderby=",
    )
    .await;
    assert!(header(&resp, "link").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"repositories": ["library/hello-world"]}));
    emu.shutdown().await;
}

#[tokio::test]
async fn changeable_attributes_are_enforced() {
    let emu = start().await;
    let first = emu.put_manifest("locked", "v1", OCI, r#"{"n":1}"#).unwrap();
    let token = admin_token(&emu, "locked").await;

    let resp = patch(
        &emu,
        &token,
        "/acr/v1/locked/_tags/v1",
        json!({"writeEnabled": false}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["tag"]["changeableAttributes"]["writeEnabled"],
        json!(false)
    );

    // Overwriting the locked tag is refused; so is deleting it (ACR refuses deletes
    // whenever writes are disabled).
    let resp = client()
        .put(format!("{}/v2/locked/manifests/v1", emu.endpoint()))
        .bearer_auth(&token)
        .header("Content-Type", OCI)
        .body(r#"{"n":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(error_code(resp).await, "REGISTRY_DISALLOWED_OPERATION");
    assert_eq!(
        delete(&emu, &token, "/acr/v1/locked/_tags/v1")
            .await
            .status(),
        405
    );

    let resp = patch(
        &emu,
        &token,
        &format!("/acr/v1/locked/_manifests/{first}"),
        json!({"deleteEnabled": false}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = delete(&emu, &token, &format!("/v2/locked/manifests/{first}")).await;
    assert_eq!(resp.status(), 405);

    let resp = patch(
        &emu,
        &token,
        "/acr/v1/locked/_tags/v1",
        json!({"readEnabled": false, "writeEnabled": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        get(&emu, &token, "/v2/locked/manifests/v1").await.status(),
        405
    );

    let resp = patch(
        &emu,
        &token,
        "/acr/v1/locked/_tags/v1",
        json!({"listEnabled": false}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let tags: Value = get(&emu, &token, "/acr/v1/locked/_tags")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!([]));

    let resp = patch(
        &emu,
        &token,
        "/acr/v1/locked",
        json!({"deleteEnabled": false}),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["changeableAttributes"]["deleteEnabled"], json!(false));
    assert_eq!(delete(&emu, &token, "/acr/v1/locked").await.status(), 405);

    let resp = patch(
        &emu,
        &token,
        "/acr/v1/locked",
        json!({"deleteEnabled": "yes"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn deleting_a_repository_reports_what_went() {
    let emu = start().await;
    let d1 = emu.put_manifest("gone", "a", OCI, r#"{"n":1}"#).unwrap();
    emu.put_manifest("gone", "b", OCI, r#"{"n":1}"#).unwrap();
    let token = admin_token(&emu, "gone").await;
    let resp = delete(&emu, &token, "/acr/v1/gone").await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"manifestsDeleted": [d1], "tagsDeleted": ["a", "b"]})
    );
    let resp = delete(&emu, &token, "/acr/v1/gone").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "NAME_UNKNOWN");
    let resp = delete(&emu, &token, "/acr/v1/gone/_tags/a").await;
    assert_eq!(resp.status(), 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn directory_storage_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("acr-emulator-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let emu = Emulator::builder()
        .user(USER, PASSWORD)
        .storage(Storage::Directory(dir.clone()))
        .start()
        .await
        .unwrap();
    let blob = emu.put_blob("keep", b"persisted".to_vec()).unwrap();
    let manifest = emu
        .put_manifest("keep", "v1", OCI, r#"{"keep":true}"#)
        .unwrap();
    emu.shutdown().await;

    let emu = Emulator::builder()
        .user(USER, PASSWORD)
        .storage(Storage::Directory(dir.clone()))
        .start()
        .await
        .unwrap();
    let token = admin_token(&emu, "keep").await;
    let resp = get(&emu, &token, &format!("/v2/keep/blobs/{blob}")).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"persisted");
    let resp = get(&emu, &token, "/v2/keep/manifests/v1").await;
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), manifest);
    emu.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn request_log_records_method_path_and_status() {
    let emu = start().await;
    let _ = client()
        .get(format!("{}/v2/a%2Fb/tags/list?n=1", emu.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        emu.requests(),
        vec![acr_emulator::RequestRecord {
            method: "GET".into(),
            path_and_query: "/v2/a%2Fb/tags/list?n=1".into(),
            status: 401,
        }]
    );
    emu.shutdown().await;
}
