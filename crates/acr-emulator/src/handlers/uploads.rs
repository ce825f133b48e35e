//! Blob upload sessions, monolithic uploads and cross-repository mounts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use bytes::Bytes;
use serde_json::{Value, json};

use super::Caller;
use crate::auth::Access;
use crate::digest::{self, Algorithm};
use crate::http::{Resp, digest_refused, enc, error};
use crate::server::Shared;
use crate::store::Registry;

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

pub(super) fn start_upload(
    shared: &Shared,
    req: &crate::http::Req,
    name: &str,
    caller: &Caller,
) -> Resp {
    // The whole upload is kept until it is closed, so any algorithm the registry computes
    // can be checked then; this only refuses early the ones it cannot.
    if let Some(algorithm) = req.query("digest-algorithm")
        && let Err(why) = Algorithm::named(algorithm)
    {
        return digest_refused(algorithm, &why);
    }
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
        let algorithm = match digest::parse(digest) {
            Ok(algorithm) => algorithm,
            Err(why) => return digest_refused(digest, &why),
        };
        if algorithm.digest(&req.body) != digest {
            return digest_invalid(digest);
        }
        return match reg.put_blob(name, digest, req.body.clone()) {
            Ok(()) => blob_created(name, digest),
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

/// Refuses a chunk whose `Content-Range`, when sent, does not start where the upload
/// ends: 416 with the session left as it was, and where it stands, so the client can
/// resume from there.
fn check_chunk_start(
    shared: &Shared,
    reg: &Registry,
    req: &crate::http::Req,
    name: &str,
    id: &str,
) -> Result<(), Resp> {
    let Some(range) = req.header("content-range") else {
        return Ok(());
    };
    let len = reg.uploads[id].data.len();
    let spec = range
        .trim()
        .trim_start_matches("bytes")
        .trim()
        .trim_start_matches('=');
    let start = spec
        .split('-')
        .next()
        .and_then(|s| s.trim().parse::<usize>().ok());
    if start == Some(len) {
        return Ok(());
    }
    Err(error(
        416,
        "BLOB_UPLOAD_INVALID",
        "the chunk does not continue the upload",
        None,
    )
    .header("Location", upload_location(shared, reg, name, id))
    .header("Range", upload_range(len)))
}

pub(super) fn patch_upload(shared: &Shared, req: &crate::http::Req, name: &str, id: &str) -> Resp {
    let mut reg = shared.registry();
    if let Err(r) = check_upload(shared, &reg, req, name, id) {
        return r;
    }
    if let Err(r) = check_chunk_start(shared, &reg, req, name, id) {
        return r;
    }
    if let Some(u) = reg.uploads.get_mut(id) {
        u.data.extend_from_slice(&req.body);
    }
    upload_accepted(shared, &reg, name, id, 202)
}

pub(super) fn finish_upload(shared: &Shared, req: &crate::http::Req, name: &str, id: &str) -> Resp {
    let mut reg = shared.registry();
    if let Err(r) = check_upload(shared, &reg, req, name, id) {
        return r;
    }
    let Some(digest) = req.query("digest").map(str::to_string) else {
        return error(400, "DIGEST_INVALID", "digest missing", None);
    };
    // Refused before the session is consumed, so the client can close it again with a
    // digest the registry can check.
    let algorithm = match digest::parse(&digest) {
        Ok(algorithm) => algorithm,
        Err(why) => return digest_refused(&digest, &why),
    };
    if let Err(r) = check_chunk_start(shared, &reg, req, name, id) {
        return r;
    }
    let Some(mut upload) = reg.uploads.remove(id) else {
        return upload_unknown();
    };
    upload.data.extend_from_slice(&req.body);
    if algorithm.digest(&upload.data) != digest {
        return digest_invalid(&digest);
    }
    match reg.put_blob(name, &digest, Bytes::from(upload.data)) {
        Ok(()) => blob_created(name, &digest),
        Err(e) => error(500, "UNKNOWN", &format!("storage failure: {e}"), None),
    }
}

pub(super) fn upload_status(shared: &Shared, name: &str, id: &str) -> Resp {
    let reg = shared.registry();
    if reg.uploads.get(id).is_none_or(|u| u.repo != name) {
        return upload_unknown();
    }
    upload_accepted(shared, &reg, name, id, 204)
}

pub(super) fn cancel_upload(shared: &Shared, name: &str, id: &str) -> Resp {
    let mut reg = shared.registry();
    if reg.uploads.get(id).is_none_or(|u| u.repo != name) {
        return upload_unknown();
    }
    reg.uploads.remove(id);
    Resp::new(204)
}
