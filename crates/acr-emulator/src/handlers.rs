//! The operations: OCI distribution, ACR metadata and the token service.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::auth::{Access, Identity, covers, parse_basic, parse_bearer};
use crate::http::{
    Resp, blob_unknown, disallowed, enc, error, manifest_unknown, name_unknown, page_not_found,
    tag_unknown, time, unsupported,
};
use crate::routes::{Needs, Route};
use crate::server::Shared;
use crate::store::{
    Attributes, ManifestMeta, OCI_INDEX, PutManifestError, Registry, is_digest, sha256_digest,
};

/// Default page size of every list, like ACR's.
const DEFAULT_PAGE: usize = 100;

/// The caller, once authorised.
pub(crate) struct Caller {
    pub(crate) granted: Option<Vec<Access>>,
}

impl Caller {
    /// Whether the caller may also do `needed` (used for the source of a cross-repository mount).
    fn may(&self, needed: &Access) -> bool {
        match &self.granted {
            None => true,
            Some(granted) => covers(granted, needed),
        }
    }
}

fn challenge(shared: &Shared, needed: Option<&Access>, error_kind: Option<&str>) -> Resp {
    let mut value = format!(
        "Bearer realm=\"{}/oauth2/token\",service=\"{}\"",
        shared.base_url, shared.tokens.host
    );
    let mut detail = Vec::new();
    if let Some(access) = needed {
        value.push_str(&format!(",scope=\"{}\"", access.to_scope()));
        for action in &access.actions {
            detail.push(json!({"Type": access.kind, "Name": access.name, "Action": action}));
        }
    }
    if let Some(kind) = error_kind {
        value.push_str(&format!(",error=\"{kind}\""));
    }
    error(
        401,
        "UNAUTHORIZED",
        "authentication required, visit https://aka.ms/acr/authorization for more information.",
        (!detail.is_empty()).then_some(Value::Array(detail)),
    )
    .header("WWW-Authenticate", value)
}

/// Checks the request's credentials against what the route needs.
pub(crate) fn authorize(
    shared: &Shared,
    req: &crate::http::Req,
    need: &Needs,
) -> Result<Caller, Resp> {
    let needed = match need {
        Needs::Nothing => return Ok(Caller { granted: None }),
        Needs::AnyToken => None,
        Needs::Scope(a) => Some(a),
    };
    let Some(header) = req.header("authorization") else {
        return Err(challenge(shared, needed, None));
    };
    if let Some((user, password)) = parse_basic(header) {
        // Registry users may use Basic directly, as ACR's admin user can.
        if shared.config.user_ok(&user, &password) {
            return Ok(Caller { granted: None });
        }
        return Err(challenge(shared, needed, None));
    }
    let Some(token) = parse_bearer(header) else {
        return Err(challenge(shared, needed, None));
    };
    let claims = match shared.tokens.verify(token) {
        Ok(c) if c.grant_type == "access_token" => c,
        _ => return Err(challenge(shared, needed, Some("invalid_token"))),
    };
    if let Some(needed) = needed
        && !covers(&claims.access, needed)
    {
        return Err(challenge(shared, Some(needed), Some("insufficient_scope")));
    }
    Ok(Caller {
        granted: Some(claims.access),
    })
}

/// Dispatches an authorised request.
pub(crate) fn handle(
    shared: &Shared,
    route: Route,
    req: &crate::http::Req,
    caller: &Caller,
) -> Resp {
    let m = &req.method;
    let head = m == Method::HEAD;
    match route {
        Route::NotFound => page_not_found(),
        Route::Exchange if m == Method::POST => exchange(shared, req),
        Route::Token if m == Method::POST || m == Method::GET => token(shared, req),
        Route::V2Base if m == Method::GET || head => Resp::json(200, &json!({})),
        Route::V2Catalog if m == Method::GET => v2_catalog(shared, req),
        Route::TagsList(name) if m == Method::GET => tags_list(shared, req, &name),
        Route::Manifest(name, reference) => match *m {
            Method::GET | Method::HEAD => get_manifest(shared, &name, &reference, head),
            Method::PUT => put_manifest(shared, req, &name, &reference),
            Method::DELETE => delete_manifest(shared, &name, &reference),
            _ => unsupported(),
        },
        Route::Blob(name, digest) => match *m {
            Method::GET | Method::HEAD => get_blob(shared, req, &name, &digest, head),
            Method::DELETE => delete_blob(shared, &name, &digest),
            _ => unsupported(),
        },
        Route::UploadStart(name) if m == Method::POST => start_upload(shared, req, &name, caller),
        Route::Upload(name, id) => match *m {
            Method::PATCH => patch_upload(shared, req, &name, &id),
            Method::PUT => finish_upload(shared, req, &name, &id),
            Method::GET => upload_status(shared, &name, &id),
            Method::DELETE => cancel_upload(shared, &name, &id),
            _ => unsupported(),
        },
        Route::Referrers(name, digest) if m == Method::GET => {
            referrers(shared, req, &name, &digest)
        }
        Route::AcrCatalog if m == Method::GET => acr_catalog(shared, req),
        Route::AcrRepo(name) => match *m {
            Method::GET => acr_repo(shared, &name, None),
            Method::PATCH => acr_repo(shared, &name, Some(&req.body)),
            Method::DELETE => acr_delete_repo(shared, &name),
            _ => unsupported(),
        },
        Route::AcrTags(name) if m == Method::GET => acr_tags(shared, req, &name),
        Route::AcrTag(name, tag) => match *m {
            Method::GET => acr_tag(shared, &name, &tag, None),
            Method::PATCH => acr_tag(shared, &name, &tag, Some(&req.body)),
            Method::DELETE => acr_delete_tag(shared, &name, &tag),
            _ => unsupported(),
        },
        Route::AcrManifests(name) if m == Method::GET => acr_manifests(shared, req, &name),
        Route::AcrManifest(name, reference) => match *m {
            Method::GET => acr_manifest(shared, &name, &reference, None),
            Method::PATCH => acr_manifest(shared, &name, &reference, Some(&req.body)),
            _ => unsupported(),
        },
        _ => unsupported(),
    }
}

// ---------------------------------------------------------------- token service

fn form(req: &crate::http::Req) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain(req.query.iter().cloned())
        .collect()
}

fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn token_rejected() -> Resp {
    // ACR's exact answer to a refused exchange, content type included (construct_* recording).
    let mut r = error(401, "UNAUTHORIZED", "retrieving permissions failed", None);
    r.headers.retain(|(k, _)| k != "Content-Type");
    r.header("Content-Type", "application/json")
}

fn check_service(shared: &Shared, form: &[(String, String)]) -> Result<(), Resp> {
    match field(form, "service") {
        Some(s) if s != shared.tokens.host => Err(error(
            400,
            "INVALID_REQUEST",
            &format!(
                "service {s:?} does not match this registry ({})",
                shared.tokens.host
            ),
            None,
        )),
        _ => Ok(()),
    }
}

fn exchange(shared: &Shared, req: &crate::http::Req) -> Resp {
    let form = form(req);
    if let Err(r) = check_service(shared, &form) {
        return r;
    }
    let grant = field(&form, "grant_type").unwrap_or("");
    let principal = match grant {
        "access_token" | "access_token_refresh_token" => {
            let from_refresh = field(&form, "refresh_token")
                .and_then(|t| shared.tokens.verify(t).ok())
                .filter(|c| c.grant_type == "refresh_token")
                .map(|c| c.sub);
            from_refresh.or_else(|| {
                field(&form, "access_token")
                    .filter(|t| shared.config.aad_ok(t))
                    .map(|_| "aad-principal".to_string())
            })
        }
        "refresh_token" => field(&form, "refresh_token")
            .and_then(|t| shared.tokens.verify(t).ok())
            .filter(|c| c.grant_type == "refresh_token")
            .map(|c| c.sub),
        _ => {
            return error(
                400,
                "UNSUPPORTED",
                &format!("unsupported grant_type {grant:?}"),
                None,
            );
        }
    };
    match principal {
        Some(p) => Resp::json(
            200,
            &json!({ "refresh_token": shared.tokens.refresh_token(&p) }),
        ),
        None => token_rejected(),
    }
}

fn token(shared: &Shared, req: &crate::http::Req) -> Resp {
    let form = form(req);
    if let Err(r) = check_service(shared, &form) {
        return r;
    }
    let scopes: Vec<Access> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter_map(Access::parse)
        .collect();
    let basic = req.header("authorization").and_then(parse_basic);
    let grant = field(&form, "grant_type").unwrap_or(if req.method == Method::GET {
        "password"
    } else {
        ""
    });
    let identity = match grant {
        "refresh_token" => field(&form, "refresh_token")
            .and_then(|t| shared.tokens.verify(t).ok())
            .filter(|c| c.grant_type == "refresh_token")
            .map(|c| Identity::Principal(c.sub)),
        "password" => {
            let credentials = basic.or_else(|| {
                Some((
                    field(&form, "username")?.to_string(),
                    field(&form, "password")?.to_string(),
                ))
            });
            match credentials {
                Some((user, password)) => shared
                    .config
                    .user_ok(&user, &password)
                    .then_some(Identity::Principal(user)),
                None => shared.config.anonymous_pull.then_some(Identity::Anonymous),
            }
        }
        _ => {
            return error(
                400,
                "UNSUPPORTED",
                &format!("unsupported grant_type {grant:?}"),
                None,
            );
        }
    };
    match identity {
        Some(identity) => Resp::json(
            200,
            &json!({ "access_token": shared.tokens.access_token(&identity, &scopes) }),
        ),
        None => token_rejected(),
    }
}

// ---------------------------------------------------------------- paging

/// Ordering of ACR metadata lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Name,
    TimeDesc,
    TimeAsc,
}

fn order(req: &crate::http::Req) -> Order {
    match req.query("orderby") {
        Some("timedesc") => Order::TimeDesc,
        Some("timeasc") => Order::TimeAsc,
        _ => Order::Name,
    }
}

/// Cuts one page out of `items` (already sorted). Name-ordered lists continue after `last`
/// lexically, as in the distribution spec; time-ordered ones after the item named `last`.
/// Returns the page and the key of its last item when more items follow.
fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    by_name: bool,
    last: Option<&str>,
    n: Option<usize>,
) -> (Vec<T>, Option<String>) {
    let mut items: Vec<T> = match last.filter(|l| !l.is_empty()) {
        None => items,
        Some(last) if by_name => items.into_iter().filter(|i| key(i) > last).collect(),
        Some(last) => {
            let mut seen = false;
            items
                .into_iter()
                .filter(|i| {
                    if seen {
                        return true;
                    }
                    if key(i) == last {
                        seen = true;
                    }
                    false
                })
                .collect()
        }
    };
    let n = n.unwrap_or(DEFAULT_PAGE);
    if items.len() > n {
        items.truncate(n);
        let next = items.last().map(|i| key(i).to_string());
        (items, next)
    } else {
        (items, None)
    }
}

fn page_size(req: &crate::http::Req) -> Result<Option<usize>, Resp> {
    match req.query("n").filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) => n.parse::<usize>().map(Some).map_err(|_| {
            error(
                400,
                "PAGINATION_NUMBER_INVALID",
                "invalid number of results requested",
                None,
            )
        }),
    }
}

// ---------------------------------------------------------------- /v2 catalog and tags

fn v2_catalog(shared: &Shared, req: &crate::http::Req) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let names: Vec<String> = reg
        .meta
        .repos
        .iter()
        .filter(|(_, r)| r.visible)
        .map(|(n, _)| n.clone())
        .collect();
    let (page, next) = paginate(names, |s| s.as_str(), true, req.query("last"), n);
    let mut resp = Resp::json(200, &json!({ "repositories": page }));
    if let Some(last) = next {
        resp = resp.header(
            "Link",
            format!(
                "</v2/_catalog?last={}&n={}>; rel=\"next\"",
                enc(&last),
                n.unwrap_or(DEFAULT_PAGE)
            ),
        );
    }
    resp
}

fn tags_list(shared: &Shared, req: &crate::http::Req, name: &str) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let tags: Vec<String> = repo
        .tags
        .iter()
        .filter(|(_, t)| t.attributes.list_enabled)
        .map(|(n, _)| n.clone())
        .collect();
    let (page, next) = paginate(tags, |s| s.as_str(), true, req.query("last"), n);
    let mut resp = Resp::json(200, &json!({ "name": name, "tags": page }));
    if let Some(last) = next {
        resp = resp.header(
            "Link",
            format!(
                "</v2/{name}/tags/list?last={}&n={}>; rel=\"next\"",
                enc(&last),
                n.unwrap_or(DEFAULT_PAGE)
            ),
        );
    }
    resp
}

// ---------------------------------------------------------------- manifests

fn get_manifest(shared: &Shared, name: &str, reference: &str, head: bool) -> Resp {
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let Some(digest) = repo.resolve(reference) else {
        return manifest_unknown(reference);
    };
    let meta = &repo.manifests[&digest];
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

fn put_manifest(shared: &Shared, req: &crate::http::Req, name: &str, reference: &str) -> Resp {
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

fn delete_manifest(shared: &Shared, name: &str, reference: &str) -> Resp {
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
        repo.tags.retain(|_, t| t.digest != reference);
        repo.updated = now;
    }
    if let Err(e) = reg.persist() {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::new(202).header("Content-Length", "0")
}

fn referrers(shared: &Shared, req: &crate::http::Req, name: &str, digest: &str) -> Resp {
    if !is_digest(digest) {
        return error(
            400,
            "DIGEST_INVALID",
            "provided digest is invalid",
            Some(json!(digest)),
        );
    }
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let filter = req.query("artifactType").filter(|a| !a.is_empty());
    let descriptors: Vec<Value> = repo
        .manifests
        .iter()
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

// ---------------------------------------------------------------- blobs

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against `total`. `None`: no usable range
/// (the whole blob is sent); `Some(Err)`: unsatisfiable.
fn parse_range(header: &str, total: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return Some(Err(()));
            }
            (total.saturating_sub(n), total.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, total.saturating_sub(1)),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if b < a {
                return None;
            }
            (a, b.min(total.saturating_sub(1)))
        }
    };
    if start >= total {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

fn get_blob(shared: &Shared, req: &crate::http::Req, name: &str, digest: &str, head: bool) -> Resp {
    let reg = shared.registry();
    if !reg.meta.repos.contains_key(name) {
        return name_unknown(name);
    }
    if !reg.repo_has_blob(name, digest) {
        return blob_unknown(digest);
    }
    let Some(data) = reg.blobs.get(digest) else {
        return blob_unknown(digest);
    };
    drop(reg);
    let total = data.len() as u64;
    let base = |status| {
        Resp::new(status)
            .header("Content-Type", "application/octet-stream")
            .header("Docker-Content-Digest", digest.to_string())
            .header("Accept-Ranges", "bytes")
    };
    let (mut resp, body) = match req.header("range").and_then(|r| parse_range(r, total)) {
        None => (base(200), data),
        Some(Err(())) => {
            return error(
                416,
                "RANGE_INVALID",
                "requested range not satisfiable",
                None,
            )
            .header("Content-Range", format!("bytes */{total}"));
        }
        Some(Ok((start, end))) => (
            base(206).header("Content-Range", format!("bytes {start}-{end}/{total}")),
            data.slice(start as usize..=end as usize),
        ),
    };
    if head {
        resp.head_length = Some(body.len());
    } else {
        resp.body = body;
        resp.is_blob_content = true;
    }
    resp
}

fn delete_blob(shared: &Shared, name: &str, digest: &str) -> Resp {
    let mut reg = shared.registry();
    let Some(repo) = reg.meta.repos.get_mut(name) else {
        return name_unknown(name);
    };
    if !repo.blobs.remove(digest) {
        return blob_unknown(digest);
    }
    if let Err(e) = reg.persist() {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::new(202)
        .header("Docker-Content-Digest", digest.to_string())
        .header("Content-Length", "0")
}

// ---------------------------------------------------------------- uploads

/// The opaque `_state` query parameter: an HMAC then the JSON distribution keeps there,
/// base64url with padding, so it looks and behaves like ACR's.
fn upload_state(
    shared: &Shared,
    name: &str,
    id: &str,
    offset: usize,
    started: &chrono::DateTime<chrono::Utc>,
) -> String {
    let json = serde_json::to_vec(&json!({
        "Name": name,
        "UUID": id,
        "Offset": offset,
        "StartedAt": started.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    }))
    .unwrap_or_default();
    let mut raw = shared.tokens.sign(&json).to_vec();
    raw.extend_from_slice(&json);
    URL_SAFE.encode(raw)
}

/// The offset a `_state` value was issued for, if it is authentic and names this upload.
fn state_offset(shared: &Shared, state: &str, id: &str) -> Option<usize> {
    let raw = URL_SAFE.decode(state).ok()?;
    if raw.len() < 32 {
        return None;
    }
    let (mac, json) = raw.split_at(32);
    if shared.tokens.sign(json) != mac {
        return None;
    }
    let value: Value = serde_json::from_slice(json).ok()?;
    if value.get("UUID")?.as_str()? != id {
        return None;
    }
    value.get("Offset")?.as_u64().map(|o| o as usize)
}

fn upload_location(shared: &Shared, reg: &Registry, name: &str, id: &str) -> String {
    let upload = &reg.uploads[id];
    format!(
        "/v2/{name}/blobs/uploads/{id}?_nouploadcache=false&_state={}",
        enc(&upload_state(
            shared,
            name,
            id,
            upload.data.len(),
            &upload.started
        ))
    )
}

/// ACR reports an empty upload as `0-0` rather than the spec's `0--1` (recordings).
fn upload_range(len: usize) -> String {
    format!("0-{}", len.saturating_sub(1))
}

fn upload_accepted(shared: &Shared, reg: &Registry, name: &str, id: &str, status: u16) -> Resp {
    let len = reg.uploads[id].data.len();
    Resp::new(status)
        .header("Location", upload_location(shared, reg, name, id))
        .header("Docker-Upload-UUID", id.to_string())
        .header("Range", upload_range(len))
        .header("Content-Length", "0")
}

fn blob_created(name: &str, digest: &str) -> Resp {
    Resp::new(201)
        .header("Docker-Content-Digest", digest.to_string())
        .header("Location", format!("/v2/{name}/blobs/{digest}"))
        .header("Content-Length", "0")
}

fn digest_invalid(digest: &str) -> Resp {
    error(
        400,
        "DIGEST_INVALID",
        "provided digest did not match uploaded content",
        Some(json!(digest)),
    )
}

fn start_upload(shared: &Shared, req: &crate::http::Req, name: &str, caller: &Caller) -> Resp {
    let mut reg = shared.registry();
    if let (Some(digest), Some(from)) = (req.query("mount"), req.query("from")) {
        // A mount the caller may not read from, or of a blob the source lacks, falls back
        // to an ordinary upload session, as the distribution spec allows.
        if caller.may(&Access::repository(from, &["pull"])) && reg.repo_has_blob(from, digest) {
            if let Err(e) = reg.link_blob(name, digest) {
                return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
            }
            return blob_created(name, digest);
        }
    } else if let Some(digest) = req.query("digest") {
        if sha256_digest(&req.body) != digest {
            return digest_invalid(digest);
        }
        return match reg.put_blob(name, req.body.clone()) {
            Ok(d) => blob_created(name, &d),
            Err(e) => error(500, "UNKNOWN", &format!("storage failure: {e}"), None),
        };
    }
    let id = reg.start_upload(name);
    if let Some(u) = reg.uploads.get_mut(&id) {
        u.data.extend_from_slice(&req.body);
    }
    upload_accepted(shared, &reg, name, &id, 202)
}

fn upload_unknown() -> Resp {
    error(
        404,
        "BLOB_UPLOAD_UNKNOWN",
        "blob upload unknown to registry",
        None,
    )
}

/// Checks that the session exists for this repository and that a `_state`, when sent,
/// is current: ACR rejects a replayed chunk (stale state) with 404 BLOB_UPLOAD_INVALID.
fn check_upload(
    shared: &Shared,
    reg: &Registry,
    req: &crate::http::Req,
    name: &str,
    id: &str,
) -> Result<(), Resp> {
    let Some(upload) = reg.uploads.get(id).filter(|u| u.repo == name) else {
        return Err(upload_unknown());
    };
    if let Some(state) = req.query("_state") {
        match state_offset(shared, state, id) {
            None => {
                return Err(error(
                    400,
                    "BLOB_UPLOAD_INVALID",
                    "blob upload invalid",
                    None,
                ));
            }
            Some(offset) if offset != upload.data.len() => {
                return Err(error(
                    404,
                    "BLOB_UPLOAD_INVALID",
                    "blob upload invalid",
                    None,
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn patch_upload(shared: &Shared, req: &crate::http::Req, name: &str, id: &str) -> Resp {
    let mut reg = shared.registry();
    if let Err(r) = check_upload(shared, &reg, req, name, id) {
        return r;
    }
    let len = reg.uploads[id].data.len();
    if let Some(range) = req.header("content-range") {
        let spec = range
            .trim()
            .trim_start_matches("bytes")
            .trim()
            .trim_start_matches('=');
        let start = spec
            .split('-')
            .next()
            .and_then(|s| s.trim().parse::<usize>().ok());
        if start != Some(len) {
            return error(
                416,
                "BLOB_UPLOAD_INVALID",
                "the chunk does not continue the upload",
                None,
            )
            .header("Location", upload_location(shared, &reg, name, id))
            .header("Range", upload_range(len));
        }
    }
    if let Some(u) = reg.uploads.get_mut(id) {
        u.data.extend_from_slice(&req.body);
    }
    upload_accepted(shared, &reg, name, id, 202)
}

fn finish_upload(shared: &Shared, req: &crate::http::Req, name: &str, id: &str) -> Resp {
    let mut reg = shared.registry();
    if let Err(r) = check_upload(shared, &reg, req, name, id) {
        return r;
    }
    let Some(digest) = req.query("digest").map(str::to_string) else {
        return error(400, "DIGEST_INVALID", "digest missing", None);
    };
    let Some(mut upload) = reg.uploads.remove(id) else {
        return upload_unknown();
    };
    upload.data.extend_from_slice(&req.body);
    if sha256_digest(&upload.data) != digest {
        return digest_invalid(&digest);
    }
    match reg.put_blob(name, Bytes::from(upload.data)) {
        Ok(d) => blob_created(name, &d),
        Err(e) => error(500, "UNKNOWN", &format!("storage failure: {e}"), None),
    }
}

fn upload_status(shared: &Shared, name: &str, id: &str) -> Resp {
    let reg = shared.registry();
    if reg.uploads.get(id).is_none_or(|u| u.repo != name) {
        return upload_unknown();
    }
    upload_accepted(shared, &reg, name, id, 204)
}

fn cancel_upload(shared: &Shared, name: &str, id: &str) -> Resp {
    let mut reg = shared.registry();
    if reg.uploads.get(id).is_none_or(|u| u.repo != name) {
        return upload_unknown();
    }
    reg.uploads.remove(id);
    Resp::new(204)
}

// ---------------------------------------------------------------- /acr/v1

fn acr_catalog(shared: &Shared, req: &crate::http::Req) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let names: Vec<String> = reg
        .meta
        .repos
        .iter()
        .filter(|(_, r)| r.visible && r.attributes.list_enabled)
        .map(|(n, _)| n.clone())
        .collect();
    let (page, next) = paginate(names, |s| s.as_str(), true, req.query("last"), n);
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

fn acr_repo(shared: &Shared, name: &str, patch: Option<&Bytes>) -> Resp {
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

fn acr_delete_repo(shared: &Shared, name: &str) -> Resp {
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

fn acr_tags(shared: &Shared, req: &crate::http::Req, name: &str) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let digest = req.query("digest").filter(|d| !d.is_empty());
    let mut tags: Vec<(&String, &crate::store::TagMeta)> = repo
        .tags
        .iter()
        .filter(|(_, t)| t.attributes.list_enabled && digest.is_none_or(|d| t.digest == d))
        .collect();
    let ord = order(req);
    match ord {
        Order::Name => {}
        Order::TimeAsc => tags.sort_by_key(|(_, t)| t.updated),
        Order::TimeDesc => tags.sort_by_key(|(_, t)| std::cmp::Reverse(t.updated)),
    }
    let (page, next) = paginate(
        tags,
        |(n, _)| n.as_str(),
        ord == Order::Name,
        req.query("last"),
        n,
    );
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

fn acr_tag(shared: &Shared, name: &str, tag: &str, patch: Option<&Bytes>) -> Resp {
    let mut reg = shared.registry();
    let host = shared.tokens.host.clone();
    // ACR answers TAG_UNKNOWN whether or not the repository exists (recorded for
    // `DELETE /acr/v1/does_not_exist/_tags/does_not_exist`).
    let Some(meta) = reg.visible_repo_mut(name).and_then(|r| r.tags.get_mut(tag)) else {
        return tag_unknown();
    };
    if let Some(body) = patch
        && let Err(answer) = apply_patch(&mut meta.attributes, body)
    {
        return answer;
    }
    let value = json!({ "registry": host, "imageName": name, "tag": tag_json(tag, meta) });
    if patch.is_some()
        && let Err(e) = reg.persist()
    {
        return error(500, "UNKNOWN", &format!("storage failure: {e}"), None);
    }
    Resp::json(200, &value)
}

fn acr_delete_tag(shared: &Shared, name: &str, tag: &str) -> Resp {
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

fn acr_manifests(shared: &Shared, req: &crate::http::Req, name: &str) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let mut manifests: Vec<(&String, &ManifestMeta)> = repo
        .manifests
        .iter()
        .filter(|(_, m)| m.attributes.list_enabled)
        .collect();
    let ord = order(req);
    match ord {
        Order::Name => {}
        Order::TimeAsc => manifests.sort_by_key(|(_, m)| m.updated),
        Order::TimeDesc => manifests.sort_by_key(|(_, m)| std::cmp::Reverse(m.updated)),
    }
    let (page, next) = paginate(
        manifests,
        |(d, _)| d.as_str(),
        ord == Order::Name,
        req.query("last"),
        n,
    );
    let items: Vec<Value> = page
        .iter()
        .map(|(d, m)| manifest_json(d, m, repo.tags_of(d), false))
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

fn acr_manifest(shared: &Shared, name: &str, reference: &str, patch: Option<&Bytes>) -> Resp {
    let mut reg = shared.registry();
    let host = shared.tokens.host.clone();
    let Some(repo) = reg.visible_repo_mut(name) else {
        return name_unknown(name);
    };
    let Some(digest) = repo.resolve(reference) else {
        return manifest_unknown(reference);
    };
    let tags = repo.tags_of(&digest);
    let Some(meta) = repo.manifests.get_mut(&digest) else {
        return manifest_unknown(reference);
    };
    if let Some(body) = patch
        && let Err(answer) = apply_patch(&mut meta.attributes, body)
    {
        return answer;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-3", 10), Some(Ok((0, 3))));
        assert_eq!(parse_range("bytes=8-100", 10), Some(Ok((8, 9))));
        assert_eq!(parse_range("bytes=4-", 10), Some(Ok((4, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 9))));
        assert_eq!(parse_range("bytes=10-12", 10), Some(Err(())));
        assert_eq!(parse_range("0-3", 10), None);
        assert_eq!(parse_range("bytes=5-2", 10), None);
    }

    #[test]
    fn pages_by_name_and_position() {
        let items = vec!["a".to_string(), "b".into(), "c".into()];
        let (page, next) = paginate(items.clone(), |s| s.as_str(), true, None, Some(2));
        assert_eq!(
            (page, next),
            (vec!["a".to_string(), "b".into()], Some("b".into()))
        );
        let (page, next) = paginate(items.clone(), |s| s.as_str(), true, Some("b"), Some(2));
        assert_eq!((page, next), (vec!["c".to_string()], None));
        let reversed = vec!["c".to_string(), "b".into(), "a".into()];
        let (page, _) = paginate(reversed, |s| s.as_str(), false, Some("c"), Some(5));
        assert_eq!(page, vec!["b".to_string(), "a".into()]);
    }
}
