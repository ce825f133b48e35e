//! Manifest content: get and set manifests of any media type, typed views of image
//! manifests and indexes, and the referrers of a manifest (OCI distribution spec 1.1).

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Deserializer};

use crate::link::{LinkFollower, next_link};
use crate::names::validate_repository;
use crate::reference::{Reference, docker_content_digest, validate_tag};
use crate::{ContainerRegistryClient, Digest, Error, Result};

/// The largest manifest read or written, 4 MiB: ACR's own limit, and the bound on the
/// memory a manifest may take.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const OCI_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.docker.distribution.manifest.v2+json`
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// `application/vnd.docker.distribution.manifest.list.v2+json`
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Registries pick among representations by `Accept`; one left out may be converted or
/// refused, so every kind this crate can read is listed.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.artifact.manifest.v1+json";

fn manifest_too_large(declared: Option<u64>) -> Error {
    Error::ManifestTooLarge {
        limit: MAX_MANIFEST_SIZE,
        declared,
    }
}

/// A manifest as the registry stored it: its exact bytes, with the digest they were
/// checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetManifestResult {
    /// The manifest's digest: the one requested, else the registry's
    /// `Docker-Content-Digest`, else the sha256 of the bytes. The bytes hash to it.
    pub digest: Digest,
    /// The media type from `Content-Type` (without parameters), or from the manifest's
    /// `mediaType` field when the registry sent none.
    pub media_type: String,
    /// The manifest, byte for byte; digests are computed over exactly these bytes.
    pub bytes: Bytes,
}

/// Which of the two typed views fits a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Manifest,
    Index,
    Other,
}

fn kind_of_media_type(media_type: &str) -> Kind {
    match media_type {
        OCI_IMAGE_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
        OCI_IMAGE_INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
        _ => Kind::Other,
    }
}

/// The fields that tell manifests apart when the media type does not.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    media_type: Option<String>,
    config: Option<serde::de::IgnoredAny>,
    manifests: Option<serde::de::IgnoredAny>,
}

impl GetManifestResult {
    /// The manifest as an image manifest (OCI image manifest, or Docker image manifest v2
    /// schema 2, which share this shape). [`Error::InvalidInput`] when it is an index or
    /// another kind of document.
    pub fn image_manifest(&self) -> Result<ImageManifest> {
        self.view(Kind::Manifest, "an image manifest")
    }

    /// The manifest as an image index (OCI image index, or Docker manifest list).
    /// [`Error::InvalidInput`] when it is an image manifest or another kind of document.
    pub fn image_index(&self) -> Result<ImageIndex> {
        self.view(Kind::Index, "an image index")
    }

    fn view<T: for<'de> Deserialize<'de>>(&self, wanted: Kind, name: &str) -> Result<T> {
        let kind = self.kind()?;
        if kind != wanted {
            return Err(Error::InvalidInput(format!(
                "manifest {} is not {name}: its media type is {}",
                self.digest, self.media_type
            )));
        }
        serde_json::from_slice(&self.bytes).map_err(|e| {
            Error::InvalidInput(format!("manifest {} is not {name}: {e}", self.digest))
        })
    }

    /// The kind by `Content-Type`; registries that answer a generic type are judged by
    /// the document's own `mediaType`, then by its fields.
    fn kind(&self) -> Result<Kind> {
        match kind_of_media_type(&self.media_type) {
            Kind::Other => {}
            kind => return Ok(kind),
        }
        let shape: Shape = serde_json::from_slice(&self.bytes).map_err(|e| {
            Error::InvalidInput(format!(
                "manifest {} ({}) is not a JSON object: {e}",
                self.digest, self.media_type
            ))
        })?;
        Ok(match shape.media_type.as_deref().map(kind_of_media_type) {
            Some(Kind::Other) | None => match (shape.config, shape.manifests) {
                (Some(_), None) => Kind::Manifest,
                (None, Some(_)) => Kind::Index,
                _ => Kind::Other,
            },
            Some(kind) => kind,
        })
    }
}

fn digest_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
    let value = String::deserialize(deserializer)?;
    Digest::parse(&value).map_err(serde::de::Error::custom)
}

/// A reference to content: a blob or a manifest, with its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Descriptor {
    /// The media type of the content referred to.
    pub media_type: String,
    /// The digest of the content referred to.
    #[serde(deserialize_with = "digest_field")]
    pub digest: Digest,
    /// The size of the content in bytes.
    pub size: u64,
    /// The artifact type of a manifest referred to (OCI 1.1).
    pub artifact_type: Option<String>,
    /// Arbitrary metadata.
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform an image runs on, in an index's entries.
    pub platform: Option<Platform>,
}

/// The platform an image in an index runs on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Platform {
    /// The CPU architecture (`amd64`, `arm64`, …), as in Go's `GOARCH`.
    pub architecture: String,
    /// The operating system (`linux`, `windows`, …), as in Go's `GOOS`.
    pub os: String,
    /// The CPU variant (`v8` for `arm64/v8`).
    pub variant: Option<String>,
    /// The operating system version (Windows builds).
    #[serde(rename = "os.version")]
    pub os_version: Option<String>,
}

/// An image manifest: a configuration and layers. OCI image manifests, Docker image
/// manifests v2 schema 2 and OCI 1.1 artifacts (with `artifact_type`) have this shape.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The media type the manifest names itself (required for Docker, optional in OCI).
    pub media_type: Option<String>,
    /// The kind of artifact, for manifests that are not container images.
    pub artifact_type: Option<String>,
    /// The image configuration blob.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to, making it one of that manifest's referrers.
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index: manifests for several platforms (OCI image index, Docker manifest
/// list), or the referrers of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The media type the index names itself.
    pub media_type: Option<String>,
    /// The kind of artifact, for indexes that are not multi-platform images.
    pub artifact_type: Option<String>,
    /// The manifests listed.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The bytes of a manifest to store, sent exactly as given.
///
/// ```
/// # fn demo() -> acr::Result<()> {
/// let raw = acr::ManifestBody::from(br#"{"schemaVersion":2}"#.as_slice());
/// let typed = acr::ManifestBody::json(&serde_json::json!({ "schemaVersion": 2 }))?;
/// assert_eq!(raw.as_bytes(), typed.as_bytes());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestBody(Bytes);

impl ManifestBody {
    /// Serialises `value` as compact JSON, once: the digest is over these bytes, and
    /// these are the bytes sent.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self> {
        serde_json::to_vec(value)
            .map(|json| Self(json.into()))
            .map_err(|e| Error::InvalidInput(format!("the manifest cannot be serialised: {e}")))
    }

    /// The bytes that will be sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Bytes> for ManifestBody {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl From<Vec<u8>> for ManifestBody {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }
}

impl From<&'static [u8]> for ManifestBody {
    fn from(bytes: &'static [u8]) -> Self {
        Self(Bytes::from_static(bytes))
    }
}

impl From<String> for ManifestBody {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

/// Stores a manifest; see [`ContainerRegistryClient::set_manifest`]. Runs when awaited,
/// and resolves to the manifest's digest.
#[derive(Debug)]
#[must_use = "the manifest is sent only when this is awaited"]
pub struct SetManifest<'a> {
    client: &'a ContainerRegistryClient,
    repository: &'a str,
    body: ManifestBody,
    tag: Option<String>,
    media_type: Option<String>,
}

impl SetManifest<'_> {
    /// Stores the manifest under `tag` (moving the tag if it exists) instead of only
    /// under its digest.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = Some(tag.to_owned());
        self
    }

    /// The manifest's media type, sent as `Content-Type`; the default is
    /// `application/vnd.oci.image.manifest.v1+json`.
    pub fn media_type(mut self, media_type: &str) -> Self {
        self.media_type = Some(media_type.to_owned());
        self
    }

    async fn send(self) -> Result<Digest> {
        validate_repository(self.repository)?;
        let bytes = self.body.0;
        let size = bytes.len() as u64;
        if size > MAX_MANIFEST_SIZE {
            return Err(manifest_too_large(Some(size)));
        }
        let digest = Digest::sha256(&bytes);
        let reference = match &self.tag {
            Some(tag) => {
                validate_tag(tag)?;
                tag.as_str()
            }
            None => digest.as_str(),
        };
        let media_type = self.media_type.as_deref().unwrap_or(OCI_IMAGE_MANIFEST);
        let content_type = HeaderValue::from_str(media_type)
            .ok()
            .filter(|_| !media_type.trim().is_empty())
            .ok_or_else(|| Error::InvalidInput(format!("{media_type:?} is not a media type")))?;

        let url = self
            .client
            .pipeline
            .url(&["v2", self.repository, "manifests", reference]);
        let mut request = reqwest::Request::new(Method::PUT, url);
        request.headers_mut().insert(CONTENT_TYPE, content_type);
        *request.body_mut() = Some(bytes.clone().into());
        let operation = self
            .client
            .pipeline
            .operation("set_manifest", Some(self.repository));
        let response = operation.send(request).await?;
        if !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        if response.status() != StatusCode::CREATED {
            return Err(Error::Protocol(format!(
                "the registry answered a manifest upload with {}, not 201 Created",
                response.status()
            )));
        }
        let subject_indexed = response.headers().contains_key("oci-subject");
        let digest = match docker_content_digest(response.headers())? {
            Some(announced) => {
                announced.verify(&digest_in(&announced, &bytes)?)?;
                announced
            }
            None => digest,
        };
        // A registry without the referrers API leaves the referrers index to the client
        // (OCI distribution spec, "Pushing Manifests with Subject").
        let referrer = (!subject_indexed)
            .then(|| referrer_of(&bytes, &digest, media_type))
            .flatten();
        if let Some((subject, referrer)) = referrer {
            self.client
                .add_to_referrers_tag(self.repository, &subject, referrer)
                .await?;
        }
        Ok(digest)
    }
}

/// For a manifest with a `subject`: that subject's digest and the descriptor that lists
/// the manifest among its referrers.
fn referrer_of(
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

impl<'a> IntoFuture for SetManifest<'a> {
    type Output = Result<Digest>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Digest>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// The digest of `bytes` in the algorithm of `reference`.
fn digest_in(reference: &Digest, bytes: &[u8]) -> Result<Digest> {
    let mut hasher = reference.hasher().map_err(|_| {
        Error::Protocol(format!(
            "the registry names content by {reference}, whose algorithm this crate cannot \
             compute, so the content cannot be checked"
        ))
    })?;
    hasher.update(bytes);
    Ok(hasher.finish())
}

/// Reads a body of at most [`MAX_MANIFEST_SIZE`] bytes. The cap holds while reading, not
/// only against `Content-Length`, which may be absent or wrong.
async fn read_capped(mut response: reqwest::Response) -> Result<Bytes> {
    let declared = response.content_length();
    if let Some(declared) = declared.filter(|&d| d > MAX_MANIFEST_SIZE) {
        return Err(manifest_too_large(Some(declared)));
    }
    // At most the limit is ever reserved, whatever the header claims.
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::Transport(Box::new(e.without_url())))?
    {
        if (body.len() + chunk.len()) as u64 > MAX_MANIFEST_SIZE {
            return Err(manifest_too_large(declared));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `Content-Type` without parameters.
fn media_type_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next().unwrap_or_default().trim();
    (!media_type.is_empty()).then(|| media_type.to_owned())
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

impl ContainerRegistryClient {
    /// A manifest of any kind, by tag or digest, with its exact bytes.
    ///
    /// At most [`MAX_MANIFEST_SIZE`] bytes are read: a larger manifest is
    /// [`Error::ManifestTooLarge`], whether or not the registry declared its size. The
    /// bytes must hash to the requested digest and to the registry's
    /// `Docker-Content-Digest`, else [`Error::DigestMismatch`].
    ///
    /// ```no_run
    /// # async fn demo(client: acr::ContainerRegistryClient) -> acr::Result<()> {
    /// let manifest = client.get_manifest("library/hello-world", "latest").await?;
    /// for layer in manifest.image_manifest()?.layers {
    ///     println!("{} {} bytes", layer.digest, layer.size);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_manifest(
        &self,
        repository: &str,
        tag_or_digest: &str,
    ) -> Result<GetManifestResult> {
        validate_repository(repository)?;
        let reference = Reference::parse(tag_or_digest)?;
        if let Reference::Digest(requested) = &reference {
            // Fail before the request for an algorithm that cannot be checked.
            requested.hasher()?;
        }
        let url = self
            .pipeline
            .url(&["v2", repository, "manifests", tag_or_digest]);
        let mut request = reqwest::Request::new(Method::GET, url);
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let operation = self.pipeline.operation("get_manifest", Some(repository));
        let response = operation.send(request).await?;
        if !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        let media_type = media_type_of(response.headers());
        let announced = docker_content_digest(response.headers())?;
        let bytes = read_capped(response).await?;

        if let Reference::Digest(requested) = &reference {
            requested.verify(&digest_in(requested, &bytes)?)?;
        }
        if let Some(announced) = &announced {
            announced.verify(&digest_in(announced, &bytes)?)?;
        }
        let media_type = match media_type {
            Some(media_type) => media_type,
            None => serde_json::from_slice::<Shape>(&bytes)
                .ok()
                .and_then(|shape| shape.media_type)
                .ok_or_else(|| {
                    Error::Protocol(
                        "the registry sent a manifest without Content-Type, and the manifest \
                         names no mediaType"
                            .into(),
                    )
                })?,
        };
        let digest = match (reference, announced) {
            (Reference::Digest(requested), _) => requested,
            (Reference::Tag(_), Some(announced)) => announced,
            (Reference::Tag(_), None) => Digest::sha256(&bytes),
        };
        Ok(GetManifestResult {
            digest,
            media_type,
            bytes,
        })
    }

    /// Stores `manifest` in `repository`, under its sha256 digest or under a tag, and
    /// returns the digest. The bytes are sent exactly as given; more than
    /// [`MAX_MANIFEST_SIZE`] is refused before any request. A registry that reports
    /// another digest for them is [`Error::DigestMismatch`].
    ///
    /// ```no_run
    /// # async fn demo(client: acr::ContainerRegistryClient, manifest: Vec<u8>) -> acr::Result<()> {
    /// let digest = client
    ///     .set_manifest("library/hello-world", manifest)
    ///     .tag("v1")
    ///     .media_type("application/vnd.docker.distribution.manifest.v2+json")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn set_manifest<'a>(
        &'a self,
        repository: &'a str,
        manifest: impl Into<ManifestBody>,
    ) -> SetManifest<'a> {
        SetManifest {
            client: self,
            repository,
            body: manifest.into(),
            tag: None,
            media_type: None,
        }
    }

    /// The manifests that refer to `digest` through their `subject` (signatures, SBOMs,
    /// attestations), optionally only those of `artifact_type`.
    ///
    /// Uses the referrers API of OCI distribution 1.1, following its pages. A registry
    /// without it (404) is asked for the index tagged `<alg>-<encoded>` instead, as the
    /// spec's fallback prescribes; no such tag means no referrers.
    pub async fn list_referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        validate_repository(repository)?;
        let mut url = self
            .pipeline
            .url(&["v2", repository, "referrers", digest.as_str()]);
        if let Some(artifact_type) = artifact_type {
            url.query_pairs_mut()
                .append_pair("artifactType", artifact_type);
        }
        let operation = self.pipeline.operation("list_referrers", Some(repository));
        let mut referrers = Vec::new();
        let mut links = LinkFollower::default();
        let mut first_page = true;
        loop {
            let mut request = reqwest::Request::new(Method::GET, url.clone());
            request
                .headers_mut()
                .insert(ACCEPT, HeaderValue::from_static(OCI_IMAGE_INDEX));
            let response = operation.send(request).await?;
            if response.status() == StatusCode::NOT_FOUND && first_page {
                drop(response);
                return self
                    .referrers_by_tag(repository, digest, artifact_type)
                    .await;
            }
            if !response.status().is_success() {
                return Err(Error::from_response(response).await);
            }
            let filtered = response
                .headers()
                .get_all("oci-filters-applied")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .any(|filter| filter.trim() == "artifactType");
            let next = next_link(response.headers());
            let body = read_capped(response).await?;
            let index: ImageIndex = serde_json::from_slice(&body).map_err(|e| {
                Error::Protocol(format!(
                    "the referrers of {digest} are not an image index: {e}"
                ))
            })?;
            let mut page = index.manifests;
            if !filtered {
                of_artifact_type(&mut page, artifact_type);
            }
            referrers.append(&mut page);

            first_page = false;
            let Some(link) = next else {
                return Ok(referrers);
            };
            url = links.follow(&self.pipeline, &link)?;
        }
    }

    /// Adds `referrer` to the index tagged `<alg>-<encoded>` of `subject`, creating it.
    /// Two clients doing this at once may lose one entry; the spec accepts that race.
    async fn add_to_referrers_tag(
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

    fn result(media_type: &str, body: &'static str) -> GetManifestResult {
        GetManifestResult {
            digest: Digest::sha256(body.as_bytes()),
            media_type: media_type.to_owned(),
            bytes: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn the_view_is_chosen_by_media_type_then_by_the_document() {
        let index = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(result(OCI_IMAGE_INDEX, index).image_index().is_ok());
        assert!(matches!(
            result(OCI_IMAGE_INDEX, index).image_manifest(),
            Err(Error::InvalidInput(_))
        ));
        // A generic Content-Type: the document's own mediaType decides.
        let named = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{}}"#;
        assert!(matches!(
            result("application/json", named).image_manifest(),
            Err(Error::InvalidInput(_))
        ));
        // Nothing named: the fields decide.
        let config = format!(
            r#"{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}}"#,
            Digest::sha256(b"{}")
        );
        let manifest: &'static str =
            format!(r#"{{"schemaVersion":2,"config":{config},"layers":[]}}"#).leak();
        let view = result("application/json", manifest)
            .image_manifest()
            .unwrap();
        assert_eq!(view.config.size, 2);
        assert!(result("application/json", manifest).image_index().is_err());
        assert!(
            result("application/json", "not json")
                .image_index()
                .is_err()
        );
    }

    #[test]
    fn descriptors_with_invalid_digests_are_refused() {
        let bad = r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:short","size":1}]}"#;
        let error = result(OCI_IMAGE_INDEX, bad).image_index().unwrap_err();
        assert!(error.to_string().contains("sha256:short"), "{error}");
    }
}
