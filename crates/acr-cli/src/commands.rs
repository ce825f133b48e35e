//! The commands that map onto one registry operation each.

use std::path::Path;

use acr::{
    ArtifactManifestOrder, ArtifactTagOrder, BlobData, ContainerRegistryClient, Digest,
    PropertiesUpdate,
};
use futures_util::TryStreamExt as _;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::cli::{BlobCommand, ManifestCommand, Order, Permissions, RepoCommand, TagCommand};
use crate::docker_config::{self, Stored};
use crate::error::{CliError, CliResult};
use crate::files::{self, Access, AtomicFile};
use crate::output::{self, Output};

fn update(permissions: &Permissions) -> CliResult<PropertiesUpdate> {
    let Permissions {
        can_read,
        can_write,
        can_delete,
        can_list,
    } = *permissions;
    if [can_read, can_write, can_delete, can_list]
        .iter()
        .all(Option::is_none)
    {
        return Err(CliError::Usage(
            "nothing to update: give --can-read, --can-write, --can-delete or --can-list".into(),
        ));
    }
    let mut update = PropertiesUpdate::default();
    if let Some(value) = can_read {
        update = update.can_read(value);
    }
    if let Some(value) = can_write {
        update = update.can_write(value);
    }
    if let Some(value) = can_delete {
        update = update.can_delete(value);
    }
    if let Some(value) = can_list {
        update = update.can_list(value);
    }
    Ok(update)
}

pub(crate) fn digest(value: &str) -> CliResult<Digest> {
    Digest::parse(value).map_err(|e| CliError::Usage(e.to_string()))
}

fn deleted(out: Output, what: Value) -> CliResult<()> {
    out.print(String::new, || json!({ "deleted": what }))
}

pub(crate) async fn repo(
    client: &ContainerRegistryClient,
    out: Output,
    command: RepoCommand,
) -> CliResult<()> {
    match command {
        RepoCommand::Ls { page_size } => {
            let mut pager = client.list_repository_names();
            if let Some(size) = page_size {
                pager = pager.page_size(size);
            }
            output::listing(out, pager, |name| name.clone(), |name| json!(name)).await
        }
        RepoCommand::Show { repository } => {
            let r = client.get_repository_properties(&repository).await?;
            out.print(
                || output::repository_text(&r),
                || output::repository_json(&r),
            )
        }
        RepoCommand::Update {
            repository,
            permissions,
        } => {
            let r = client
                .update_repository_properties(&repository, &update(&permissions)?)
                .await?;
            out.print(
                || output::repository_text(&r),
                || output::repository_json(&r),
            )
        }
        RepoCommand::Delete { repository } => {
            client.delete_repository(&repository).await?;
            deleted(out, json!({ "repository": repository }))
        }
    }
}

fn tag_order(order: Option<Order>) -> ArtifactTagOrder {
    match order {
        None => ArtifactTagOrder::Unordered,
        Some(Order::Asc) => ArtifactTagOrder::LastUpdatedOnAscending,
        Some(Order::Desc) => ArtifactTagOrder::LastUpdatedOnDescending,
    }
}

fn manifest_order(order: Option<Order>) -> ArtifactManifestOrder {
    match order {
        None => ArtifactManifestOrder::Unordered,
        Some(Order::Asc) => ArtifactManifestOrder::LastUpdatedOnAscending,
        Some(Order::Desc) => ArtifactManifestOrder::LastUpdatedOnDescending,
    }
}

pub(crate) async fn tag(
    client: &ContainerRegistryClient,
    out: Output,
    command: TagCommand,
) -> CliResult<()> {
    match command {
        TagCommand::Ls {
            repository,
            order,
            page_size,
        } => {
            let mut pager = client.list_tag_properties(&repository, tag_order(order));
            if let Some(size) = page_size {
                pager = pager.page_size(size);
            }
            let listed = output::listing(
                out,
                pager,
                |t| {
                    format!(
                        "{}\t{}\t{}",
                        t.name,
                        t.digest,
                        output::time(&t.last_updated_on)
                    )
                },
                output::tag_json,
            )
            .await;
            match listed {
                // A registry without ACR's metadata API still lists tag names (the OCI tag
                // list); the refusal came with the first page, before anything was printed.
                Err(CliError::Acr(acr::Error::Unsupported { .. })) if order.is_none() => {
                    let mut names = client.list_tag_names(&repository);
                    if let Some(size) = page_size {
                        names = names.page_size(size);
                    }
                    output::listing(out, names, String::clone, |name| json!({ "name": name })).await
                }
                listed => listed,
            }
        }
        TagCommand::Show { repository, tag } => {
            let t = client.get_tag_properties(&repository, &tag).await?;
            out.print(|| output::tag_text(&t), || output::tag_json(&t))
        }
        TagCommand::Update {
            repository,
            tag,
            permissions,
        } => {
            let t = client
                .update_tag_properties(&repository, &tag, &update(&permissions)?)
                .await?;
            out.print(|| output::tag_text(&t), || output::tag_json(&t))
        }
        TagCommand::Delete { repository, tag } => {
            client.delete_tag(&repository, &tag).await?;
            deleted(out, json!({ "repository": repository, "tag": tag }))
        }
    }
}

pub(crate) async fn manifest(
    client: &ContainerRegistryClient,
    out: Output,
    command: ManifestCommand,
) -> CliResult<()> {
    match command {
        ManifestCommand::Ls {
            repository,
            order,
            page_size,
        } => {
            let mut pager = client.list_manifest_properties(&repository, manifest_order(order));
            if let Some(size) = page_size {
                pager = pager.page_size(size);
            }
            output::listing(
                out,
                pager,
                |m| {
                    format!(
                        "{}\t{}\t{}",
                        m.digest,
                        m.media_type.as_deref().unwrap_or("-"),
                        m.tags.join(",")
                    )
                },
                output::manifest_json,
            )
            .await
        }
        ManifestCommand::Show {
            repository,
            reference,
        } => {
            let m = client
                .get_manifest_properties(&repository, &reference)
                .await?;
            out.print(|| output::manifest_text(&m), || output::manifest_json(&m))
        }
        ManifestCommand::Update {
            repository,
            reference,
            permissions,
        } => {
            let m = client
                .update_manifest_properties(&repository, &reference, &update(&permissions)?)
                .await?;
            out.print(|| output::manifest_text(&m), || output::manifest_json(&m))
        }
        ManifestCommand::Get {
            repository,
            reference,
            output_file,
        } => {
            let m = client.get_manifest(&repository, &reference).await?;
            if let Some(path) = &output_file {
                files::write(path, &m.bytes, Access::Shared)?;
            }
            match (out.json(), &output_file) {
                // The exact bytes, so that what is saved hashes to the digest.
                (false, None) => output::write_stdout(&m.bytes),
                (false, Some(_)) => out.print(|| m.digest.to_string(), Value::default),
                (true, _) => {
                    let document = serde_json::from_slice::<Value>(&m.bytes).ok();
                    out.print(String::new, || {
                        let mut value = json!({
                            "digest": m.digest.as_str(),
                            "mediaType": m.media_type,
                            "size": m.bytes.len(),
                        });
                        match &output_file {
                            Some(path) => value["file"] = json!(path.display().to_string()),
                            None => value["manifest"] = document.unwrap_or_default(),
                        }
                        value
                    })
                }
            }
        }
        ManifestCommand::Put {
            repository,
            file,
            tag,
            media_type,
        } => {
            let bytes = tokio::fs::read(&file)
                .await
                .map_err(|e| CliError::io("reading", &file, e))?;
            let media_type = media_type
                .or_else(|| declared_media_type(&bytes))
                .unwrap_or_else(|| acr::OCI_IMAGE_MANIFEST.to_owned());
            let mut request = client
                .set_manifest(&repository, bytes)
                .media_type(&media_type);
            if let Some(tag) = &tag {
                request = request.tag(tag);
            }
            let digest = request.await?;
            out.print(
                || digest.to_string(),
                || json!({ "digest": digest.as_str(), "mediaType": media_type, "tag": tag }),
            )
        }
        ManifestCommand::Delete {
            repository,
            reference,
        } => {
            client.delete_manifest(&repository, &reference).await?;
            deleted(
                out,
                json!({ "repository": repository, "reference": reference }),
            )
        }
    }
}

/// The `mediaType` a manifest names itself, if it does.
pub(crate) fn declared_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Declared {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Declared>(bytes)
        .ok()
        .and_then(|d| d.media_type)
}

pub(crate) async fn blob(
    client: &ContainerRegistryClient,
    out: Output,
    command: BlobCommand,
) -> CliResult<()> {
    match command {
        BlobCommand::Push { repository, file } => {
            let result = push_file(client, &repository, &file, &file.display().to_string()).await?;
            out.print(
                || result.digest.to_string(),
                || json!({ "digest": result.digest.as_str(), "size": result.size }),
            )
        }
        BlobCommand::Pull {
            repository,
            digest: value,
            output_file,
        } => {
            let digest = digest(&value)?;
            let size = pull_file(client, &repository, &digest, &output_file).await?;
            out.print(String::new, || {
                json!({
                    "digest": digest.as_str(),
                    "size": size,
                    "file": output_file.display().to_string(),
                })
            })
        }
        BlobCommand::Delete {
            repository,
            digest: value,
        } => {
            let digest = digest(&value)?;
            client.delete_blob(&repository, &digest).await?;
            deleted(
                out,
                json!({ "repository": repository, "digest": digest.as_str() }),
            )
        }
    }
}

/// The chunks files go up in. A registry does work per request (distribution saves its
/// hashing state after every `PATCH`): 16 MiB chunks cost it about a sixth less CPU than
/// the library's 4 MiB for a 1 GiB blob, and bring the push close to curl's single `PUT`,
/// for about 45 MiB of peak memory (the chunk being sent and the next one).
const UPLOAD_CHUNK_SIZE: usize = 16 * 1024 * 1024;

/// Uploads a file with a progress bar labelled `label`.
pub(crate) async fn push_file(
    client: &ContainerRegistryClient,
    repository: &str,
    file: &Path,
    label: &str,
) -> CliResult<acr::UploadBlobResult> {
    // The registry client would report a missing file as a transport failure.
    if let Err(e) = tokio::fs::metadata(file).await {
        return Err(CliError::io("reading", file, e));
    }
    let bar = output::transfer_bar(label);
    let result = client
        .upload_blob(repository, BlobData::file(file))
        .chunk_size(UPLOAD_CHUNK_SIZE)
        .progress(output::feed(&bar))
        .await;
    bar.finish_and_clear();
    Ok(result?)
}

/// Downloads a blob into `path` with a progress bar; `path` appears only once verified.
pub(crate) async fn pull_file(
    client: &ContainerRegistryClient,
    repository: &str,
    digest: &Digest,
    path: &Path,
) -> CliResult<u64> {
    let bar = output::transfer_bar(&output::short(digest));
    let result = async {
        let mut stream = client
            .download_blob(repository, digest)
            .progress(output::feed(&bar))
            .await?;
        let file = AtomicFile::create(path, Access::Shared)?;
        let mut writer = tokio::io::BufWriter::new(file.tokio_file()?);
        let mut size = 0;
        while let Some(piece) = stream.try_next().await? {
            size += piece.len() as u64;
            writer
                .write_all(&piece)
                .await
                .map_err(|e| CliError::io("writing", path, e))?;
        }
        writer
            .flush()
            .await
            .map_err(|e| CliError::io("writing", path, e))?;
        // The stream ends only once the content matched the digest.
        file.commit()?;
        Ok(size)
    }
    .await;
    bar.finish_and_clear();
    result
}

pub(crate) async fn referrers(
    client: &ContainerRegistryClient,
    out: Output,
    repository: &str,
    value: &str,
    artifact_type: Option<&str>,
) -> CliResult<()> {
    let digest = digest(value)?;
    let referrers = client
        .list_referrers(repository, &digest, artifact_type)
        .try_collect::<Vec<_>>()
        .await?;
    out.print(
        || {
            referrers
                .iter()
                .map(|d| {
                    format!(
                        "{}\t{}\t{}",
                        d.digest,
                        d.artifact_type.as_deref().unwrap_or("-"),
                        d.media_type
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        || Value::Array(referrers.iter().map(output::descriptor_json).collect()),
    )
}

/// Signs in with the configured credential and stores the outcome in the docker config.
pub(crate) async fn login(
    client: &ContainerRegistryClient,
    out: Output,
    global: &crate::cli::Global,
    registry: &str,
) -> CliResult<()> {
    let host = crate::client::registry_host(registry)?;
    let stored = match client.sign_in().await? {
        Some(token) => Stored::IdentityToken(token),
        None => match (&global.username, &global.password) {
            (Some(username), Some(password)) => Stored::Password {
                username: username.clone(),
                password: password.clone(),
            },
            _ => {
                return Err(CliError::Other(format!("{host} issued no token to store")));
            }
        },
    };
    let identity_token = matches!(stored, Stored::IdentityToken(_));
    let path = docker_config::store(&host, stored)?;
    out.print(
        || {
            format!(
                "signed in to {host}; credential stored in {}",
                path.display()
            )
        },
        || {
            json!({
                "registry": host,
                "config": path.display().to_string(),
                "identityToken": identity_token,
            })
        },
    )
}

/// Removes the registry's entry from the docker config.
pub(crate) fn logout(out: Output, registry: &str) -> CliResult<()> {
    let host = crate::client::registry_host(registry)?;
    let removed = docker_config::remove(&host)?;
    out.print(
        || {
            if removed {
                format!("signed out of {host}")
            } else {
                format!("not signed in to {host}")
            }
        },
        || json!({ "registry": host, "removed": removed }),
    )
}
