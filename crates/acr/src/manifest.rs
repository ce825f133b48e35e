//! Manifest content: get and set manifests of any media type, and typed views of image
//! manifests and indexes.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::request_id;
use crate::names::validate_repository;
use crate::pipeline::BodyLimit;
use crate::reference::{IntoReference, Reference, docker_content_digest, validate_tag};
use crate::referrers::referrer_of;
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
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.artifact.manifest.v1+json";

pub(crate) fn manifest_too_large(declared: Option<u64>) -> Error {
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
    /// The registry's `x-ms-request-id` for the answer, when it sent one.
    pub request_id: Option<String>,
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

/// A reference to content: a blob or a manifest, with its media type, digest and size.
///
/// The default is OCI's empty descriptor: the two-byte JSON `{}`, the config of artifacts
/// that have none.
///
/// ```
/// let layer = acr::Descriptor::new(
///     "application/vnd.oci.image.layer.v1.tar+gzip",
///     acr::Digest::sha256(b"layer"),
///     5,
/// );
/// assert_eq!(layer.size, 5);
/// assert_eq!(acr::Descriptor::default().media_type, acr::OCI_EMPTY);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content referred to.
    pub media_type: String,
    /// The digest of the content referred to.
    pub digest: Digest,
    /// The size of the content in bytes.
    pub size: u64,
    /// The artifact type of a manifest referred to (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform an image runs on, in an index's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// `application/vnd.oci.empty.v1+json`: the media type of the empty JSON `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

impl Descriptor {
    /// A descriptor of content of `media_type`, `digest` and `size`, with no optional field.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            annotations: None,
            platform: None,
        }
    }
}

impl Default for Descriptor {
    fn default() -> Self {
        Self::new(OCI_EMPTY, Digest::sha256(b"{}"), 2)
    }
}

/// The platform an image in an index runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// The CPU architecture (`amd64`, `arm64`, …), as in Go's `GOARCH`.
    pub architecture: String,
    /// The operating system (`linux`, `windows`, …), as in Go's `GOOS`.
    pub os: String,
    /// The CPU variant (`v8` for `arm64/v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The operating system version (Windows builds).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

/// An image manifest: a configuration and layers. OCI image manifests, Docker image
/// manifests v2 schema 2 and OCI 1.1 artifacts (with `artifact_type`) have this shape.
///
/// The default is an OCI image manifest with the empty config and no layers; serialised
/// with [`ManifestBody::json`], it is what [`ContainerRegistryClient::set_manifest`] stores.
///
/// ```
/// # fn demo(config: acr::Descriptor, layer: acr::Descriptor) -> acr::Result<()> {
/// let manifest = acr::ImageManifest {
///     config,
///     layers: vec![layer],
///     ..Default::default()
/// };
/// let body = acr::ManifestBody::json(&manifest)?;
/// # let _ = body; Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The media type the manifest names itself (required for Docker, optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The kind of artifact, for manifests that are not container images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image configuration blob.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to, making it one of that manifest's referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Default for ImageManifest {
    fn default() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_MANIFEST.to_owned()),
            artifact_type: None,
            config: Descriptor::default(),
            layers: Vec::new(),
            subject: None,
            annotations: None,
        }
    }
}

/// An image index: manifests for several platforms (OCI image index, Docker manifest
/// list), or the referrers of a manifest.
///
/// The default is an empty OCI image index; store it with the media type
/// [`OCI_IMAGE_INDEX`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The media type the index names itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The kind of artifact, for indexes that are not multi-platform images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests listed.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Default for ImageIndex {
    fn default() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_INDEX.to_owned()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: None,
        }
    }
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
            .map(|_| media_type)
            .ok_or_else(|| Error::InvalidInput(format!("{media_type:?} is not a media type")))?;

        let operation = self
            .client
            .pipeline
            .operation("set_manifest", Some(self.repository));
        let repository = self.repository;
        let body = bytes.clone();
        let response = operation
            .run(|client| async move {
                client
                    .put_manifest()
                    .name(repository)
                    .reference(reference)
                    .content_type(content_type)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
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

/// The OCI artifact manifest of the 1.1 release candidates, which has no `schemaVersion`.
const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";

/// The media types asked for, one by one: those of [`MANIFEST_ACCEPT`].
const MANIFEST_MEDIA_TYPES: [&str; 5] = [
    OCI_IMAGE_MANIFEST,
    OCI_IMAGE_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_ARTIFACT_MANIFEST,
];

/// Whether `bytes`, answered as `media_type`, have the form of such a manifest: one of the
/// media types asked for, a JSON object, naming no other media type, and of schema
/// version 2 where the type has one. An HTML page from a proxy, or a body cut short,
/// fails here.
fn check_manifest_form(media_type: &str, bytes: &[u8]) -> std::result::Result<(), String> {
    if !MANIFEST_MEDIA_TYPES.contains(&media_type) {
        return Err(format!(
            "the answer is {media_type}, which was not asked for"
        ));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Form {
        media_type: Option<String>,
        schema_version: Option<serde_json::Value>,
    }
    let form: Form =
        serde_json::from_slice(bytes).map_err(|e| format!("the body is not a JSON object: {e}"))?;
    if let Some(named) = form.media_type.filter(|named| named != media_type) {
        return Err(format!("the body names {named}, the answer {media_type}"));
    }
    let versioned = media_type != OCI_ARTIFACT_MANIFEST;
    if versioned && form.schema_version != Some(serde_json::Value::from(2)) {
        return Err(format!(
            "schemaVersion is {}, not 2",
            form.schema_version
                .map_or_else(|| "missing".to_owned(), |v| v.to_string())
        ));
    }
    Ok(())
}

/// A manifest is read whole inside each try, up to [`MAX_MANIFEST_SIZE`].
pub(crate) const MANIFEST_LIMIT: BodyLimit = BodyLimit {
    limit: MAX_MANIFEST_SIZE,
    over: |limit, declared| Error::ManifestTooLarge { limit, declared },
    // Any bytes may be a manifest; the kinds this crate knows are checked by `get_manifest`.
    json: false,
};

/// The body of a generated byte-stream answer, which the pipeline has already read whole.
pub(crate) async fn collect(stream: acr_rest::ByteStream) -> Result<Bytes> {
    let mut stream = stream.into_inner();
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(crate::pipeline::transport_error)?;
        if body.is_empty() && stream.size_hint().1 == Some(0) {
            return Ok(chunk);
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
        reference: impl IntoReference,
    ) -> Result<GetManifestResult> {
        validate_repository(repository)?;
        let reference = reference.into_reference()?;
        if let Reference::Digest(requested) = &reference {
            // Fail before the request for an algorithm that cannot be checked.
            requested.hasher()?;
        }
        // Bytes that fail their checks are fetched once more (a proxy or a connection may
        // have damaged them); twice is the registry's answer.
        match self.fetch_manifest(repository, &reference).await {
            Err(first @ (Error::DigestMismatch { .. } | Error::Protocol(_))) => {
                tracing::debug!(error = %first, "manifest failed its checks; fetching it once more");
                match self.fetch_manifest(repository, &reference).await {
                    // What was seen is the answer, not that the second look failed.
                    Err(Error::Transport(_)) => Err(first),
                    outcome => outcome,
                }
            }
            outcome => outcome,
        }
    }

    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &Reference,
    ) -> Result<GetManifestResult> {
        let operation =
            self.pipeline
                .buffered_operation("get_manifest", Some(repository), MANIFEST_LIMIT);
        let wire_reference = reference.as_str();
        let response = operation
            .run(|client| async move {
                client
                    .get_manifest()
                    .name(repository)
                    .reference(wire_reference)
                    .accept(MANIFEST_ACCEPT)
                    .send()
                    .await
            })
            .await?;
        let media_type = media_type_of(response.headers());
        let announced = docker_content_digest(response.headers())?;
        let request_id = request_id(response.headers());
        let bytes = collect(response.into_inner()).await?;

        if let Reference::Digest(requested) = reference {
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
        if let Reference::Tag(tag) = reference {
            // Nothing but its form vouches for what a tag names.
            check_manifest_form(&media_type, &bytes).map_err(|why| {
                Error::Protocol(format!("tag {tag} did not answer with a manifest: {why}"))
            })?;
        }
        let digest = match (reference, announced) {
            (Reference::Digest(requested), _) => requested.clone(),
            (Reference::Tag(_), Some(announced)) => announced,
            (Reference::Tag(_), None) => Digest::sha256(&bytes),
        };
        Ok(GetManifestResult {
            digest,
            media_type,
            bytes,
            request_id,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(media_type: &str, body: &'static str) -> GetManifestResult {
        GetManifestResult {
            digest: Digest::sha256(body.as_bytes()),
            media_type: media_type.to_owned(),
            bytes: Bytes::from_static(body.as_bytes()),
            request_id: None,
        }
    }

    #[test]
    fn the_accept_header_lists_exactly_the_media_types_checked() {
        let listed: Vec<&str> = MANIFEST_ACCEPT.split(", ").collect();
        assert_eq!(listed, MANIFEST_MEDIA_TYPES);
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
