//! The scope each operation needs, as ACR's challenges name it, so that a token the client
//! holds, or can fetch, goes out with an operation's first request instead of after a
//! `401`. A registry that asks for something else still says so in its challenge, and the
//! client answers that; the table only saves the round trip where it is right.

/// The scope of `operation` on `repository`, when the operation has a known one.
pub(crate) fn scope_of(operation: &str, repository: Option<&str>) -> Option<String> {
    let actions = match operation {
        "list_repositories" => return Some("registry:catalog:*".to_owned()),
        "get_repository_properties"
        | "list_tags"
        | "list_manifests"
        | "get_tag_properties"
        | "get_manifest_properties" => "metadata_read",
        "update_repository_properties" | "update_tag_properties" | "update_manifest_properties" => {
            "metadata_write"
        }
        "delete_repository" | "delete_tag" | "delete_manifest" | "delete_blob" => "delete",
        "get_manifest" | "download_blob" | "blob_exists" | "list_referrers" | "list_tag_names" => {
            "pull"
        }
        "set_manifest" | "upload_blob" => "pull,push",
        _ => return None,
    };
    Some(format!("repository:{}:{actions}", repository?))
}

/// The scope of a cross-repository mount: push on the target and pull on the source, as
/// the registry's challenge lists them (space-separated).
pub(crate) fn mount_scope(repository: &str, from: &str) -> String {
    format!("repository:{repository}:pull,push repository:{from}:pull")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_name_the_scopes_of_acr_challenges() {
        assert_eq!(
            scope_of("list_repositories", None).as_deref(),
            Some("registry:catalog:*")
        );
        assert_eq!(
            scope_of("list_tags", Some("library/hello")).as_deref(),
            Some("repository:library/hello:metadata_read")
        );
        assert_eq!(
            scope_of("upload_blob", Some("a")).as_deref(),
            Some("repository:a:pull,push")
        );
        assert_eq!(scope_of("list_tags", None), None);
        assert_eq!(scope_of("sign_in", Some("a")), None);
    }
}
