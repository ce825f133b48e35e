//! `acr`: a client for Azure Container Registry, and for OCI distribution registries in
//! general.
//!
//! What the Python package `azure-containerregistry` 1.2 offers, in Rust form:
//! - registry operations: list, get, update and delete repositories, tags and manifests;
//! - content operations: upload and download blobs (chunked, streamed, digest-checked), set
//!   and get manifests of any media type;
//! - authentication: Azure AD credentials exchanged for ACR tokens, username and password,
//!   ACR refresh tokens, and anonymous access.
//!
//! # Authentication
//!
//! ```no_run
//! use acr::{ContainerRegistryClient, Credential};
//!
//! # fn demo() -> acr::Result<()> {
//! // Anonymous pull, where the registry allows it.
//! let anonymous = ContainerRegistryClient::builder("https://myregistry.azurecr.io").build()?;
//!
//! // The admin user, or a repository-scoped token.
//! let basic = ContainerRegistryClient::builder("https://myregistry.azurecr.io")
//!     .credential(Credential::basic("myregistry", std::env::var("ACR_PASSWORD").unwrap()))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Every request goes through one pipeline: per-call settings (`User-Agent`, a fresh
//! `x-ms-client-request-id`, https only), retries ([`RetryOptions`]), authentication (the
//! registry's `WWW-Authenticate` challenge answered with a token that is then cached per
//! scope and sent up front), logging through `tracing` (one span per operation, no secret
//! at any level), and the transport, which follows redirects without carrying
//! `Authorization` to another host.
//!
//! The wire protocol lives in the generated `acr-rest` crate, which this crate wraps without
//! exposing its types.

// The README's examples compile as doc tests of this crate.
#[cfg(all(doctest, feature = "azure-identity", feature = "blocking"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

mod auth;
#[cfg(feature = "azure-identity")]
mod azure;
mod blob;
#[cfg(feature = "blocking")]
pub mod blocking;
mod client;
mod credential;
mod error;
mod link;
mod login;
mod manifest;
mod models;
mod names;
mod pager;
mod pipeline;
mod range;
mod reference;
mod referrers;
mod registry;
mod retry;
mod secret;

/// Entry points for the fuzz targets in `fuzz/` (built with `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a `WWW-Authenticate` value.
    pub fn parse_challenges(header: &[u8]) {
        let _ = crate::auth::challenge::parse(header);
    }

    /// Reads the `exp` and `aud` of a token.
    pub fn jwt_expiry(token: &str) {
        let _ = crate::auth::jwt::expiry(token);
        let _ = crate::auth::jwt::audience(token);
    }

    /// Parses a `Content-Range` value.
    pub fn content_range(value: &str) {
        let _ = crate::range::parse_content_range(value);
    }

    /// Finds the next link in a `Link` value.
    pub fn next_link(value: &[u8]) {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::LINK, value);
            let _ = crate::link::next_link(&headers);
        }
    }

    /// Parses a tag or digest.
    pub fn reference(value: &str) {
        let _ = crate::reference::Reference::parse(value);
    }
}

pub use blob::{
    BlobData, DEFAULT_DOWNLOAD_CHUNK_SIZE, DEFAULT_UPLOAD_CHUNK_SIZE, DownloadBlob,
    DownloadBlobStream, MountOutcome, UploadBlob, UploadBlobResult,
};
pub use client::{
    API_VERSION, ContainerRegistryClient, ContainerRegistryClientBuilder, DEFAULT_AUDIENCE,
};
pub use credential::{AccessToken, Credential, TokenCredential};
pub use error::{BoxError, Error, Result};
pub use manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, GetManifestResult, ImageIndex,
    ImageManifest, MAX_MANIFEST_SIZE, ManifestBody, OCI_EMPTY, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST,
    Platform, SetManifest,
};
pub use models::{
    ArtifactArchitecture, ArtifactManifestOrder, ArtifactManifestPlatform,
    ArtifactManifestProperties, ArtifactOperatingSystem, ArtifactTagOrder, ArtifactTagProperties,
    PropertiesUpdate, RepositoryProperties,
};
pub use pager::{MAX_LISTING_PAGE_BYTES, Page, Pager, Pages};
pub use reference::{Digest, IntoReference, Reference};
pub use retry::RetryOptions;
pub use secret::Secret;
