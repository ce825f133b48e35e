//! Registry operations: repositories, tags and manifests, their metadata and permissions.

use serde::Deserialize;
use url::Url;

use crate::names::validate_repository;
use crate::pager::{Listing, ParsePage};
use crate::reference::{Reference, validate_tag};
use crate::{
    ArtifactManifestOrder, ArtifactManifestProperties, ArtifactTagOrder, ArtifactTagProperties,
    ContainerRegistryClient, Digest, Error, Pager, PropertiesUpdate, RepositoryProperties, Result,
};

/// Page bodies. Every field may be absent or `null`: a repository whose tags were all
/// deleted answers without its array.
#[derive(Deserialize)]
struct CatalogPage {
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TagPage {
    tags: Option<Vec<acr_rest::types::TagAttributesBase>>,
}

#[derive(Deserialize)]
struct ManifestPage {
    manifests: Option<Vec<acr_rest::types::ManifestAttributesBase>>,
}

fn page_json<P: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<P> {
    serde_json::from_slice(body).map_err(|e| {
        Error::Transport(format!("a page of the listing could not be read: {e}").into())
    })
}

fn parse_catalog(body: &[u8], _: &Listing) -> Result<Vec<String>> {
    Ok(page_json::<CatalogPage>(body)?
        .repositories
        .unwrap_or_default())
}

fn parse_tags(body: &[u8], listing: &Listing) -> Result<Vec<ArtifactTagProperties>> {
    let repository = listing.repository.as_deref().unwrap_or_default();
    let tags = page_json::<TagPage>(body)?.tags.unwrap_or_default();
    Ok(tags
        .into_iter()
        .map(|tag| ArtifactTagProperties::from_wire(repository, tag))
        .collect())
}

fn parse_manifests(body: &[u8], listing: &Listing) -> Result<Vec<ArtifactManifestProperties>> {
    let repository = listing.repository.as_deref().unwrap_or_default();
    let registry = registry_host(&listing.pipeline.endpoint);
    let manifests = page_json::<ManifestPage>(body)?
        .manifests
        .unwrap_or_default();
    Ok(manifests
        .into_iter()
        .map(|manifest| ArtifactManifestProperties::from_wire(&registry, repository, manifest))
        .collect())
}

/// `host[:port]`, as image references name a registry.
fn registry_host(endpoint: &Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    match endpoint.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Treats "not found" as done: deleting what does not exist succeeds.
fn idempotent<T>(outcome: Result<T>) -> Result<()> {
    match outcome {
        Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

impl ContainerRegistryClient {
    fn listing(
        &self,
        operation: &'static str,
        repository: Option<&str>,
        segments: &[&str],
        order: Option<&str>,
    ) -> Listing {
        let mut first = self.pipeline.url(segments);
        if let Some(order) = order {
            first.query_pairs_mut().append_pair("orderby", order);
        }
        Listing {
            pipeline: self.pipeline.clone(),
            operation,
            repository: repository.map(str::to_owned),
            first,
        }
    }

    fn pager<T: Send + 'static>(
        &self,
        listing: Listing,
        parse: ParsePage<T>,
        repository: &str,
    ) -> Pager<T> {
        match validate_repository(repository) {
            Ok(()) => Pager::new(listing, parse),
            Err(error) => Pager::invalid(listing, parse, error),
        }
    }

    /// The names of the registry's repositories, in the registry's order.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt as _;
    /// # async fn demo(client: acr::ContainerRegistryClient) -> acr::Result<()> {
    /// let names: Vec<String> = client.list_repository_names().try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list_repository_names(&self) -> Pager<String> {
        Pager::new(
            self.listing("list_repositories", None, &["acr", "v1", "_catalog"], None),
            parse_catalog,
        )
    }

    /// The tags of `repository`, in `order`.
    pub fn list_tag_properties(
        &self,
        repository: &str,
        order: ArtifactTagOrder,
    ) -> Pager<ArtifactTagProperties> {
        let listing = self.listing(
            "list_tags",
            Some(repository),
            &["acr", "v1", repository, "_tags"],
            order.query(),
        );
        self.pager(listing, parse_tags, repository)
    }

    /// The manifests of `repository`, in `order`.
    pub fn list_manifest_properties(
        &self,
        repository: &str,
        order: ArtifactManifestOrder,
    ) -> Pager<ArtifactManifestProperties> {
        let listing = self.listing(
            "list_manifests",
            Some(repository),
            &["acr", "v1", repository, "_manifests"],
            order.query(),
        );
        self.pager(listing, parse_manifests, repository)
    }

    /// The metadata and permissions of `repository`; [`Error::NotFound`] when it does not
    /// exist.
    pub async fn get_repository_properties(
        &self,
        repository: &str,
    ) -> Result<RepositoryProperties> {
        validate_repository(repository)?;
        let operation = self
            .pipeline
            .operation("get_repository_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .get_repository_properties()
                    .name(repository)
                    .api_version(acr_rest::API_VERSION)
                    .send()
                    .await
            })
            .await?;
        Ok(response.into_inner().into())
    }

    /// Changes the permissions of `repository` set in `update`, and returns its new
    /// properties.
    pub async fn update_repository_properties(
        &self,
        repository: &str,
        update: &PropertiesUpdate,
    ) -> Result<RepositoryProperties> {
        validate_repository(repository)?;
        let body = update.to_repository_wire();
        let operation = self
            .pipeline
            .operation("update_repository_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .update_repository_properties()
                    .name(repository)
                    .api_version(acr_rest::API_VERSION)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
        Ok(response.into_inner().into())
    }

    /// Deletes `repository` with all its manifests and tags. A repository that does not
    /// exist is already deleted: that is success.
    pub async fn delete_repository(&self, repository: &str) -> Result<()> {
        validate_repository(repository)?;
        let operation = self
            .pipeline
            .operation("delete_repository", Some(repository));
        idempotent(
            operation
                .run(|client| async move {
                    client
                        .delete_repository()
                        .name(repository)
                        .api_version(acr_rest::API_VERSION)
                        .send()
                        .await
                })
                .await,
        )
    }

    /// A tag of `repository`; [`Error::NotFound`] when either does not exist.
    pub async fn get_tag_properties(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<ArtifactTagProperties> {
        validate_repository(repository)?;
        validate_tag(tag)?;
        let operation = self
            .pipeline
            .operation("get_tag_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .get_tag_properties()
                    .name(repository)
                    .reference(tag)
                    .api_version(acr_rest::API_VERSION)
                    .send()
                    .await
            })
            .await?;
        Ok(ArtifactTagProperties::from_wire(
            repository,
            response.into_inner().tag,
        ))
    }

    /// Changes the permissions of a tag set in `update`, and returns its new properties.
    pub async fn update_tag_properties(
        &self,
        repository: &str,
        tag: &str,
        update: &PropertiesUpdate,
    ) -> Result<ArtifactTagProperties> {
        validate_repository(repository)?;
        validate_tag(tag)?;
        let body = update.to_tag_wire();
        let operation = self
            .pipeline
            .operation("update_tag_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .update_tag_properties()
                    .name(repository)
                    .reference(tag)
                    .api_version(acr_rest::API_VERSION)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
        Ok(ArtifactTagProperties::from_wire(
            repository,
            response.into_inner().tag,
        ))
    }

    /// Deletes a tag (not the manifest it points to). A tag that does not exist is already
    /// deleted: that is success.
    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<()> {
        validate_repository(repository)?;
        validate_tag(tag)?;
        let operation = self.pipeline.operation("delete_tag", Some(repository));
        idempotent(
            operation
                .run(|client| async move {
                    client
                        .delete_tag()
                        .name(repository)
                        .reference(tag)
                        .api_version(acr_rest::API_VERSION)
                        .send()
                        .await
                })
                .await,
        )
    }

    /// The digest `tag_or_digest` names: itself, or what the tag points to.
    async fn resolve(&self, repository: &str, tag_or_digest: &str) -> Result<Digest> {
        match Reference::parse(tag_or_digest)? {
            Reference::Digest(digest) => Ok(digest),
            Reference::Tag(tag) => {
                let tag = self.get_tag_properties(repository, &tag).await?;
                Digest::parse(&tag.digest).map_err(|_| {
                    Error::Protocol(format!(
                        "the registry says tag {} points to {:?}, which is not a digest",
                        tag.name, tag.digest
                    ))
                })
            }
        }
    }

    /// A manifest's metadata, by digest or by tag; [`Error::NotFound`] when it does not
    /// exist.
    pub async fn get_manifest_properties(
        &self,
        repository: &str,
        tag_or_digest: &str,
    ) -> Result<ArtifactManifestProperties> {
        validate_repository(repository)?;
        let digest = self.resolve(repository, tag_or_digest).await?;
        let operation = self
            .pipeline
            .operation("get_manifest_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .get_manifest_properties()
                    .name(repository)
                    .digest(digest.as_str())
                    .api_version(acr_rest::API_VERSION)
                    .send()
                    .await
            })
            .await?;
        let registry = registry_host(self.endpoint());
        Ok(ArtifactManifestProperties::from_wire(
            &registry,
            repository,
            response.into_inner().manifest,
        ))
    }

    /// Changes the permissions of a manifest (by digest or tag) set in `update`, and
    /// returns its new properties.
    pub async fn update_manifest_properties(
        &self,
        repository: &str,
        tag_or_digest: &str,
        update: &PropertiesUpdate,
    ) -> Result<ArtifactManifestProperties> {
        validate_repository(repository)?;
        let digest = self.resolve(repository, tag_or_digest).await?;
        let body = update.to_manifest_wire();
        let operation = self
            .pipeline
            .operation("update_manifest_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .update_manifest_properties()
                    .name(repository)
                    .digest(digest.as_str())
                    .api_version(acr_rest::API_VERSION)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
        let registry = registry_host(self.endpoint());
        Ok(ArtifactManifestProperties::from_wire(
            &registry,
            repository,
            response.into_inner().manifest,
        ))
    }

    /// Deletes a manifest, with every tag that points to it. Given a tag, deletes the
    /// manifest the tag points to. What does not exist is already deleted: that is success.
    pub async fn delete_manifest(&self, repository: &str, tag_or_digest: &str) -> Result<()> {
        validate_repository(repository)?;
        let digest = match self.resolve(repository, tag_or_digest).await {
            Ok(digest) => digest,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        let operation = self.pipeline.operation("delete_manifest", Some(repository));
        idempotent(
            operation
                .run(|client| async move {
                    client
                        .delete_manifest()
                        .name(repository)
                        .reference(digest.as_str())
                        .send()
                        .await
                })
                .await,
        )
    }
}
