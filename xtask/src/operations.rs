//! What becomes of each operation of the upstream spec.
//!
//! Every upstream `operationId` appears here exactly once, so a new operation in a new API
//! version stops the regeneration until somebody decides what it is called or why it is left
//! out (see `patch::rename_operation_ids` and the coverage test below).

/// The fate of one upstream operation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fate {
    /// Generated as the client method of this name.
    Generated(&'static str),
    /// Folded into another generated method, which takes over its requests.
    Merged {
        into: &'static str,
        how: &'static str,
    },
    /// Not generated; the `acr` crate implements it by hand.
    Excluded { why: &'static str },
}

use Fate::*;

/// Why the four upload-session operations are written by hand in `acr`.
const SERVER_GIVEN_URL: &str = "its path is the upload's `Location` as the server gave it \
    (path and query), which progenitor would percent-encode, `/` and `?` included";

/// Upstream `operationId` → fate, in the order of the upstream document.
pub(crate) const OPERATIONS: &[(&str, Fate)] = &[
    (
        "ContainerRegistry_CheckDockerV2Support",
        Generated("check_docker_v2_support"),
    ),
    ("ContainerRegistry_GetManifest", Generated("get_manifest")),
    (
        "ContainerRegistry_CreateManifest",
        Generated("put_manifest"),
    ),
    (
        "ContainerRegistry_DeleteManifest",
        Generated("delete_manifest"),
    ),
    ("ContainerRegistryBlob_GetBlob", Generated("get_blob")),
    (
        "ContainerRegistryBlob_CheckBlobExists",
        Generated("check_blob_exists"),
    ),
    ("ContainerRegistryBlob_DeleteBlob", Generated("delete_blob")),
    ("ContainerRegistryBlob_MountBlob", Generated("start_upload")),
    (
        "ContainerRegistryBlob_GetUploadStatus",
        Excluded {
            why: SERVER_GIVEN_URL,
        },
    ),
    (
        "ContainerRegistryBlob_UploadChunk",
        Excluded {
            why: SERVER_GIVEN_URL,
        },
    ),
    (
        "ContainerRegistryBlob_CompleteUpload",
        Excluded {
            why: SERVER_GIVEN_URL,
        },
    ),
    (
        "ContainerRegistryBlob_CancelUpload",
        Excluded {
            why: SERVER_GIVEN_URL,
        },
    ),
    (
        "ContainerRegistry_GetRepositories",
        Generated("list_repositories"),
    ),
    (
        "ContainerRegistry_GetProperties",
        Generated("get_repository_properties"),
    ),
    (
        "ContainerRegistry_DeleteRepository",
        Generated("delete_repository"),
    ),
    (
        "ContainerRegistry_UpdateProperties",
        Generated("update_repository_properties"),
    ),
    ("ContainerRegistry_GetTags", Generated("list_tags")),
    (
        "ContainerRegistry_GetTagProperties",
        Generated("get_tag_properties"),
    ),
    (
        "ContainerRegistry_UpdateTagAttributes",
        Generated("update_tag_properties"),
    ),
    ("ContainerRegistry_DeleteTag", Generated("delete_tag")),
    (
        "ContainerRegistry_GetManifests",
        Generated("list_manifests"),
    ),
    (
        "ContainerRegistry_GetManifestProperties",
        Generated("get_manifest_properties"),
    ),
    (
        "ContainerRegistry_UpdateManifestProperties",
        Generated("update_manifest_properties"),
    ),
    (
        "Authentication_ExchangeAadAccessTokenForAcrRefreshToken",
        Generated("exchange_aad_token_for_refresh_token"),
    ),
    (
        "Authentication_ExchangeAcrRefreshTokenForAcrAccessToken",
        Generated("exchange_refresh_token_for_access_token"),
    ),
    (
        "Authentication_GetAcrAccessTokenFromLogin",
        Generated("get_access_token_from_login"),
    ),
    (
        "ContainerRegistryBlob_StartUpload",
        Merged {
            into: "start_upload",
            how: "`start_upload` without `from` and `mount`",
        },
    ),
    (
        "ContainerRegistryBlob_GetChunk",
        Merged {
            into: "get_blob",
            how: "`get_blob` with a `range` header, answered by a 206",
        },
    ),
    (
        "ContainerRegistryBlob_CheckChunkExists",
        Merged {
            into: "check_blob_exists",
            how: "`check_blob_exists` with a `range` header",
        },
    ),
];

/// Operations the upstream spec lacks but the service serves, added by the patch step:
/// generated method name → why it is added.
pub(crate) const ADDED: &[(&str, &str)] = &[
    (
        "list_referrers",
        "the referrers API of OCI distribution 1.1 (`GET /v2/{name}/referrers/{digest}`), \
         which ACR serves and the 2021-07-01 spec predates",
    ),
    (
        "list_catalog",
        "the OCI distribution catalog (`GET /v2/_catalog`), for registries without ACR's \
         metadata API",
    ),
    (
        "check_manifest_exists",
        "the `HEAD` of a manifest (`HEAD /v2/{name}/manifests/{reference}`), which tells the \
         digest a tag points to on registries without ACR's metadata API",
    ),
    (
        "list_tag_names",
        "the OCI distribution tag list (`GET /v2/{name}/tags/list`), for registries without \
         ACR's metadata API",
    ),
];

/// The fate of `operation_id`, or `None` for an operation this table does not know.
pub(crate) fn fate(operation_id: &str) -> Option<Fate> {
    OPERATIONS
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, fate)| *fate)
}

/// What the regeneration made of the upstream operations, for its report.
pub(crate) fn summary() -> String {
    let mut generated = 0;
    let mut lines = Vec::new();
    for (id, fate) in OPERATIONS {
        match fate {
            Generated(_) => generated += 1,
            Merged { into, how } => lines.push(format!("  {id}: merged into `{into}`: {how}")),
            Excluded { why } => lines.push(format!("  {id}: left to `acr`: {why}")),
        }
    }
    for (name, why) in ADDED {
        lines.push(format!("  {name}: added: {why}"));
    }
    format!(
        "{} upstream operations, {generated} generated as methods of `acr_rest::Client`:\n{}",
        OPERATIONS.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn upstream_operation_ids() -> BTreeSet<String> {
        let doc = crate::spec::read_upstream(&crate::spec::Workspace::locate()).unwrap();
        let mut ids = BTreeSet::new();
        for section in ["paths", "x-ms-paths"] {
            for item in doc[section].as_object().unwrap().values() {
                for op in item.as_object().unwrap().values() {
                    if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                        assert!(ids.insert(id.to_owned()), "{id} appears twice upstream");
                    }
                }
            }
        }
        ids
    }

    /// The methods of the checked-in generated client, read from its `impl Client` blocks.
    fn generated_methods() -> BTreeSet<String> {
        let ws = crate::spec::Workspace::locate();
        let text = std::fs::read_to_string(ws.generated_client()).unwrap();
        let file = syn::parse_file(&text).unwrap();
        let mut methods = BTreeSet::new();
        for item in file.items {
            let syn::Item::Impl(imp) = item else { continue };
            let is_client = matches!(&*imp.self_ty, syn::Type::Path(p)
                if p.path.is_ident("Client"));
            if !is_client || imp.trait_.is_some() {
                continue;
            }
            for member in imp.items {
                if let syn::ImplItem::Fn(f) = member {
                    methods.insert(f.sig.ident.to_string());
                }
            }
        }
        // The constructors and accessors progenitor writes on every client.
        for fixed in [
            "new",
            "new_with_client",
            "api_version",
            "baseurl",
            "client",
            "inner",
        ] {
            methods.remove(fixed);
        }
        methods
    }

    #[test]
    fn every_upstream_operation_is_generated_merged_or_excluded_with_a_reason() {
        let listed: BTreeSet<String> = OPERATIONS.iter().map(|(id, _)| id.to_string()).collect();
        assert_eq!(
            listed.len(),
            OPERATIONS.len(),
            "an operation is listed twice"
        );
        assert_eq!(upstream_operation_ids(), listed);

        let generated: BTreeSet<String> = OPERATIONS
            .iter()
            .filter_map(|(_, f)| match f {
                Generated(name) => Some(name.to_string()),
                _ => None,
            })
            .collect();
        let mut expected = generated.clone();
        expected.extend(ADDED.iter().map(|(name, _)| name.to_string()));
        assert_eq!(
            generated_methods(),
            expected,
            "generated.rs differs from the table"
        );

        for (id, fate) in OPERATIONS {
            match fate {
                Merged { into, how } => {
                    assert!(
                        generated.contains(*into),
                        "{id} is merged into a missing method"
                    );
                    assert!(!how.is_empty());
                }
                Excluded { why } => assert!(why.len() > 20, "{id} needs a reason"),
                Generated(_) => {}
            }
        }
    }
}
