//! Registry operations: repositories, tags and manifests, their metadata and permissions.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use url::Url;

use crate::names::validate_repository;
use crate::pager::{FetchPage, Listing, PageOf, PageQuery, PageRequest, query_of};
use crate::pipeline::METADATA_LIMIT;
use crate::reference::{IntoReference, Reference, docker_content_digest, validate_tag};
use crate::{
    ArtifactManifestOrder, ArtifactManifestProperties, ArtifactTagOrder, ArtifactTagProperties,
    ContainerRegistryClient, Digest, Error, Pager, PropertiesUpdate, RepositoryProperties, Result,
};

/// A generated listing call with a page's `last` and `n` set, and `orderby` where the
/// operation takes one (`ordered`).
macro_rules! paged {
    ($call:expr, $query:expr) => {{
        let (mut call, query) = ($call, $query);
        if let Some(last) = query.last {
            call = call.last(last);
        }
        if let Some(n) = query.n {
            call = call.n(i64::from(n));
        }
        call
    }};
    ($call:expr, $query:expr, ordered) => {{
        let orderby = $query.orderby.clone();
        let mut call = paged!($call, $query);
        if let Some(orderby) = orderby {
            call = call.orderby(orderby);
        }
        call
    }};
}

/// Repository names from ACR's metadata API, or, on a registry without it, from the OCI
/// catalog (`/v2/_catalog`), whose next links are followed through its own operation.
fn fetch_catalog(
    listing: Arc<Listing>,
    request: PageRequest,
) -> BoxFuture<'static, Result<PageOf<String>>> {
    Box::pin(async move {
        let (page, next) = match request {
            PageRequest::Query(query) => {
                let acr = listing
                    .page(
                        PageRequest::Query(query.clone()),
                        |client, query| async move {
                            paged!(client.list_repositories(), query).send().await
                        },
                    )
                    .await;
                match acr {
                    Err(Error::Unsupported { .. }) => oci_catalog_page(&listing, query).await?,
                    outcome => outcome?,
                }
            }
            PageRequest::Link(url) => match query_of(&url, &["last", "n"]) {
                Some(query) if url.path() == OCI_CATALOG => {
                    oci_catalog_page(&listing, query).await?
                }
                _ => listing.page_by_link(url).await?,
            },
        };
        Ok((page.repositories.unwrap_or_default(), next))
    })
}

/// A page of the OCI catalog, through its generated operation.
async fn oci_catalog_page(
    listing: &Listing,
    query: PageQuery,
) -> Result<(acr_rest::types::Repositories, Option<String>)> {
    listing
        .page(PageRequest::Query(query), |client, query| async move {
            paged!(client.list_catalog(), query).send().await
        })
        .await
}

/// The OCI catalog's path, which a registry without ACR's metadata API lists through.
const OCI_CATALOG: &str = "/v2/_catalog";

fn fetch_tag_names(
    listing: Arc<Listing>,
    request: PageRequest,
) -> BoxFuture<'static, Result<PageOf<String>>> {
    Box::pin(async move {
        let name = listing.repository.clone().unwrap_or_default();
        let (page, next) = listing
            .page(request, |client, query| async move {
                paged!(client.list_tag_names().name(name), query)
                    .send()
                    .await
            })
            .await?;
        Ok((page.tags.unwrap_or_default(), next))
    })
}

fn fetch_tags(
    listing: Arc<Listing>,
    request: PageRequest,
) -> BoxFuture<'static, Result<PageOf<ArtifactTagProperties>>> {
    Box::pin(async move {
        let repository = listing.repository.clone().unwrap_or_default();
        let name = repository.clone();
        let (page, next) = listing
            .page(request, |client, query| async move {
                paged!(client.list_tags().name(name), query, ordered)
                    .send()
                    .await
            })
            .await?;
        let tags = page.tags.unwrap_or_default();
        let tags = tags
            .into_iter()
            .map(|tag| ArtifactTagProperties::from_wire(&repository, tag))
            .collect::<Result<_>>()?;
        Ok((tags, next))
    })
}

fn fetch_manifests(
    listing: Arc<Listing>,
    request: PageRequest,
) -> BoxFuture<'static, Result<PageOf<ArtifactManifestProperties>>> {
    Box::pin(async move {
        let repository = listing.repository.clone().unwrap_or_default();
        let registry = registry_host(&listing.pipeline.endpoint);
        let name = repository.clone();
        let (page, next) = listing
            .page(request, |client, query| async move {
                paged!(client.list_manifests().name(name), query, ordered)
                    .send()
                    .await
            })
            .await?;
        let manifests = page.manifests.unwrap_or_default();
        let manifests = manifests
            .into_iter()
            .map(|manifest| ArtifactManifestProperties::from_wire(&registry, &repository, manifest))
            .collect::<Result<_>>()?;
        Ok((manifests, next))
    })
}

/// `host[:port]`, as image references and ACR's token service name a registry.
pub(crate) fn registry_host(endpoint: &Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    match endpoint.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Treats "not found" as done: deleting what does not exist succeeds. Only a `404` that
/// says what is missing counts; one that names nothing may be a path the registry does
/// not serve, and a delete that did not happen is never reported as done.
pub(crate) fn idempotent<T>(outcome: Result<T>) -> Result<()> {
    match outcome {
        Ok(_) | Err(Error::NotFound { code: Some(_), .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

impl ContainerRegistryClient {
    fn listing(
        &self,
        operation: &'static str,
        repository: Option<&str>,
        path: String,
        orderby: Option<Option<&'static str>>,
    ) -> Listing {
        Listing {
            pipeline: self.pipeline.clone(),
            operation,
            repository: repository.map(str::to_owned),
            path,
            names_grow: orderby.is_none(),
            params: match orderby {
                Some(_) => &["last", "n", "orderby"],
                None => &["last", "n"],
            },
            orderby: orderby.flatten(),
            accept: "application/json",
            subject: None,
            artifact_type: None,
        }
    }

    pub(crate) fn pager<T: Send + 'static>(
        &self,
        listing: Listing,
        fetch: FetchPage<T>,
        repository: &str,
    ) -> Pager<T> {
        match validate_repository(repository) {
            Ok(()) => Pager::new(listing, fetch),
            Err(error) => Pager::invalid(listing, fetch, error),
        }
    }

    /// The names of the registry's repositories, in the registry's order: from ACR's
    /// metadata API, or, on a registry without it, from the OCI catalog (`/v2/_catalog`).
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt as _;
    /// # async fn demo(client: acr::ContainerRegistryClient) -> acr::Result<()> {
    /// let names: Vec<String> = client.list_repository_names().try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list_repository_names(&self) -> Pager<String> {
        Pager::new(
            self.listing("list_repositories", None, "/acr/v1/_catalog".into(), None),
            fetch_catalog,
        )
    }

    /// The tag names of `repository`, in the registry's order, from the OCI tag list (`/v2/<name>/tags/list`)
    /// that every registry serves, ACR included. For tags with their digests and
    /// timestamps, on ACR, see [`list_tag_properties`](Self::list_tag_properties).
    pub fn list_tag_names(&self, repository: &str) -> Pager<String> {
        let mut listing = self.listing(
            "list_tag_names",
            Some(repository),
            format!("/v2/{repository}/tags/list"),
            None,
        );
        // Registries page tags out of name order (distribution 2.8 does): each page's
        // `last` must be new, not greater.
        listing.names_grow = false;
        self.pager(listing, fetch_tag_names, repository)
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
            format!("/acr/v1/{repository}/_tags"),
            Some(order.query()),
        );
        self.pager(listing, fetch_tags, repository)
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
            format!("/acr/v1/{repository}/_manifests"),
            Some(order.query()),
        );
        self.pager(listing, fetch_manifests, repository)
    }

    /// The metadata and permissions of `repository`; [`Error::NotFound`] when it does not
    /// exist.
    pub async fn get_repository_properties(
        &self,
        repository: &str,
    ) -> Result<RepositoryProperties> {
        let api_version = self.pipeline.api_version.as_str();
        validate_repository(repository)?;
        let operation = self.pipeline.buffered_operation(
            "get_repository_properties",
            Some(repository),
            METADATA_LIMIT,
        );
        let response = operation
            .run(|client| async move {
                client
                    .get_repository_properties()
                    .name(repository)
                    .api_version(api_version)
                    .send()
                    .await
            })
            .await?;
        Ok(RepositoryProperties::from_wire(response.into_inner()))
    }

    /// Changes the permissions of `repository` set in `update`, and returns its new
    /// properties.
    pub async fn update_repository_properties(
        &self,
        repository: &str,
        update: &PropertiesUpdate,
    ) -> Result<RepositoryProperties> {
        let api_version = self.pipeline.api_version.as_str();
        validate_repository(repository)?;
        let body = update.to_repository_wire();
        let operation = self.pipeline.buffered_operation(
            "update_repository_properties",
            Some(repository),
            METADATA_LIMIT,
        );
        let response = operation
            .run(|client| async move {
                client
                    .update_repository_properties()
                    .name(repository)
                    .api_version(api_version)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
        Ok(RepositoryProperties::from_wire(response.into_inner()))
    }

    /// Deletes `repository` with all its manifests and tags. A repository that does not
    /// exist is already deleted: that is success.
    pub async fn delete_repository(&self, repository: &str) -> Result<()> {
        let api_version = self.pipeline.api_version.as_str();
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
                        .api_version(api_version)
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
        let api_version = self.pipeline.api_version.as_str();
        validate_repository(repository)?;
        validate_tag(tag)?;
        let operation = self.pipeline.buffered_operation(
            "get_tag_properties",
            Some(repository),
            METADATA_LIMIT,
        );
        let response = operation
            .run(|client| async move {
                client
                    .get_tag_properties()
                    .name(repository)
                    .reference(tag)
                    .api_version(api_version)
                    .send()
                    .await
            })
            .await?;
        ArtifactTagProperties::from_wire(repository, response.into_inner().tag)
    }

    /// Changes the permissions of a tag set in `update`, and returns its new properties.
    pub async fn update_tag_properties(
        &self,
        repository: &str,
        tag: &str,
        update: &PropertiesUpdate,
    ) -> Result<ArtifactTagProperties> {
        let api_version = self.pipeline.api_version.as_str();
        validate_repository(repository)?;
        validate_tag(tag)?;
        let body = update.to_tag_wire();
        let operation = self.pipeline.buffered_operation(
            "update_tag_properties",
            Some(repository),
            METADATA_LIMIT,
        );
        let response = operation
            .run(|client| async move {
                client
                    .update_tag_properties()
                    .name(repository)
                    .reference(tag)
                    .api_version(api_version)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
        ArtifactTagProperties::from_wire(repository, response.into_inner().tag)
    }

    /// Deletes a tag (not the manifest it points to). A tag that does not exist is already
    /// deleted: that is success.
    ///
    /// Without ACR's metadata API, the tag is deleted with the OCI API's
    /// `DELETE /v2/<name>/manifests/<tag>`, where the registry allows it; one that does not
    /// (distribution 2.x answers `400`, others `405`) gives [`Error::Unsupported`].
    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<()> {
        let api_version = self.pipeline.api_version.as_str();
        validate_repository(repository)?;
        validate_tag(tag)?;
        let operation = self.pipeline.operation("delete_tag", Some(repository));
        let outcome = operation
            .run(|client| async move {
                client
                    .delete_tag()
                    .name(repository)
                    .reference(tag)
                    .api_version(api_version)
                    .send()
                    .await
            })
            .await;
        match outcome {
            Err(Error::Unsupported { .. }) => self.delete_tag_by_manifest(repository, tag).await,
            outcome => idempotent(outcome),
        }
    }

    /// `DELETE /v2/<name>/manifests/<tag>`: the OCI distribution spec's tag delete, which
    /// registries may refuse with `400` or `405`.
    async fn delete_tag_by_manifest(&self, repository: &str, tag: &str) -> Result<()> {
        let operation = self.pipeline.operation("delete_tag", Some(repository));
        let outcome = operation
            .run(|client| async move {
                client
                    .delete_manifest()
                    .name(repository)
                    .reference(tag)
                    .send()
                    .await
            })
            .await;
        match outcome {
            Err(Error::Service {
                status: 400 | 405, ..
            }) => Err(self.pipeline.unsupported("delete_tag")),
            outcome => idempotent(outcome),
        }
    }

    /// The digest `reference` names: itself, or what the tag points to.
    async fn resolve(&self, repository: &str, reference: Reference) -> Result<Digest> {
        match reference {
            Reference::Digest(digest) => Ok(digest),
            Reference::Tag(tag) => match self.get_tag_properties(repository, &tag).await {
                Ok(properties) => Ok(properties.digest),
                // Without ACR's metadata API, the OCI API's `HEAD` names the digest.
                Err(Error::Unsupported { .. }) => self.head_manifest(repository, &tag).await,
                Err(error) => Err(error),
            },
        }
    }

    /// The digest `tag` points to, from the `Docker-Content-Digest` of `HEAD` on the
    /// manifest.
    async fn head_manifest(&self, repository: &str, tag: &str) -> Result<Digest> {
        let operation = self.pipeline.operation("get_manifest", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .check_manifest_exists()
                    .name(repository)
                    .reference(tag)
                    .accept(crate::manifest::MANIFEST_ACCEPT)
                    .send()
                    .await
            })
            .await
            .map_err(|error| match error {
                // An answer to `HEAD` has no body to name what is missing: its 404 is the
                // tag's absence.
                Error::NotFound {
                    message,
                    code: None,
                    request_id,
                } => Error::NotFound {
                    message,
                    code: Some("MANIFEST_UNKNOWN".to_owned()),
                    request_id,
                },
                error => error,
            })?;
        docker_content_digest(response.headers())?.ok_or_else(|| {
            Error::Protocol(format!(
                "the registry named no digest for tag {tag} (no Docker-Content-Digest)"
            ))
        })
    }

    /// A manifest's metadata, by digest or by tag; [`Error::NotFound`] when it does not
    /// exist.
    pub async fn get_manifest_properties(
        &self,
        repository: &str,
        reference: impl IntoReference,
    ) -> Result<ArtifactManifestProperties> {
        let api_version = self.pipeline.api_version.as_str();
        validate_repository(repository)?;
        let reference = reference.into_reference()?;
        let digest = self.resolve(repository, reference).await?;
        let operation = self.pipeline.buffered_operation(
            "get_manifest_properties",
            Some(repository),
            METADATA_LIMIT,
        );
        let response = operation
            .run(|client| async move {
                client
                    .get_manifest_properties()
                    .name(repository)
                    .digest(digest.as_str())
                    .api_version(api_version)
                    .send()
                    .await
            })
            .await?;
        let registry = registry_host(self.endpoint());
        ArtifactManifestProperties::from_wire(&registry, repository, response.into_inner().manifest)
    }

    /// Changes the permissions of a manifest (by digest or tag) set in `update`, and
    /// returns its new properties.
    pub async fn update_manifest_properties(
        &self,
        repository: &str,
        reference: impl IntoReference,
        update: &PropertiesUpdate,
    ) -> Result<ArtifactManifestProperties> {
        let api_version = self.pipeline.api_version.as_str();
        validate_repository(repository)?;
        let reference = reference.into_reference()?;
        let digest = self.resolve(repository, reference).await?;
        let body = update.to_manifest_wire();
        let operation = self.pipeline.buffered_operation(
            "update_manifest_properties",
            Some(repository),
            METADATA_LIMIT,
        );
        let response = operation
            .run(|client| async move {
                client
                    .update_manifest_properties()
                    .name(repository)
                    .digest(digest.as_str())
                    .api_version(api_version)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
        let registry = registry_host(self.endpoint());
        ArtifactManifestProperties::from_wire(&registry, repository, response.into_inner().manifest)
    }

    /// Deletes a manifest, with every tag that points to it. Given a tag, deletes the
    /// manifest the tag points to (found through ACR's metadata API, or the OCI API's
    /// `HEAD` on registries without it). What does not exist is already deleted: that is
    /// success.
    pub async fn delete_manifest(
        &self,
        repository: &str,
        reference: impl IntoReference,
    ) -> Result<()> {
        validate_repository(repository)?;
        let reference = reference.into_reference()?;
        let digest = match self.resolve(repository, reference).await {
            Ok(digest) => digest,
            Err(error) => return idempotent(Err::<(), _>(error)),
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
