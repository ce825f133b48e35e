//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Manage an Azure Container Registry, or any OCI distribution registry, from the shell.
///
/// Credentials are taken from, in order: --anonymous; --username and --password; an Azure
/// AD service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET); the
/// registry's entry in the docker config (DOCKER_CONFIG or ~/.docker/config.json), through
/// its credential helper if it names one, as `acr login` stores it; otherwise none.
///
/// Exit codes: 0 success, 1 error, 2 usage, 3 not found, 4 authentication failed,
/// 5 integrity (digest mismatch, manifest too large), 6 unsupported by this registry.
#[derive(Debug, Parser)]
#[command(name = "acr", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten, next_help_heading = "Global options")]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    // Not a doc comment: rustdoc would want the URL as a link, and clap shows it as is.
    #[arg(
        long,
        env = "ACR_REGISTRY",
        global = true,
        value_name = "URL",
        hide_env_values = true,
        help = "The registry: myregistry.azurecr.io or https://myregistry.azurecr.io"
    )]
    pub(crate) registry: Option<String>,

    /// User name: the registry's admin user, or a repository-scoped token's name.
    #[arg(long, env = "ACR_USERNAME", global = true)]
    pub(crate) username: Option<String>,

    /// Password of --username. Prefer the ACR_PASSWORD variable: arguments are visible to
    /// other users of the machine.
    #[arg(long, env = "ACR_PASSWORD", global = true, hide_env_values = true)]
    pub(crate) password: Option<String>,

    /// Use no credential, even where one is configured (anonymous pull).
    #[arg(long, global = true)]
    pub(crate) anonymous: bool,

    /// Trust the certificate authorities in this PEM file, besides the system's.
    #[arg(long, global = true, value_name = "PEM")]
    pub(crate) ca_cert: Option<PathBuf>,

    /// Allow plain http:// for a registry on the loopback interface (tests, local
    /// registries). Credentials then travel unencrypted.
    #[arg(long, global = true)]
    pub(crate) allow_http: bool,

    /// How results are printed on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// For people: one item a line, fields separated by tabs.
    Text,
    /// For programs: one JSON document.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List, inspect, lock or delete repositories (ACR metadata API).
    #[command(subcommand)]
    Repo(RepoCommand),
    /// List, inspect, lock or delete tags (ACR metadata API).
    #[command(subcommand)]
    Tag(TagCommand),
    /// List, inspect, download, upload or delete manifests.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Upload, download or delete blobs.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// List the manifests that refer to a manifest (signatures, SBOMs, attestations).
    Referrers {
        /// The repository.
        repository: String,
        /// The digest of the manifest referred to.
        digest: String,
        /// Only referrers of this artifact type.
        #[arg(long)]
        artifact_type: Option<String>,
    },
    /// Sign in once for this machine: store a registry token in the docker config.
    ///
    /// The credential (an Azure AD service principal from AZURE_*, or --username and
    /// ACR_PASSWORD) is exchanged for an ACR refresh token, stored as the registry's
    /// identitytoken with the user name 00000000-0000-0000-0000-000000000000, as `az acr
    /// login` does; docker, skopeo, oras and later acr commands then use it. A username
    /// and password, which ACR exchanges for no refresh token, are stored as they are once
    /// the registry has accepted them. Other entries of the file are kept.
    Login,
    /// Remove the registry's entry from the docker config.
    Logout,
    /// Upload an image from an OCI image layout directory.
    ///
    /// Its blobs go up first (those the registry lacks), then its manifests, the top one
    /// tagged.
    Push {
        /// Where to: REPOSITORY:TAG (the tag defaults to latest).
        reference: String,
        /// The OCI image layout directory (oci-layout, index.json, blobs/); the manifest
        /// whose org.opencontainers.image.ref.name is TAG is pushed, or the only one.
        directory: PathBuf,
    },
    /// Download an image into an OCI image layout directory.
    ///
    /// Its manifest and every blob (for an index, its child manifests and their blobs),
    /// each digest-checked; index.json names it by its tag.
    Pull {
        /// What: REPOSITORY:TAG or REPOSITORY@DIGEST (the tag defaults to latest).
        reference: String,
        /// The OCI image layout directory, created or added to. Blobs already there
        /// whose content matches their digest are not downloaded again.
        directory: PathBuf,
        /// Of an image index, pull only the image for this platform (e.g. linux/amd64,
        /// linux/arm64/v8); index.json then names that image. An image that is not an
        /// index is pulled as it is.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// List the registry's repositories.
    Ls {
        /// How many names to ask for per request.
        #[arg(long, value_name = "N", value_parser = page_size)]
        page_size: Option<u32>,
    },
    /// Show a repository's properties.
    Show {
        /// The repository.
        repository: String,
    },
    /// Change a repository's permissions; only the flags given change.
    Update {
        /// The repository.
        repository: String,
        #[command(flatten)]
        permissions: Permissions,
    },
    /// Delete a repository with all its manifests and tags.
    Delete {
        /// The repository.
        repository: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TagCommand {
    /// List a repository's tags.
    Ls {
        /// The repository.
        repository: String,
        /// By last update: asc (oldest first) or desc (newest first); the registry's
        /// order otherwise.
        #[arg(long, value_enum)]
        order: Option<Order>,
        /// How many tags to ask for per request.
        #[arg(long, value_name = "N", value_parser = page_size)]
        page_size: Option<u32>,
    },
    /// Show a tag's properties.
    Show {
        /// The repository.
        repository: String,
        /// The tag.
        tag: String,
    },
    /// Change a tag's permissions; only the flags given change.
    Update {
        /// The repository.
        repository: String,
        /// The tag.
        tag: String,
        #[command(flatten)]
        permissions: Permissions,
    },
    /// Delete a tag (not the manifest it points to).
    Delete {
        /// The repository.
        repository: String,
        /// The tag.
        tag: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ManifestCommand {
    /// List a repository's manifests (ACR metadata API).
    Ls {
        /// The repository.
        repository: String,
        /// By last update: asc (oldest first) or desc (newest first).
        #[arg(long, value_enum)]
        order: Option<Order>,
        /// How many manifests to ask for per request.
        #[arg(long, value_name = "N", value_parser = page_size)]
        page_size: Option<u32>,
    },
    /// Show a manifest's properties (ACR metadata API).
    Show {
        /// The repository.
        repository: String,
        /// A tag or digest.
        reference: String,
    },
    /// Change a manifest's permissions; only the flags given change.
    Update {
        /// The repository.
        repository: String,
        /// A tag or digest.
        reference: String,
        #[command(flatten)]
        permissions: Permissions,
    },
    /// Download a manifest, byte for byte, checked against its digest.
    Get {
        /// The repository.
        repository: String,
        /// A tag or digest.
        reference: String,
        /// Write it to this file instead of stdout.
        #[arg(short = 'o', long, value_name = "FILE")]
        output_file: Option<PathBuf>,
    },
    /// Upload a manifest from a file, byte for byte; prints its digest.
    Put {
        /// The repository.
        repository: String,
        /// The manifest file.
        file: PathBuf,
        /// Tag it (moving the tag if it exists).
        #[arg(long)]
        tag: Option<String>,
        /// Its media type; by default the file's mediaType field, else an OCI image
        /// manifest.
        #[arg(long)]
        media_type: Option<String>,
    },
    /// Delete a manifest and every tag pointing to it.
    Delete {
        /// The repository.
        repository: String,
        /// A tag or digest.
        reference: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BlobCommand {
    /// Upload a file as a blob; prints its digest.
    Push {
        /// The repository.
        repository: String,
        /// The file.
        file: PathBuf,
    },
    /// Download a blob into a file, written only once its digest is verified.
    Pull {
        /// The repository.
        repository: String,
        /// The blob's digest.
        digest: String,
        /// The file to write.
        #[arg(short = 'o', long, value_name = "FILE")]
        output_file: PathBuf,
    },
    /// Delete a blob.
    Delete {
        /// The repository.
        repository: String,
        /// The blob's digest.
        digest: String,
    },
}

/// The permissions an update sets.
#[derive(Debug, Args)]
pub(crate) struct Permissions {
    /// Allow or forbid reads (pulls).
    #[arg(long, value_name = "BOOL")]
    pub(crate) can_read: Option<bool>,
    /// Allow or forbid writes (pushes, tag moves).
    #[arg(long, value_name = "BOOL")]
    pub(crate) can_write: Option<bool>,
    /// Allow or forbid deletion.
    #[arg(long, value_name = "BOOL")]
    pub(crate) can_delete: Option<bool>,
    /// Show or hide in listings.
    #[arg(long, value_name = "BOOL")]
    pub(crate) can_list: Option<bool>,
}

/// A page size: a whole number from 1 up.
fn page_size(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(0) => Err("a page holds at least 1 item".to_owned()),
        Ok(size) => Ok(size),
        Err(e) => Err(e.to_string()),
    }
}

/// A listing's order by last update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}
