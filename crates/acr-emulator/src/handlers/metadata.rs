//! ACR's metadata API, `/acr/v1`.

use bytes::Bytes;
use serde_json::{Value, json};

use super::paging::{DEFAULT_PAGE, last, order, page_size, paginate};
use crate::http::{
    Resp, disallowed, enc, error, manifest_unknown, name_unknown, tag_unknown, time,
};
use crate::index::after;
use crate::server::Shared;
use crate::store::{Attributes, ManifestMeta};

pub(super) fn acr_catalog(shared: &Shared, req: &crate::http::Req) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let names = after(&reg.meta.repos, last(req))
        .filter(|(_, r)| r.visible && r.attributes.list_enabled)
        .map(|(n, _)| n);
    let (page, next) = paginate(names, |s| s.as_str(), n);
    let mut resp = Resp::json(200, &json!({ "repositories": page }));
    if let Some(last) = next {
        resp = resp.header(
            "Link",
            format!(
                "</acr/v1/_catalog?last={}&n={}&orderby={}>; rel=\"next\"",
                enc(&last),
                n.unwrap_or(DEFAULT_PAGE),
                enc(req.query("orderby").unwrap_or(""))
            ),
        );
    }
    resp
}

/// Applies a PATCH body to `attributes`, or the 400 answer to send instead.
fn apply_patch(attributes: &mut Attributes, body: &Bytes) -> Result<(), Resp> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| error(400, "BAD_REQUEST", &format!("invalid JSON body: {e}"), None))?;
    attributes
        .patch(&value)
        .map_err(|why| error(400, "BAD_REQUEST", &why, None))
}

pub(super) fn acr_repo(shared: &Shared, name: &str, patch: Option<&Bytes>) -> Resp {
    let mut reg = shared.registry();
    let host = shared.tokens.host.clone();
    let Some(repo) = reg.visible_repo_mut(name) else {
        return name_unknown(name);
    };
    if let Some(body) = patch
        && let Err(answer) = apply_patch(&mut repo.attributes, body)
    {
        return answer;
    }
    let value = json!({
        "registry": host,
        "imageName": name,
        "createdTime": time(&repo.created),
        "lastUpdateTime": time(&repo.updated),
        "manifestCount": repo.manifests.len(),
        "tagCount": repo.tags.len(),
        "changeableAttributes": repo.attributes.to_json(),
    });
    if patch.is_some()
        && let Err(e) = reg.persist()
    {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::json(200, &value)
}

pub(super) fn acr_delete_repo(shared: &Shared, name: &str) -> Resp {
    let mut reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    if !repo.attributes.deletable() {
        return disallowed();
    }
    let manifests: Vec<String> = repo.manifests.keys().cloned().collect();
    let tags: Vec<String> = repo.tags.keys().cloned().collect();
    reg.meta.repos.remove(name);
    if let Err(e) = reg.persist() {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::json(
        202,
        &json!({ "manifestsDeleted": manifests, "tagsDeleted": tags }),
    )
}

fn tag_json(name: &str, tag: &crate::store::TagMeta) -> Value {
    json!({
        "name": name,
        "digest": tag.digest,
        "createdTime": time(&tag.created),
        "lastUpdateTime": time(&tag.updated),
        "signed": false,
        "changeableAttributes": tag.attributes.to_json(),
    })
}

pub(super) fn acr_tags(shared: &Shared, req: &crate::http::Req, name: &str) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let digest = req.query("digest").filter(|d| !d.is_empty());
    let tags = repo
        .tags
        .after(order(req), last(req), digest)
        .filter(|(_, t)| t.attributes.list_enabled);
    let (page, next) = paginate(tags, |(n, _)| n.as_str(), n);
    let items: Vec<Value> = page.iter().map(|(n, t)| tag_json(n, t)).collect();
    let mut resp = Resp::json(
        200,
        &json!({ "registry": shared.tokens.host, "imageName": name, "tags": items }),
    );
    if let Some(last) = next {
        let mut link = format!(
            "</acr/v1/{}/_tags?last={}&n={}&orderby={}",
            enc(name),
            enc(&last),
            n.unwrap_or(DEFAULT_PAGE),
            enc(req.query("orderby").unwrap_or(""))
        );
        if let Some(d) = digest {
            link.push_str(&format!("&digest={}", enc(d)));
        }
        link.push_str(">; rel=\"next\"");
        resp = resp.header("Link", link);
    }
    resp
}

pub(super) fn acr_tag(shared: &Shared, name: &str, tag: &str, patch: Option<&Bytes>) -> Resp {
    let mut reg = shared.registry();
    let host = shared.tokens.host.clone();
    // ACR answers TAG_UNKNOWN whether or not the repository exists (recorded for
    // `DELETE /acr/v1/does_not_exist/_tags/does_not_exist`).
    let Some(tags) = reg.visible_repo_mut(name).map(|r| &mut r.tags) else {
        return tag_unknown();
    };
    if let Some(body) = patch
        && let Some(attributes) = tags.attributes_mut(tag)
        && let Err(answer) = apply_patch(attributes, body)
    {
        return answer;
    }
    let Some(meta) = tags.get(tag) else {
        return tag_unknown();
    };
    let value = json!({ "registry": host, "imageName": name, "tag": tag_json(tag, meta) });
    if patch.is_some()
        && let Err(e) = reg.persist()
    {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::json(200, &value)
}

pub(super) fn acr_delete_tag(shared: &Shared, name: &str, tag: &str) -> Resp {
    let mut reg = shared.registry();
    let now = reg.now();
    let Some(repo) = reg.visible_repo_mut(name) else {
        return tag_unknown();
    };
    let Some(meta) = repo.tags.get(tag) else {
        return tag_unknown();
    };
    if !meta.attributes.deletable() || !repo.attributes.deletable() {
        return disallowed();
    }
    repo.tags.remove(tag);
    repo.updated = now;
    if let Err(e) = reg.persist() {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::new(202).header("Content-Length", "0")
}

/// A manifest as ACR's metadata API shows it. Lists leave out `references`; the single
/// manifest view includes them for indexes (both as recorded).
fn manifest_json(
    digest: &str,
    m: &ManifestMeta,
    tags: Vec<String>,
    with_references: bool,
) -> Value {
    let mut v = json!({
        "digest": digest,
        "imageSize": m.image_size,
        "createdTime": time(&m.created),
        "lastUpdateTime": time(&m.updated),
    });
    if let Some(a) = &m.architecture {
        v["architecture"] = json!(a);
    }
    if let Some(o) = &m.os {
        v["os"] = json!(o);
    }
    v["mediaType"] = json!(m.media_type);
    if !tags.is_empty() {
        v["tags"] = json!(tags);
    }
    v["changeableAttributes"] = m.attributes.to_json();
    if with_references && !m.references.is_empty() {
        v["references"] = Value::Array(
            m.references
                .iter()
                .map(|r| {
                    let mut o = json!({ "digest": r.digest });
                    if let Some(a) = &r.architecture {
                        o["architecture"] = json!(a);
                    }
                    if let Some(s) = &r.os {
                        o["os"] = json!(s);
                    }
                    o
                })
                .collect(),
        );
    }
    v
}

pub(super) fn acr_manifests(shared: &Shared, req: &crate::http::Req, name: &str) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let manifests = repo
        .manifests
        .after(order(req), last(req))
        .filter(|(_, m)| m.attributes.list_enabled);
    let (page, next) = paginate(manifests, |(d, _)| d.as_str(), n);
    let items: Vec<Value> = page
        .iter()
        .map(|(d, m)| manifest_json(d, m, repo.tags.pointing_at(d), false))
        .collect();
    let mut resp = Resp::json(
        200,
        &json!({ "registry": shared.tokens.host, "imageName": name, "manifests": items }),
    );
    if let Some(last) = next {
        resp = resp.header(
            "Link",
            format!(
                "</acr/v1/{}/_manifests?last={}&n={}&orderby={}>; rel=\"next\"",
                enc(name),
                enc(&last),
                n.unwrap_or(DEFAULT_PAGE),
                enc(req.query("orderby").unwrap_or(""))
            ),
        );
    }
    resp
}

pub(super) fn acr_manifest(
    shared: &Shared,
    name: &str,
    reference: &str,
    patch: Option<&Bytes>,
) -> Resp {
    let mut reg = shared.registry();
    let host = shared.tokens.host.clone();
    let Some(repo) = reg.visible_repo_mut(name) else {
        return name_unknown(name);
    };
    let Some(digest) = repo.resolve(reference) else {
        return manifest_unknown(reference);
    };
    let tags = repo.tags.pointing_at(&digest);
    if let Some(body) = patch
        && let Some(attributes) = repo.manifests.attributes_mut(&digest)
        && let Err(answer) = apply_patch(attributes, body)
    {
        return answer;
    }
    let Some(meta) = repo.manifests.get(&digest) else {
        return manifest_unknown(reference);
    };
    let value = json!({
        "registry": host,
        "imageName": name,
        "manifest": manifest_json(&digest, meta, tags, true),
    });
    if patch.is_some()
        && let Err(e) = reg.persist()
    {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::json(200, &value)
}
