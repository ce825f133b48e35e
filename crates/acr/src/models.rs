//! What the registry reports about repositories, manifests and tags.

use chrono::{DateTime, Utc};

use crate::{Digest, Error, Result};

/// A digest the registry reported, which must be one.
fn reported_digest(value: &str, what: &str) -> Result<Digest> {
    Digest::parse(value).map_err(|_| {
        Error::Protocol(format!(
            "the registry reports {value:?} as the digest of {what}, which is not a digest"
        ))
    })
}

/// A repository's metadata and permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepositoryProperties {
    /// The registry's login server (`myregistry.azurecr.io`).
    pub registry: String,
    /// The repository name (`library/hello-world`).
    pub name: String,
    /// When the repository was created.
    pub created_on: DateTime<Utc>,
    /// When it last changed.
    pub last_updated_on: DateTime<Utc>,
    /// The number of manifests in it.
    pub manifest_count: u64,
    /// The number of tags in it.
    pub tag_count: u64,
    /// Whether the repository may be deleted; `None` when the registry did not say.
    pub can_delete: Option<bool>,
    /// Whether it may be written to.
    pub can_write: Option<bool>,
    /// Whether it may be read.
    pub can_read: Option<bool>,
    /// Whether it appears in listings.
    pub can_list: Option<bool>,
}

impl RepositoryProperties {
    pub(crate) fn from_wire(wire: acr_rest::types::RepositoryAttributes) -> Self {
        let attributes = wire.changeable_attributes.unwrap_or_default();
        Self {
            registry: wire.registry,
            name: wire.image_name,
            created_on: wire.created_time,
            last_updated_on: wire.last_update_time,
            manifest_count: u64::try_from(wire.manifest_count).unwrap_or(0),
            tag_count: u64::try_from(wire.tag_count).unwrap_or(0),
            can_delete: attributes.delete_enabled,
            can_write: attributes.write_enabled,
            can_read: attributes.read_enabled,
            can_list: attributes.list_enabled,
        }
    }
}

/// The permissions to change on a repository, manifest or tag: only the fields set are
/// sent, the others keep their current value.
///
/// ```
/// let lock = acr::PropertiesUpdate::default().can_write(false).can_delete(false);
/// # let _ = lock;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct PropertiesUpdate {
    pub(crate) can_delete: Option<bool>,
    pub(crate) can_write: Option<bool>,
    pub(crate) can_read: Option<bool>,
    pub(crate) can_list: Option<bool>,
}

impl PropertiesUpdate {
    /// Allows or forbids deletion.
    pub fn can_delete(mut self, value: bool) -> Self {
        self.can_delete = Some(value);
        self
    }

    /// Allows or forbids writes (pushes, tag moves).
    pub fn can_write(mut self, value: bool) -> Self {
        self.can_write = Some(value);
        self
    }

    /// Allows or forbids reads (pulls).
    pub fn can_read(mut self, value: bool) -> Self {
        self.can_read = Some(value);
        self
    }

    /// Shows or hides the item in listings.
    pub fn can_list(mut self, value: bool) -> Self {
        self.can_list = Some(value);
        self
    }

    pub(crate) fn to_repository_wire(&self) -> acr_rest::types::RepositoryChangeableAttributes {
        acr_rest::types::RepositoryChangeableAttributes {
            delete_enabled: self.can_delete,
            write_enabled: self.can_write,
            read_enabled: self.can_read,
            list_enabled: self.can_list,
        }
    }
}

/// A tag and what it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArtifactTagProperties {
    /// The repository the tag is in.
    pub repository_name: String,
    /// The tag.
    pub name: String,
    /// The digest of the manifest it points to.
    pub digest: Digest,
    /// When the tag was created.
    pub created_on: DateTime<Utc>,
    /// When it last changed.
    pub last_updated_on: DateTime<Utc>,
    /// Whether the tag may be deleted; `None` when the registry did not say.
    pub can_delete: Option<bool>,
    /// Whether it may be moved.
    pub can_write: Option<bool>,
    /// Whether it may be read.
    pub can_read: Option<bool>,
    /// Whether it appears in listings.
    pub can_list: Option<bool>,
}

impl ArtifactTagProperties {
    pub(crate) fn from_wire(
        repository: &str,
        tag: acr_rest::types::TagAttributesBase,
    ) -> Result<Self> {
        let attributes = tag.changeable_attributes.unwrap_or_default();
        Ok(Self {
            repository_name: repository.to_owned(),
            digest: reported_digest(&tag.digest, &format!("tag {}", tag.name))?,
            name: tag.name,
            created_on: tag.created_time,
            last_updated_on: tag.last_update_time,
            can_delete: attributes.delete_enabled,
            can_write: attributes.write_enabled,
            can_read: attributes.read_enabled,
            can_list: attributes.list_enabled,
        })
    }
}

/// A manifest (an image, an index, any artifact) and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArtifactManifestProperties {
    /// The registry's host, as the client reaches it (`myregistry.azurecr.io`).
    pub registry: String,
    /// The repository the manifest is in.
    pub repository_name: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's media type, when the registry reports it.
    pub media_type: Option<String>,
    /// The media type of the image's config, when the registry reports it.
    pub config_media_type: Option<String>,
    /// The total size of the image, in bytes.
    pub size_in_bytes: Option<u64>,
    /// When the manifest was pushed.
    pub created_on: DateTime<Utc>,
    /// When it last changed.
    pub last_updated_on: DateTime<Utc>,
    /// The CPU architecture of the image, for single-platform images.
    pub architecture: Option<ArtifactArchitecture>,
    /// The operating system of the image, for single-platform images.
    pub operating_system: Option<ArtifactOperatingSystem>,
    /// For an index (multi-platform image), the manifests it lists.
    pub related_artifacts: Vec<ArtifactManifestPlatform>,
    /// The tags that point to it.
    pub tags: Vec<String>,
    /// Whether the manifest may be deleted; `None` when the registry did not say.
    pub can_delete: Option<bool>,
    /// Whether it may be overwritten.
    pub can_write: Option<bool>,
    /// Whether it may be read.
    pub can_read: Option<bool>,
    /// Whether it appears in listings.
    pub can_list: Option<bool>,
}

impl ArtifactManifestProperties {
    /// `registry/repository@digest`, what `docker pull` takes.
    pub fn fully_qualified_reference(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repository_name, self.digest)
    }

    pub(crate) fn from_wire(
        registry: &str,
        repository: &str,
        wire: acr_rest::types::ManifestAttributesBase,
    ) -> Result<Self> {
        let attributes = wire.changeable_attributes.unwrap_or_default();
        let related_artifacts = wire
            .references
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                Ok(ArtifactManifestPlatform {
                    digest: reported_digest(&r.digest, "a platform manifest")?,
                    architecture: r.architecture.map(|a| ArtifactArchitecture::from(a.0)),
                    operating_system: r.os.map(|o| ArtifactOperatingSystem::from(o.0)),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            registry: registry.to_owned(),
            repository_name: repository.to_owned(),
            digest: reported_digest(&wire.digest, "a manifest")?,
            media_type: wire.media_type,
            config_media_type: wire.config_media_type,
            size_in_bytes: wire.image_size.and_then(|s| u64::try_from(s).ok()),
            created_on: wire.created_time,
            last_updated_on: wire.last_update_time,
            architecture: wire.architecture.map(|a| ArtifactArchitecture::from(a.0)),
            operating_system: wire.os.map(|o| ArtifactOperatingSystem::from(o.0)),
            related_artifacts,
            tags: wire.tags.unwrap_or_default(),
            can_delete: attributes.delete_enabled,
            can_write: attributes.write_enabled,
            can_read: attributes.read_enabled,
            can_list: attributes.list_enabled,
        })
    }
}

/// One platform's manifest in an index.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArtifactManifestPlatform {
    /// The platform manifest's digest.
    pub digest: Digest,
    /// Its CPU architecture.
    pub architecture: Option<ArtifactArchitecture>,
    /// Its operating system.
    pub operating_system: Option<ArtifactOperatingSystem>,
}

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        ///
        /// Open: a value this version does not know is kept in `Other`, never an error.
        /// Known values are recognised whatever their case.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value not listed above, as the registry sent it.
            Other(String),
        }

        impl $name {
            /// The value as the registry spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(value) => value,
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $(if value.eq_ignore_ascii_case($wire) { return Self::$variant; })*
                Self::Other(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::from(value.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum! {
    /// The CPU architecture of an image, as Go's `GOARCH` names it.
    ArtifactArchitecture {
        /// `386`
        I386 = "386",
        /// `amd64`
        Amd64 = "amd64",
        /// `arm`
        Arm = "arm",
        /// `arm64`
        Arm64 = "arm64",
        /// `mips`
        Mips = "mips",
        /// `mipsle`
        MipsLe = "mipsle",
        /// `mips64`
        Mips64 = "mips64",
        /// `mips64le`
        Mips64Le = "mips64le",
        /// `ppc64`
        Ppc64 = "ppc64",
        /// `ppc64le`
        Ppc64Le = "ppc64le",
        /// `riscv64`
        RiscV64 = "riscv64",
        /// `s390x`
        S390x = "s390x",
        /// `wasm`
        Wasm = "wasm",
    }
}

open_enum! {
    /// The operating system of an image, as Go's `GOOS` names it.
    ArtifactOperatingSystem {
        /// `aix`
        Aix = "aix",
        /// `android`
        Android = "android",
        /// `darwin`
        Darwin = "darwin",
        /// `dragonfly`
        Dragonfly = "dragonfly",
        /// `freebsd`
        FreeBsd = "freebsd",
        /// `illumos`
        Illumos = "illumos",
        /// `ios`
        Ios = "ios",
        /// `js`
        Js = "js",
        /// `linux`
        Linux = "linux",
        /// `netbsd`
        NetBsd = "netbsd",
        /// `openbsd`
        OpenBsd = "openbsd",
        /// `plan9`
        Plan9 = "plan9",
        /// `solaris`
        Solaris = "solaris",
        /// `windows`
        Windows = "windows",
    }
}

/// The order of a manifest listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ArtifactManifestOrder {
    /// The registry's order.
    #[default]
    Unordered,
    /// Most recently updated first.
    LastUpdatedOnDescending,
    /// Least recently updated first.
    LastUpdatedOnAscending,
}

/// The order of a tag listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ArtifactTagOrder {
    /// The registry's order.
    #[default]
    Unordered,
    /// Most recently updated first.
    LastUpdatedOnDescending,
    /// Least recently updated first.
    LastUpdatedOnAscending,
}

/// The `orderby` query value of an order.
pub(crate) fn order_by(descending: bool, ascending: bool) -> Option<&'static str> {
    match (descending, ascending) {
        (true, _) => Some("timedesc"),
        (_, true) => Some("timeasc"),
        _ => None,
    }
}

impl ArtifactManifestOrder {
    pub(crate) fn query(self) -> Option<&'static str> {
        order_by(
            self == Self::LastUpdatedOnDescending,
            self == Self::LastUpdatedOnAscending,
        )
    }
}

impl ArtifactTagOrder {
    pub(crate) fn query(self) -> Option<&'static str> {
        order_by(
            self == Self::LastUpdatedOnDescending,
            self == Self::LastUpdatedOnAscending,
        )
    }
}

impl PropertiesUpdate {
    pub(crate) fn to_tag_wire(&self) -> acr_rest::types::TagChangeableAttributes {
        acr_rest::types::TagChangeableAttributes {
            delete_enabled: self.can_delete,
            write_enabled: self.can_write,
            read_enabled: self.can_read,
            list_enabled: self.can_list,
        }
    }

    pub(crate) fn to_manifest_wire(&self) -> acr_rest::types::ManifestChangeableAttributes {
        acr_rest::types::ManifestChangeableAttributes {
            delete_enabled: self.can_delete,
            write_enabled: self.can_write,
            read_enabled: self.can_read,
            list_enabled: self.can_list,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_keep_unknown_values_and_ignore_case() {
        assert_eq!(
            ArtifactArchitecture::from("amd64"),
            ArtifactArchitecture::Amd64
        );
        assert_eq!(
            ArtifactArchitecture::from("AMD64"),
            ArtifactArchitecture::Amd64
        );
        assert_eq!(ArtifactArchitecture::from("386").as_str(), "386");
        assert_eq!(
            ArtifactArchitecture::from("loong64"),
            ArtifactArchitecture::Other("loong64".into())
        );
        assert_eq!(ArtifactArchitecture::from("loong64").to_string(), "loong64");
        assert_eq!(
            ArtifactOperatingSystem::from("Windows"),
            ArtifactOperatingSystem::Windows
        );
        assert_eq!(
            ArtifactOperatingSystem::from("wasip1"),
            ArtifactOperatingSystem::Other("wasip1".into())
        );
    }

    #[test]
    fn orders_map_to_the_query_values() {
        assert_eq!(
            ArtifactTagOrder::LastUpdatedOnDescending.query(),
            Some("timedesc")
        );
        assert_eq!(
            ArtifactManifestOrder::LastUpdatedOnAscending.query(),
            Some("timeasc")
        );
        assert_eq!(ArtifactManifestOrder::Unordered.query(), None);
    }
}
