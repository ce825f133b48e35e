//! Manifests and the referrers API.

use serde_json::{Value, json};

use crate::digest::{self, is_digest};
use crate::http::{Resp, digest_refused, disallowed, error, manifest_unknown, name_unknown};
use crate::server::Shared;
use crate::store::{OCI_INDEX, PutManifestError};

pub(super) fn get_manifest(shared: &Shared, name: &str, reference: &str, head: bool) -> Resp {
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let Some(digest) = repo.resolve(reference) else {
        return manifest_unknown(reference);
    };
    let Some(meta) = repo.manifests.get(&digest) else {
        return manifest_unknown(reference);
    };
    let tag_unreadable = !is_digest(reference)
        && repo
            .tags
            .get(reference)
            .is_some_and(|t| !t.attributes.read_enabled);
    if !meta.attributes.read_enabled || tag_unreadable || !repo.attributes.read_enabled {
        return disallowed();
    }
    let Some(body) = reg.blobs.get(&digest) else {
        return manifest_unknown(reference);
    };
    let mut resp = Resp::new(200)
        .header("Content-Type", meta.media_type.clone())
        .header("Docker-Content-Digest", digest.clone())
        .header("ETag", format!("\"{digest}\""));
    if head {
        resp.head_length = Some(body.len());
    } else {
        resp.body = body;
    }
    resp
}

pub(super) fn put_manifest(
    shared: &Shared,
    req: &crate::http::Req,
    name: &str,
    reference: &str,
) -> Resp {
    let media_type = req
        .header("content-type")
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_string());
    let mut reg = shared.registry();
    match reg.put_manifest(
        name,
        reference,
        media_type.as_deref(),
        req.body.clone(),
        true,
    ) {
        Ok(digest) => {
            let subject = reg
                .meta
                .repos
                .get(name)
                .and_then(|r| r.manifests.get(&digest))
                .and_then(|m| m.subject.clone());
            let mut resp = Resp::new(201)
                .header("Docker-Content-Digest", digest.clone())
                .header("Location", format!("/v2/{name}/manifests/{digest}"))
                .header("Content-Length", "0");
            if let Some(subject) = subject {
                resp = resp.header("OCI-Subject", subject);
            }
            resp
        }
        Err(PutManifestError::TooLarge) => error(
            413,
            "MANIFEST_INVALID",
            "manifest invalid",
            Some(json!(format!(
                "manifest exceeds the {} byte limit",
                crate::store::MAX_MANIFEST_SIZE
            ))),
        ),
        Err(PutManifestError::Invalid(why)) => error(
            400,
            "MANIFEST_INVALID",
            "manifest invalid",
            Some(json!(why)),
        ),
        Err(PutManifestError::Digest(why)) => digest_refused(reference, &why),
        // The spec's error codes have none for tags; the manifest push is what is refused.
        Err(PutManifestError::InvalidTag) => error(
            400,
            "MANIFEST_INVALID",
            "invalid tag: tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
            Some(json!(reference)),
        ),
        Err(PutManifestError::DigestMismatch) => error(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            Some(json!(reference)),
        ),
        Err(PutManifestError::BlobUnknown(d)) => error(
            400,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
            Some(json!(d)),
        ),
        Err(PutManifestError::Locked) => disallowed(),
        Err(PutManifestError::Io(e)) => {
            error(500, "UNKNOWN", &format!("storage failure: {e}"), None)
        }
    }
}

pub(super) fn delete_manifest(shared: &Shared, name: &str, reference: &str) -> Resp {
    let mut reg = shared.registry();
    let now = reg.now();
    let Some(repo) = reg.visible_repo_mut(name) else {
        return name_unknown(name);
    };
    if !is_digest(reference) {
        // OCI 1.1 lets a tag be deleted through the manifest endpoint.
        let Some(tag) = repo.tags.get(reference) else {
            return manifest_unknown(reference);
        };
        if !tag.attributes.deletable() || !repo.attributes.deletable() {
            return disallowed();
        }
        repo.tags.remove(reference);
        repo.updated = now;
    } else {
        let Some(meta) = repo.manifests.get(reference) else {
            return manifest_unknown(reference);
        };
        if !meta.attributes.deletable() || !repo.attributes.deletable() {
            return disallowed();
        }
        repo.manifests.remove(reference);
        repo.tags.remove_pointing_at(reference);
        repo.updated = now;
    }
    if let Err(e) = reg.persist() {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::new(202).header("Content-Length", "0")
}

pub(super) fn referrers(shared: &Shared, req: &crate::http::Req, name: &str, digest: &str) -> Resp {
    if let Err(why) = digest::parse(digest) {
        return digest_refused(digest, &why);
    }
    let reg = shared.registry();
    // A repository that does not exist has no referrers: the spec forbids a 404 here, which
    // clients take to mean the registry lacks the referrers API.
    let manifests = reg
        .visible_repo(name)
        .into_iter()
        .flat_map(|repo| repo.manifests.iter());
    let filter = req.query("artifactType").filter(|a| !a.is_empty());
    let descriptors: Vec<Value> = manifests
        .filter(|(_, m)| m.subject.as_deref() == Some(digest))
        .filter_map(|(d, m)| {
            let artifact_type = m
                .artifact_type
                .clone()
                .or_else(|| m.config_media_type.clone());
            if let Some(f) = filter
                && artifact_type.as_deref() != Some(f)
            {
                return None;
            }
            let mut desc = json!({ "mediaType": m.media_type, "digest": d, "size": m.size });
            if let Some(a) = artifact_type {
                desc["artifactType"] = json!(a);
            }
            if let Some(a) = &m.annotations {
                desc["annotations"] = a.clone();
            }
            Some(desc)
        })
        .collect();
    let mut resp = Resp::json(
        200,
        &json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors }),
    );
    resp.headers.retain(|(k, _)| k != "Content-Type");
    resp = resp.header("Content-Type", OCI_INDEX);
    if filter.is_some() {
        resp = resp.header("OCI-Filters-Applied", "artifactType");
    }
    resp
}
