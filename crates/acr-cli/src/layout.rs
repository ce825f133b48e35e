//! Whole images between a registry and an OCI image layout directory (OCI image spec,
//! "Image Layout"): `oci-layout`, `index.json` naming each image by
//! `org.opencontainers.image.ref.name`, and content in `blobs/<algorithm>/<encoded>`.

use std::path::{Path, PathBuf};

use acr::{ContainerRegistryClient, Descriptor, Digest};
use serde_json::{Value, json};

use crate::commands::{digest, pull_file, push_file};
use crate::error::{CliError, CliResult};
use crate::files::{self, Access};
use crate::output::{self, Output};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_VERSION: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// `REPOSITORY:TAG` or `REPOSITORY@DIGEST`; a bare repository means its `latest` tag.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageReference {
    pub(crate) repository: String,
    pub(crate) reference: Reference,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reference {
    Tag(String),
    Digest(Digest),
}

impl ImageReference {
    pub(crate) fn parse(value: &str) -> CliResult<Self> {
        let (repository, reference) = if let Some((repository, d)) = value.split_once('@') {
            (repository, Reference::Digest(digest(d)?))
        } else {
            // A colon before the last slash belongs to a port, not a tag.
            let name_start = value.rfind('/').map_or(0, |i| i + 1);
            match value[name_start..].rfind(':') {
                Some(i) => (
                    &value[..name_start + i],
                    Reference::Tag(value[name_start + i + 1..].to_owned()),
                ),
                None => (value, Reference::Tag("latest".to_owned())),
            }
        };
        if repository.is_empty() || matches!(&reference, Reference::Tag(t) if t.is_empty()) {
            return Err(CliError::Usage(format!(
                "{value:?} is not REPOSITORY:TAG or REPOSITORY@DIGEST"
            )));
        }
        Ok(Self {
            repository: repository.to_owned(),
            reference,
        })
    }

    fn reference_str(&self) -> &str {
        match &self.reference {
            Reference::Tag(tag) => tag,
            Reference::Digest(digest) => digest.as_str(),
        }
    }
}

fn blob_path(directory: &Path, digest: &Digest) -> PathBuf {
    directory
        .join("blobs")
        .join(digest.algorithm())
        .join(digest.encoded())
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    match media_type {
        acr::OCI_IMAGE_INDEX | acr::DOCKER_MANIFEST_LIST => true,
        acr::OCI_IMAGE_MANIFEST | acr::DOCKER_MANIFEST => false,
        // Other media types are judged by shape: an index lists manifests.
        _ => serde_json::from_slice::<Value>(bytes)
            .is_ok_and(|v| v.get("manifests").is_some() && v.get("config").is_none()),
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> CliResult<T> {
    serde_json::from_slice(bytes).map_err(|e| CliError::Other(format!("{what}: {e}")))
}

/// What a transfer did, for the summary.
#[derive(Debug, Default)]
struct Tally {
    blobs: usize,
    skipped: usize,
    manifests: usize,
    bytes: u64,
}

/// The platform `--platform` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Wanted {
    /// Parses `os/arch` or `os/arch/variant`.
    pub(crate) fn parse(value: &str) -> CliResult<Self> {
        let parts: Vec<&str> = value.split('/').collect();
        match parts.as_slice() {
            [os, architecture, rest @ ..]
                if rest.len() <= 1 && !os.is_empty() && !architecture.is_empty() =>
            {
                let variant = rest.first().map(|v| (*v).to_owned());
                if variant.as_deref() == Some("") {
                    return Err(Self::invalid(value));
                }
                Ok(Self {
                    os: (*os).to_owned(),
                    architecture: (*architecture).to_owned(),
                    variant,
                })
            }
            _ => Err(Self::invalid(value)),
        }
    }

    fn invalid(value: &str) -> CliError {
        CliError::Usage(format!(
            "--platform {value:?} is not OS/ARCH or OS/ARCH/VARIANT"
        ))
    }

    /// Whether `platform` is this one; without a variant asked for, any variant is.
    fn matches(&self, platform: &acr::Platform) -> bool {
        platform.os == self.os
            && platform.architecture == self.architecture
            && self
                .variant
                .as_ref()
                .is_none_or(|v| platform.variant.as_ref() == Some(v))
    }
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The platforms an index offers, for a message.
fn offered(index: &acr::ImageIndex) -> String {
    let platforms: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| match &p.variant {
            Some(variant) => format!("{}/{}/{variant}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    if platforms.is_empty() {
        "none named".to_owned()
    } else {
        platforms.join(", ")
    }
}

/// Whether the file at `path` exists and hashes to `digest` (sha256 only; content under
/// another algorithm is fetched again).
async fn verified(path: &Path, digest: &Digest) -> CliResult<bool> {
    if digest.algorithm() != "sha256" {
        return Ok(false);
    }
    let path = path.to_path_buf();
    let expected = digest.encoded().to_owned();
    let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<Option<String>> {
        use sha2::Digest as _;
        use std::io::Read as _;
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        let hash = hasher.finalize();
        Ok(Some(hash.iter().map(|b| format!("{b:02x}")).collect()))
    })
    .await
    .map_err(|e| CliError::Other(format!("hashing {}: {e}", digest)))?
    .map_err(|e| CliError::Other(format!("hashing the blob {digest} in the layout: {e}")))?;
    Ok(hashed.is_some_and(|h| h == expected))
}

pub(crate) async fn pull(
    client: &ContainerRegistryClient,
    out: Output,
    image: &ImageReference,
    directory: &Path,
    platform: Option<&Wanted>,
) -> CliResult<()> {
    let mut tally = Tally::default();
    let mut top = client
        .get_manifest(&image.repository, image.reference_str())
        .await?;
    if let Some(wanted) = platform.filter(|_| is_index(&top.media_type, &top.bytes)) {
        let index: acr::ImageIndex = parse(&top.bytes, "the image index")?;
        let Some(child) = index
            .manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
        else {
            return Err(CliError::Acr(acr::Error::NotFound {
                code: None,
                message: format!(
                    "{}:{} has no image for {wanted} (it has {})",
                    image.repository,
                    image.reference_str(),
                    offered(&index)
                ),
                request_id: None,
            }));
        };
        top = client
            .get_manifest(&image.repository, child.digest.as_str())
            .await?;
    }
    let mut pending = vec![(
        top.digest.clone(),
        top.media_type.clone(),
        top.bytes.clone(),
    )];
    while let Some((manifest_digest, media_type, bytes)) = pending.pop() {
        write_blob(directory, &manifest_digest, &bytes).await?;
        tally.manifests += 1;
        if is_index(&media_type, &bytes) {
            let index: acr::ImageIndex = parse(&bytes, "the image index")?;
            for child in index.manifests {
                let manifest = client
                    .get_manifest(&image.repository, child.digest.as_str())
                    .await?;
                pending.push((manifest.digest, manifest.media_type, manifest.bytes));
            }
        } else {
            let manifest: acr::ImageManifest = parse(&bytes, "the image manifest")?;
            for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
                let path = blob_path(directory, &blob.digest);
                if verified(&path, &blob.digest).await? {
                    tally.skipped += 1;
                    continue;
                }
                create_parent(&path).await?;
                tally.bytes += pull_file(client, &image.repository, &blob.digest, &path).await?;
                tally.blobs += 1;
            }
        }
    }
    let descriptor = json!({
        "mediaType": top.media_type,
        "digest": top.digest.as_str(),
        "size": top.bytes.len(),
    });
    record_in_index(directory, descriptor, &image.reference).await?;
    out.print(
        || top.digest.to_string(),
        || summary(image, &top.digest, &top.media_type, &tally),
    )
}

fn summary(image: &ImageReference, digest: &Digest, media_type: &str, tally: &Tally) -> Value {
    json!({
        "repository": image.repository,
        "reference": image.reference_str(),
        "digest": digest.as_str(),
        "mediaType": media_type,
        "manifests": tally.manifests,
        "blobs": tally.blobs,
        "blobsSkipped": tally.skipped,
        "bytes": tally.bytes,
    })
}

async fn create_parent(path: &Path) -> CliResult<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| CliError::io("creating", parent, e))?;
    }
    Ok(())
}

async fn write_blob(directory: &Path, digest: &Digest, bytes: &[u8]) -> CliResult<()> {
    let path = blob_path(directory, digest);
    create_parent(&path).await?;
    files::write(&path, bytes, Access::Shared)
}

/// Writes `oci-layout`, and names `descriptor` in `index.json` (kept, if there is one,
/// with any entry of the same name replaced).
async fn record_in_index(
    directory: &Path,
    mut descriptor: Value,
    reference: &Reference,
) -> CliResult<()> {
    let layout = directory.join("oci-layout");
    files::write(&layout, LAYOUT_VERSION.as_bytes(), Access::Shared)?;
    let index_path = directory.join("index.json");
    let mut index = match tokio::fs::read(&index_path).await {
        Ok(bytes) => parse::<Value>(&bytes, &index_path.display().to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            json!({ "schemaVersion": 2, "mediaType": acr::OCI_IMAGE_INDEX, "manifests": [] })
        }
        Err(e) => return Err(CliError::io("reading", &index_path, e)),
    };
    let Some(manifests) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
        return Err(CliError::Other(format!(
            "{} has no manifests list",
            index_path.display()
        )));
    };
    match reference {
        Reference::Tag(tag) => {
            manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag.as_str()));
            descriptor["annotations"] = json!({ REF_NAME: tag });
        }
        Reference::Digest(_) => {
            let digest = descriptor["digest"].clone();
            manifests.retain(|m| m["digest"] != digest || m.get("annotations").is_some());
        }
    }
    manifests.push(descriptor);
    let bytes = serde_json::to_vec_pretty(&index)
        .map_err(|e| CliError::Other(format!("cannot render index.json: {e}")))?;
    files::write(&index_path, &bytes, Access::Shared)
}

/// The descriptor of the image to push: the one named `tag` in `index.json`, else the
/// only one there.
async fn find_in_index(directory: &Path, reference: &Reference) -> CliResult<Descriptor> {
    let index_path = directory.join("index.json");
    let bytes = tokio::fs::read(&index_path)
        .await
        .map_err(|e| CliError::io("reading", &index_path, e))?;
    let index: acr::ImageIndex = parse(&bytes, &index_path.display().to_string())?;
    let named = |d: &&Descriptor| match reference {
        Reference::Tag(tag) => d
            .annotations
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .is_some_and(|name| name == tag),
        Reference::Digest(digest) => &d.digest == digest,
    };
    if let Some(found) = index.manifests.iter().find(named) {
        return Ok(found.clone());
    }
    match index.manifests.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(CliError::Other(format!(
            "{} lists no image",
            index_path.display()
        ))),
        _ => Err(CliError::Usage(format!(
            "{} lists several images, none named {}",
            index_path.display(),
            match reference {
                Reference::Tag(tag) => tag.clone(),
                Reference::Digest(digest) => digest.to_string(),
            }
        ))),
    }
}

/// A manifest from the layout, checked against the digest that names it.
async fn read_manifest(directory: &Path, descriptor: &Descriptor) -> CliResult<Vec<u8>> {
    let path = blob_path(directory, &descriptor.digest);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| CliError::io("reading", &path, e))?;
    let actual = match descriptor.digest.algorithm() {
        "sha256" => Digest::sha256(&bytes),
        other => {
            return Err(CliError::Other(format!(
                "manifest {} uses {other}; only sha256 manifests can be pushed",
                descriptor.digest
            )));
        }
    };
    if actual != descriptor.digest {
        return Err(CliError::Integrity(format!(
            "{} does not match its digest: it hashes to {actual}",
            path.display()
        )));
    }
    Ok(bytes)
}

pub(crate) async fn push(
    client: &ContainerRegistryClient,
    out: Output,
    image: &ImageReference,
    directory: &Path,
) -> CliResult<()> {
    let top = find_in_index(directory, &image.reference).await?;
    let mut tally = Tally::default();
    // Children before parents: a registry may refuse a manifest whose content is missing.
    let mut order = Vec::new();
    let mut pending = vec![top.clone()];
    while let Some(descriptor) = pending.pop() {
        let bytes = read_manifest(directory, &descriptor).await?;
        if is_index(&descriptor.media_type, &bytes) {
            let index: acr::ImageIndex = parse(&bytes, &format!("index {}", descriptor.digest))?;
            pending.extend(index.manifests);
        } else {
            let manifest: acr::ImageManifest =
                parse(&bytes, &format!("manifest {}", descriptor.digest))?;
            for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
                push_blob(client, &image.repository, directory, blob, &mut tally).await?;
            }
        }
        order.push((descriptor, bytes));
    }
    for (descriptor, bytes) in order.into_iter().rev() {
        let mut request = client
            .set_manifest(&image.repository, bytes)
            .media_type(&descriptor.media_type);
        let is_top = descriptor.digest == top.digest;
        if let (true, Reference::Tag(tag)) = (is_top, &image.reference) {
            request = request.tag(tag);
        }
        let digest = request.await?;
        if digest != descriptor.digest {
            return Err(CliError::Integrity(format!(
                "the registry stored manifest {} as {digest}",
                descriptor.digest
            )));
        }
        tally.manifests += 1;
    }
    out.print(
        || top.digest.to_string(),
        || summary(image, &top.digest, &top.media_type, &tally),
    )
}

async fn push_blob(
    client: &ContainerRegistryClient,
    repository: &str,
    directory: &Path,
    blob: &Descriptor,
    tally: &mut Tally,
) -> CliResult<()> {
    if client
        .blob_exists(repository, &blob.digest)
        .await?
        .is_some()
    {
        tally.skipped += 1;
        return Ok(());
    }
    let path = blob_path(directory, &blob.digest);
    let uploaded = push_file(client, repository, &path, &output::short(&blob.digest)).await?;
    if uploaded.digest != blob.digest {
        // Already uploaded under its true digest, where nothing refers to it; harmless.
        return Err(CliError::Integrity(format!(
            "{} does not match its digest: it hashes to {}",
            path.display(),
            uploaded.digest
        )));
    }
    tally.blobs += 1;
    tally.bytes += uploaded.size;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_or_digest() {
        let parsed = ImageReference::parse("library/hello:v1").unwrap();
        assert_eq!(parsed.repository, "library/hello");
        assert_eq!(parsed.reference, Reference::Tag("v1".into()));
        let parsed = ImageReference::parse("hello").unwrap();
        assert_eq!(parsed.reference, Reference::Tag("latest".into()));
        let digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        let parsed = ImageReference::parse(&format!("a/b@{digest}")).unwrap();
        assert_eq!(parsed.repository, "a/b");
        assert_eq!(parsed.reference, Reference::Digest(digest.parse().unwrap()));
        for bad in ["", ":v1", "hello:", "a@sha256:short"] {
            assert!(ImageReference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn platforms_are_os_arch_and_an_optional_variant() {
        let arm = Wanted::parse("linux/arm64/v8").unwrap();
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        let platform = |variant: Option<&str>| -> acr::Platform {
            serde_json::from_value(json!({
                "architecture": "arm64",
                "os": "linux",
                "variant": variant,
            }))
            .unwrap()
        };
        assert!(arm.matches(&platform(Some("v8"))));
        assert!(!arm.matches(&platform(None)));
        assert!(
            Wanted::parse("linux/arm64")
                .unwrap()
                .matches(&platform(Some("v8")))
        );
        assert!(
            !Wanted::parse("linux/amd64")
                .unwrap()
                .matches(&platform(None))
        );
        for bad in ["", "linux", "linux/", "/amd64", "linux/arm64/", "a/b/c/d"] {
            assert!(Wanted::parse(bad).is_err(), "{bad}");
        }
    }
}
