//! The referrers of a manifest (OCI distribution spec 1.1): manifests whose `subject` is
//! that manifest (signatures, SBOMs, attestations), through the referrers API, or through
//! the index tagged `<alg>-<encoded>` on registries without it.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::link::next_link;
use crate::manifest::{Descriptor, ImageIndex, OCI_IMAGE_INDEX, collect};
use crate::pager::{Listing, PageOf, PageRequest};
use crate::{ContainerRegistryClient, Digest, Error, Pager, Result};

/// For a manifest with a `subject`: that subject's digest and the descriptor that lists
/// the manifest among its referrers.
pub(crate) fn referrer_of(
    bytes: &[u8],
    digest: &Digest,
    media_type: &str,
) -> Option<(Digest, serde_json::Value)> {
    let manifest: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let subject = Digest::parse(manifest.get("subject")?.get("digest")?.as_str()?).ok()?;
    let artifact_type = manifest
        .get("artifactType")
        .or_else(|| manifest.get("config")?.get("mediaType"))
        .cloned();
    let mut descriptor = serde_json::json!({
        "mediaType": media_type,
        "digest": digest.as_str(),
        "size": bytes.len(),
    });
    if let Some(artifact_type) = artifact_type {
        descriptor["artifactType"] = artifact_type;
    }
    if let Some(annotations) = manifest.get("annotations") {
        descriptor["annotations"] = annotations.clone();
    }
    Some((subject, descriptor))
}

/// The tag under which registries without the referrers API keep the referrers of
/// `digest` (OCI distribution spec, "Referrers Tag Schema"): `<alg>-<encoded>`, cut to
/// 32 and 64 characters, with characters a tag cannot hold replaced by `-`.
fn referrers_tag(digest: &Digest) -> String {
    let tag_char = |c: char| {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        }
    };
    let algorithm = digest.algorithm().chars().take(32).map(tag_char);
    let encoded = digest.encoded().chars().take(64).map(tag_char);
    algorithm
        .chain(std::iter::once('-'))
        .chain(encoded)
        .collect()
}

fn of_artifact_type(descriptors: &mut Vec<Descriptor>, artifact_type: Option<&str>) {
    if let Some(wanted) = artifact_type {
        descriptors.retain(|d| d.artifact_type.as_deref() == Some(wanted));
    }
}

/// Fetches one page of referrers. The first page of a registry without the referrers API
/// (404) is the referrers tag's index instead, and the last.
fn fetch_referrers(
    listing: Arc<Listing>,
    request: PageRequest,
) -> BoxFuture<'static, Result<PageOf<Descriptor>>> {
    Box::pin(async move {
        let repository = listing.repository.clone().unwrap_or_default();
        let subject = listing
            .subject
            .clone()
            .expect("a listing of referrers has a subject");
        let artifact_type = listing.artifact_type.as_deref();
        let operation = listing.operation();
        let (headers, body) = match request {
            PageRequest::Query(_) => {
                let name = repository.as_str();
                let digest = subject.as_str();
                let outcome = operation
                    .run(|client| async move {
                        let mut call = client
                            .list_referrers()
                            .name(name)
                            .digest(digest)
                            .accept(OCI_IMAGE_INDEX);
                        if let Some(artifact_type) = artifact_type {
                            call = call.artifact_type(artifact_type);
                        }
                        call.send().await
                    })
                    .await;
                match outcome {
                    Ok(response) => {
                        let headers = response.headers().clone();
                        (headers, collect(response.into_inner()).await?)
                    }
                    Err(Error::NotFound { .. }) => {
                        let client = ContainerRegistryClient {
                            pipeline: listing.pipeline.clone(),
                        };
                        let referrers = client
                            .referrers_by_tag(&repository, &subject, artifact_type)
                            .await?;
                        return Ok((referrers, None));
                    }
                    Err(error) => return Err(error),
                }
            }
            PageRequest::Link(url) => listing.follow(&operation, url).await?,
        };
        let filtered = headers
            .get_all("oci-filters-applied")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|filter| filter.trim() == "artifactType");
        let index: ImageIndex = serde_json::from_slice(&body).map_err(|e| {
            Error::Protocol(format!(
                "the referrers of {subject} are not an image index: {e}"
            ))
        })?;
        let mut referrers = index.manifests;
        if !filtered {
            of_artifact_type(&mut referrers, artifact_type);
        }
        Ok((referrers, next_link(&headers)))
    })
}

impl ContainerRegistryClient {
    /// The manifests that refer to `digest` through their `subject` (signatures, SBOMs,
    /// attestations), optionally only those of `artifact_type`, a page at a time.
    ///
    /// Uses the referrers API of OCI distribution 1.1, following its pages. A registry
    /// without it (404) is asked for the index tagged `<alg>-<encoded>` instead, as the
    /// spec's fallback prescribes; no such tag means no referrers.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt as _;
    /// # async fn demo(client: acr::ContainerRegistryClient, digest: acr::Digest) -> acr::Result<()> {
    /// let signatures: Vec<acr::Descriptor> = client
    ///     .list_referrers("library/hello-world", &digest, Some("application/vnd.cncf.notary.signature"))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn list_referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Pager<Descriptor> {
        let listing = Listing {
            pipeline: self.pipeline.clone(),
            operation: "list_referrers",
            repository: Some(repository.to_owned()),
            path: format!("/v2/{repository}/referrers/{digest}"),
            // The referrers API defines no page parameters: its links are followed as sent.
            names_grow: false,
            params: &[],
            orderby: None,
            accept: OCI_IMAGE_INDEX,
            subject: Some(digest.clone()),
            artifact_type: artifact_type.map(str::to_owned),
        };
        self.pager(listing, fetch_referrers, repository)
    }

    /// Adds `referrer` to the index tagged `<alg>-<encoded>` of `subject`, creating it.
    /// Two clients doing this at once may lose one entry; the spec accepts that race.
    pub(crate) async fn add_to_referrers_tag(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: serde_json::Value,
    ) -> Result<()> {
        let tag = referrers_tag(subject);
        let mut index = match self.get_manifest(repository, &tag).await {
            Ok(existing) => {
                serde_json::from_slice::<serde_json::Value>(&existing.bytes).map_err(|e| {
                    Error::Protocol(format!("the referrers index {tag} is not JSON: {e}"))
                })?
            }
            Err(Error::NotFound { .. }) => serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_IMAGE_INDEX,
                "manifests": [],
            }),
            Err(error) => return Err(error),
        };
        let Some(manifests) = index
            .as_object_mut()
            .map(|index| {
                index
                    .entry("manifests")
                    .or_insert_with(|| serde_json::json!([]))
            })
            .and_then(serde_json::Value::as_array_mut)
        else {
            return Err(Error::Protocol(format!(
                "the referrers index {tag} is not an image index"
            )));
        };
        if manifests
            .iter()
            .any(|m| m.get("digest") == referrer.get("digest"))
        {
            return Ok(());
        }
        manifests.push(referrer);
        let body = serde_json::to_vec(&index).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.set_manifest(repository, body)
            .tag(&tag)
            .media_type(OCI_IMAGE_INDEX)
            .await?;
        Ok(())
    }

    async fn referrers_by_tag(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let index = match self.get_manifest(repository, &referrers_tag(digest)).await {
            Ok(index) => index,
            Err(Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut referrers = index.image_index()?.manifests;
        of_artifact_type(&mut referrers, artifact_type);
        Ok(referrers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::validate_tag;

    #[test]
    fn referrers_tags_follow_the_tag_schema() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(referrers_tag(&digest), format!("sha256-{hex}"));
        let sha512 = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
        let tag = referrers_tag(&sha512);
        assert_eq!(tag, format!("sha512-{}", "ab".repeat(32)));
        validate_tag(&tag).unwrap();
        let odd = Digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDe").unwrap();
        assert_eq!(
            referrers_tag(&odd),
            "multihash-base58-QmRZxt2b1FVZPNqd8hsiykDL3TdBDe"
        );
    }
}
