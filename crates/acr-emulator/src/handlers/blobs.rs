//! Blob downloads and deletes.

use crate::http::{Resp, blob_unknown, error, name_unknown};
use crate::server::Shared;

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

pub(super) fn get_blob(
    shared: &Shared,
    req: &crate::http::Req,
    name: &str,
    digest: &str,
    head: bool,
) -> Resp {
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

pub(super) fn delete_blob(shared: &Shared, name: &str, digest: &str) -> Resp {
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
}
