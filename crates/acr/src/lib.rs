//! `acr`: a client for Azure Container Registry, and for OCI distribution registries in
//! general.
//!
//! The crate will offer what the Python package `azure-containerregistry` 1.2 offers, in
//! Rust form:
//! - registry operations: list, get, update and delete repositories, tags and manifests;
//! - content operations: upload and download blobs (chunked, streamed, digest-checked), set
//!   and get manifests of any media type;
//! - authentication: Azure AD credentials exchanged for ACR tokens, and anonymous access.
//!
//! This release holds the foundation only: the [`Error`] type that every operation will
//! return. The wire protocol lives in the generated `acr-rest` crate, which this crate wraps
//! without exposing its types.

mod error;

pub use error::{BoxError, Error, Result};
