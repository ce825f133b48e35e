//! The registry's content: blobs, manifests, tags, repositories and upload sessions.
//!
//! Everything lives behind one mutex in [`Registry`]; an emulator for tests never needs
//! finer locking, and one lock keeps every operation atomic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::{self, DigestError, is_digest, sha256_digest};
use crate::index::{Tags, Timeline};

/// ACR's media types that an index may carry.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Whether a layer of this media type may live outside the registry (Windows base layers,
/// for one): OCI's non-distributable layers and Docker's foreign ones. Their blobs are
/// fetched from the descriptor's `urls`, so a manifest need not find them here.
fn is_foreign_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.nondistributable.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.foreign.")
}

/// The largest manifest ACR accepts (and clients accept), 4 MiB.
pub(crate) const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// The four flags ACR lets users toggle on repositories, manifests and tags.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attributes {
    pub(crate) delete_enabled: bool,
    pub(crate) write_enabled: bool,
    pub(crate) read_enabled: bool,
    pub(crate) list_enabled: bool,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            delete_enabled: true,
            write_enabled: true,
            read_enabled: true,
            list_enabled: true,
        }
    }
}

impl Attributes {
    /// ACR refuses deletes when either flag is off (Azure/acr-cli#70: a tag with
    /// `writeEnabled:false` cannot be deleted even with `deleteEnabled:true`).
    pub(crate) fn deletable(&self) -> bool {
        self.delete_enabled && self.write_enabled
    }

    /// Applies the fields present in a PATCH body; unknown fields are ignored like ACR does.
    pub(crate) fn patch(&mut self, body: &serde_json::Value) -> Result<(), String> {
        let Some(map) = body.as_object() else {
            return Err("the request body must be a JSON object".into());
        };
        for (key, slot) in [
            ("deleteEnabled", &mut self.delete_enabled),
            ("writeEnabled", &mut self.write_enabled),
            ("readEnabled", &mut self.read_enabled),
            ("listEnabled", &mut self.list_enabled),
        ] {
            match map.get(key) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::Bool(b)) => *slot = *b,
                Some(_) => return Err(format!("{key} must be a boolean")),
            }
        }
        Ok(())
    }

    pub(crate) fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "deleteEnabled": self.delete_enabled,
            "writeEnabled": self.write_enabled,
            "readEnabled": self.read_enabled,
            "listEnabled": self.list_enabled,
        })
    }
}

/// A platform-specific child of an index, as ACR reports it under `references`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Reference {
    pub(crate) digest: String,
    pub(crate) architecture: Option<String>,
    pub(crate) os: Option<String>,
}

/// What the registry knows about one manifest in one repository.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ManifestMeta {
    pub(crate) media_type: String,
    pub(crate) size: u64,
    pub(crate) image_size: u64,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) attributes: Attributes,
    pub(crate) architecture: Option<String>,
    pub(crate) os: Option<String>,
    pub(crate) config_media_type: Option<String>,
    pub(crate) artifact_type: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) annotations: Option<serde_json::Value>,
    pub(crate) references: Vec<Reference>,
}

/// A tag and the digest it points at.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TagMeta {
    pub(crate) digest: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) attributes: Attributes,
}

/// One repository.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Repo {
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) attributes: Attributes,
    /// A repository shows in catalogs once a manifest has been pushed to it; blobs alone
    /// do not make it visible, as on ACR.
    pub(crate) visible: bool,
    pub(crate) blobs: BTreeSet<String>,
    pub(crate) manifests: Timeline<ManifestMeta>,
    pub(crate) tags: Tags,
}

impl Repo {
    fn new(now: DateTime<Utc>) -> Self {
        Repo {
            created: now,
            updated: now,
            attributes: Attributes::default(),
            visible: false,
            blobs: BTreeSet::new(),
            manifests: Timeline::default(),
            tags: Tags::default(),
        }
    }

    /// Resolves a tag or digest to a digest present in this repository.
    pub(crate) fn resolve(&self, reference: &str) -> Option<String> {
        if is_digest(reference) {
            self.manifests
                .contains_key(reference)
                .then(|| reference.to_string())
        } else {
            self.tags.get(reference).map(|t| t.digest.clone())
        }
    }
}

/// An upload session started by `POST /v2/<name>/blobs/uploads/`.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub(crate) repo: String,
    pub(crate) data: Vec<u8>,
    pub(crate) started: DateTime<Utc>,
}

/// The part of the state that is saved to disk with [`crate::Storage::Directory`].
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) repos: BTreeMap<String, Repo>,
}

/// Where blob (and manifest) bytes are kept.
pub(crate) enum BlobStore {
    Memory(HashMap<String, Bytes>),
    Directory(PathBuf),
}

impl BlobStore {
    fn path(dir: &std::path::Path, digest: &str) -> PathBuf {
        dir.join("blobs").join(digest.replace(':', "-"))
    }

    pub(crate) fn get(&self, digest: &str) -> Option<Bytes> {
        match self {
            BlobStore::Memory(map) => map.get(digest).cloned(),
            BlobStore::Directory(dir) => {
                std::fs::read(Self::path(dir, digest)).ok().map(Bytes::from)
            }
        }
    }

    pub(crate) fn contains(&self, digest: &str) -> bool {
        match self {
            BlobStore::Memory(map) => map.contains_key(digest),
            BlobStore::Directory(dir) => Self::path(dir, digest).is_file(),
        }
    }

    pub(crate) fn put(&mut self, digest: &str, data: Bytes) -> std::io::Result<()> {
        match self {
            BlobStore::Memory(map) => {
                map.insert(digest.to_string(), data);
                Ok(())
            }
            BlobStore::Directory(dir) => {
                let path = Self::path(dir, digest);
                if path.is_file() {
                    return Ok(());
                }
                std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
                // Written beside the target then renamed, so a crash never leaves a
                // blob whose bytes do not match its name.
                let tmp = path.with_extension("partial");
                std::fs::write(&tmp, &data)?;
                std::fs::rename(tmp, path)
            }
        }
    }
}

/// The whole registry.
pub(crate) struct Registry {
    pub(crate) meta: Metadata,
    pub(crate) blobs: BlobStore,
    pub(crate) uploads: HashMap<String, Upload>,
    last_time: DateTime<Utc>,
    upload_counter: u64,
}

/// Why a manifest was refused.
#[derive(Debug)]
pub(crate) enum PutManifestError {
    TooLarge,
    Invalid(String),
    DigestMismatch,
    /// The reference is neither a digest nor a valid tag.
    InvalidTag,
    /// The reference is a digest the registry cannot check the manifest against.
    Digest(DigestError),
    BlobUnknown(String),
    Locked,
    Io(std::io::Error),
}

impl Registry {
    pub(crate) fn new(dir: Option<PathBuf>) -> std::io::Result<Self> {
        let (meta, blobs) = match dir {
            None => (Metadata::default(), BlobStore::Memory(HashMap::new())),
            Some(dir) => {
                std::fs::create_dir_all(dir.join("blobs"))?;
                let state = dir.join("state.json");
                let meta = match std::fs::read(&state) {
                    Ok(bytes) => serde_json::from_slice(&bytes)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Metadata::default(),
                    Err(e) => return Err(e),
                };
                (meta, BlobStore::Directory(dir))
            }
        };
        Ok(Registry {
            meta,
            blobs,
            uploads: HashMap::new(),
            last_time: DateTime::<Utc>::MIN_UTC,
            upload_counter: 0,
        })
    }

    /// A timestamp later than every one handed out before, so `timeasc`/`timedesc`
    /// orderings are total even when operations land within the clock's resolution.
    pub(crate) fn now(&mut self) -> DateTime<Utc> {
        let mut now = Utc::now();
        if now <= self.last_time {
            now = self.last_time + ChronoDuration::microseconds(1);
        }
        self.last_time = now;
        now
    }

    /// Saves the metadata when the registry is backed by a directory.
    pub(crate) fn persist(&self) -> std::io::Result<()> {
        if let BlobStore::Directory(dir) = &self.blobs {
            let bytes = serde_json::to_vec_pretty(&self.meta)?;
            let tmp = dir.join("state.json.partial");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(tmp, dir.join("state.json"))?;
        }
        Ok(())
    }

    /// The repository, created (invisible) if needed.
    pub(crate) fn repo_mut(&mut self, name: &str) -> &mut Repo {
        let now = self.now();
        self.meta
            .repos
            .entry(name.to_string())
            .or_insert_with(|| Repo::new(now))
    }

    /// A repository that the catalog shows.
    pub(crate) fn visible_repo(&self, name: &str) -> Option<&Repo> {
        self.meta.repos.get(name).filter(|r| r.visible)
    }

    pub(crate) fn visible_repo_mut(&mut self, name: &str) -> Option<&mut Repo> {
        self.meta.repos.get_mut(name).filter(|r| r.visible)
    }

    /// Whether `repo` holds blob `digest` (blobs are linked per repository, bytes shared).
    pub(crate) fn repo_has_blob(&self, repo: &str, digest: &str) -> bool {
        self.meta
            .repos
            .get(repo)
            .is_some_and(|r| r.blobs.contains(digest))
            && self.blobs.contains(digest)
    }

    /// Stores blob bytes under `digest`, which the caller has computed from them, and
    /// links them into `repo`.
    pub(crate) fn put_blob(
        &mut self,
        repo: &str,
        digest: &str,
        data: Bytes,
    ) -> std::io::Result<()> {
        self.blobs.put(digest, data)?;
        self.repo_mut(repo).blobs.insert(digest.to_string());
        self.persist()
    }

    /// Links an existing blob into another repository.
    pub(crate) fn link_blob(&mut self, repo: &str, digest: &str) -> std::io::Result<()> {
        self.repo_mut(repo).blobs.insert(digest.to_string());
        self.persist()
    }

    /// Starts an upload session; returns its id.
    pub(crate) fn start_upload(&mut self, repo: &str) -> String {
        self.upload_counter += 1;
        let now = self.now();
        let seed = format!(
            "{repo}\n{}\n{}",
            self.upload_counter,
            now.timestamp_nanos_opt().unwrap_or(0)
        );
        let hex = sha256_digest(seed.as_bytes());
        let h = &hex["sha256:".len()..];
        // Shaped like a UUID because ACR's ids are UUIDs and some clients log or parse them.
        let id = format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        self.uploads.insert(
            id.clone(),
            Upload {
                repo: repo.to_string(),
                data: Vec::new(),
                started: now,
            },
        );
        id
    }

    /// Stores a manifest under `reference` (a tag, or its own digest).
    /// `check_blobs` is off for content seeded through the library API.
    pub(crate) fn put_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        media_type: Option<&str>,
        body: Bytes,
        check_blobs: bool,
    ) -> Result<String, PutManifestError> {
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(PutManifestError::TooLarge);
        }
        // Pushed by digest, a manifest is named with that digest's algorithm; pushed by
        // tag, with sha256.
        let algorithm = if is_digest(reference) {
            digest::parse(reference).map_err(PutManifestError::Digest)?
        } else if crate::routes::valid_tag(reference) {
            digest::Algorithm::Sha256
        } else {
            return Err(PutManifestError::InvalidTag);
        };
        let digest = algorithm.digest(&body);
        if is_digest(reference) && reference != digest {
            return Err(PutManifestError::DigestMismatch);
        }
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| PutManifestError::Invalid(format!("manifest is not valid JSON: {e}")))?;
        if !json.is_object() {
            return Err(PutManifestError::Invalid(
                "manifest must be a JSON object".into(),
            ));
        }
        let media_type = media_type
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .or_else(|| {
                json.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
        let is_index =
            media_type == OCI_INDEX || media_type == DOCKER_LIST || json.get("manifests").is_some();

        let descriptor_digest =
            |v: &serde_json::Value| v.get("digest").and_then(|d| d.as_str()).map(str::to_string);
        let descriptor_size =
            |v: &serde_json::Value| v.get("size").and_then(|d| d.as_u64()).unwrap_or(0);

        let mut image_size = 0;
        let mut architecture = None;
        let mut os = None;
        let mut config_media_type = None;
        let mut references = Vec::new();
        if is_index {
            for child in json
                .get("manifests")
                .and_then(|m| m.as_array())
                .into_iter()
                .flatten()
            {
                image_size += descriptor_size(child);
                if let Some(d) = descriptor_digest(child) {
                    let platform = child.get("platform");
                    let field = |k: &str| {
                        platform
                            .and_then(|p| p.get(k))
                            .and_then(|v| v.as_str())
                            .map(str::to_string)
                    };
                    references.push(Reference {
                        digest: d,
                        architecture: field("architecture"),
                        os: field("os"),
                    });
                }
            }
        } else {
            let config = json.get("config");
            let layers: Vec<&serde_json::Value> = json
                .get("layers")
                .and_then(|l| l.as_array())
                .map(|l| l.iter().collect())
                .unwrap_or_default();
            let mut needed = Vec::new();
            if let Some(config) = config {
                image_size += descriptor_size(config);
                config_media_type = config
                    .get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string);
                if let Some(d) = descriptor_digest(config) {
                    // ACR reads the platform out of the config blob.
                    if let Some(bytes) = self.blobs.get(&d)
                        && let Ok(cfg) = serde_json::from_slice::<serde_json::Value>(&bytes)
                    {
                        architecture = cfg
                            .get("architecture")
                            .and_then(|v| v.as_str())
                            .map(str::to_string);
                        os = cfg.get("os").and_then(|v| v.as_str()).map(str::to_string);
                    }
                    needed.push(d);
                }
            }
            for layer in layers {
                image_size += descriptor_size(layer);
                let foreign = layer
                    .get("mediaType")
                    .and_then(|m| m.as_str())
                    .is_some_and(is_foreign_layer);
                if let Some(d) = descriptor_digest(layer)
                    && !foreign
                {
                    needed.push(d);
                }
            }
            if check_blobs {
                for d in needed {
                    if !self.repo_has_blob(repo, &d) {
                        return Err(PutManifestError::BlobUnknown(d));
                    }
                }
            }
        }
        let artifact_type = json
            .get("artifactType")
            .and_then(|a| a.as_str())
            .map(str::to_string);
        let subject = json.get("subject").and_then(descriptor_digest);
        let annotations = json.get("annotations").filter(|a| a.is_object()).cloned();

        let now = self.now();
        let repo_entry = self.repo_mut(repo);
        if !repo_entry.attributes.write_enabled && repo_entry.visible {
            return Err(PutManifestError::Locked);
        }
        if !is_digest(reference)
            && let Some(tag) = repo_entry.tags.get(reference)
            && tag.digest != digest
            && !tag.attributes.write_enabled
        {
            return Err(PutManifestError::Locked);
        }
        if let Some(existing) = repo_entry.manifests.get(&digest)
            && !existing.attributes.write_enabled
            && !is_digest(reference)
            && repo_entry.tags.get(reference).map(|t| &t.digest) != Some(&digest)
        {
            return Err(PutManifestError::Locked);
        }
        repo_entry.visible = true;
        repo_entry.updated = now;
        let size = body.len() as u64;
        // Pushing a manifest again (say, under a new tag) leaves its timestamps alone.
        if !repo_entry.manifests.contains_key(&digest) {
            repo_entry.manifests.insert(
                &digest,
                ManifestMeta {
                    media_type,
                    size,
                    image_size,
                    created: now,
                    updated: now,
                    attributes: Attributes::default(),
                    architecture,
                    os,
                    config_media_type,
                    artifact_type,
                    subject,
                    annotations,
                    references,
                },
            );
        }
        if !is_digest(reference) {
            repo_entry.tags.point(reference, &digest, now);
        }
        self.blobs
            .put(&digest, body)
            .map_err(PutManifestError::Io)?;
        self.persist().map_err(PutManifestError::Io)?;
        Ok(digest)
    }
}
