//! The client against the project's test registry, an independent implementation of ACR's
//! token service and metadata API.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use acr::{
    AccessToken, ArtifactTagOrder, ContainerRegistryClient, Credential, Error, PropertiesUpdate,
    Secret,
};
use acr_emulator::Emulator;
use futures_util::TryStreamExt as _;

#[derive(Debug)]
struct Aad(&'static str);

#[async_trait::async_trait]
impl acr::TokenCredential for Aad {
    async fn get_token(&self, _scopes: &[&str]) -> acr::Result<AccessToken> {
        Ok(AccessToken {
            token: Secret::new(self.0),
            expires_on: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

async fn seeded(builder: acr_emulator::EmulatorBuilder) -> Emulator {
    let registry = builder.start().await.unwrap();
    let config = registry
        .put_blob("library/hello-world", &b"{}"[..])
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":2}},"layers":[]}}"#
    );
    registry
        .put_manifest(
            "library/hello-world",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            manifest.into_bytes(),
        )
        .unwrap();
    registry
}

fn client(registry: &Emulator, credential: Credential) -> ContainerRegistryClient {
    ContainerRegistryClient::builder(registry.endpoint())
        .credential(credential)
        .allow_http(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn aad_costs_three_requests_once_then_one_per_operation() {
    let registry = seeded(Emulator::builder().aad_check(|token| token == "good-aad-token")).await;
    let client = client(&registry, Credential::from(Arc::new(Aad("good-aad-token"))));

    for _ in 0..5 {
        assert_eq!(
            client
                .get_tag_properties("library/hello-world", "v1")
                .await
                .unwrap()
                .name,
            "v1"
        );
    }

    let requests = registry.requests();
    let paths: Vec<_> = requests
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path_and_query, r.status))
        .collect();
    assert_eq!(requests.len(), 5 + 3, "{paths:#?}");
    assert_eq!(requests[0].status, 401);
    assert!(
        requests[1].path_and_query.starts_with("/oauth2/exchange"),
        "{paths:#?}"
    );
    assert!(
        requests[2].path_and_query.starts_with("/oauth2/token"),
        "{paths:#?}"
    );
    assert!(requests[3..].iter().all(|r| r.status == 200), "{paths:#?}");
}

#[tokio::test]
async fn a_rejected_aad_token_is_an_authentication_error() {
    let registry = seeded(Emulator::builder().aad_check(|token| token == "good-aad-token")).await;
    let client = client(&registry, Credential::from(Arc::new(Aad("stolen-token"))));
    let error = client
        .get_tag_properties("library/hello-world", "v1")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
}

#[tokio::test]
async fn anonymous_pull_reads_but_cannot_write() {
    let registry = seeded(Emulator::builder().anonymous_pull(true)).await;
    let anonymous = client(&registry, Credential::anonymous());
    let tags: Vec<_> = anonymous
        .list_tag_properties("library/hello-world", ArtifactTagOrder::Unordered)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tags.len(), 1);
    let error = anonymous
        .update_tag_properties(
            "library/hello-world",
            "v1",
            &PropertiesUpdate::default().can_write(false),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");

    let closed = seeded(Emulator::builder()).await;
    let error = client(&closed, Credential::anonymous())
        .get_repository_properties("library/hello-world")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
}

#[tokio::test]
async fn username_and_password_and_a_wrong_password() {
    let registry = seeded(Emulator::builder().user("admin", "s3cret")).await;
    let good = client(&registry, Credential::basic("admin", "s3cret"));
    let repository = good
        .get_repository_properties("library/hello-world")
        .await
        .unwrap();
    assert_eq!(
        (repository.name.as_str(), repository.tag_count),
        ("library/hello-world", 1)
    );
    good.delete_repository("library/hello-world").await.unwrap();
    let error = good
        .get_repository_properties("library/hello-world")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    good.delete_repository("library/hello-world").await.unwrap();

    let bad = client(&registry, Credential::basic("admin", "guess"));
    let error = bad
        .list_repository_names()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
}

/// Twenty reads of five kinds on one repository: the first pays the challenge and the
/// token, and every other goes out with the token cached for their shared scope
/// (`repository:…:metadata_read`), known in advance for each operation: 20 + 2 requests.
#[tokio::test]
async fn mixed_metadata_reads_share_one_token_by_scope() {
    let registry = seeded(Emulator::builder().aad_check(|token| token == "good-aad-token")).await;
    let warm = client(&registry, Credential::from(Arc::new(Aad("good-aad-token"))));
    let repository = "library/hello-world";
    let digest = warm
        .get_tag_properties(repository, "v1")
        .await
        .unwrap()
        .digest;
    let before = registry.requests().len();
    for _ in 0..4 {
        warm.get_repository_properties(repository).await.unwrap();
        let tags: Vec<_> = warm
            .list_tag_properties(repository, ArtifactTagOrder::Unordered)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(tags.len(), 1);
        warm.get_tag_properties(repository, "v1").await.unwrap();
        let manifests: Vec<_> = warm
            .list_manifest_properties(repository, acr::ArtifactManifestOrder::Unordered)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(manifests.len(), 1);
        warm.get_manifest_properties(repository, &digest)
            .await
            .unwrap();
    }
    // The warm-up above already paid for the token: these twenty cost one request each.
    assert_eq!(registry.requests().len() - before, 20);

    // A fresh client pays once, then shares the token across the five kinds.
    let fresh = client(&registry, Credential::from(Arc::new(Aad("good-aad-token"))));
    let start = registry.requests().len();
    for _ in 0..4 {
        fresh.get_repository_properties(repository).await.unwrap();
        let _: Vec<_> = fresh
            .list_tag_properties(repository, ArtifactTagOrder::Unordered)
            .try_collect()
            .await
            .unwrap();
        fresh.get_tag_properties(repository, "v1").await.unwrap();
        let _: Vec<_> = fresh
            .list_manifest_properties(repository, acr::ArtifactManifestOrder::Unordered)
            .try_collect()
            .await
            .unwrap();
        fresh
            .get_manifest_properties(repository, &digest)
            .await
            .unwrap();
    }
    let spent = registry.requests().len() - start;
    assert!(spent <= 23, "20 reads cost {spent} requests");
}
