//! What the registry reports about repositories, manifests and tags.

use chrono::{DateTime, Utc};

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

impl From<acr_rest::types::RepositoryAttributes> for RepositoryProperties {
    fn from(wire: acr_rest::types::RepositoryAttributes) -> Self {
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
