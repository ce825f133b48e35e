//! The `/v2` catalog and tag lists.

use serde_json::json;

use super::paging::{DEFAULT_PAGE, last, page_size, paginate};
use crate::http::{Resp, enc, name_unknown};
use crate::index::{Order, after};
use crate::server::Shared;

pub(super) fn v2_catalog(shared: &Shared, req: &crate::http::Req) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let names = after(&reg.meta.repos, last(req))
        .filter(|(_, r)| r.visible)
        .map(|(n, _)| n);
    let (page, next) = paginate(names, |s| s.as_str(), n);
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

pub(super) fn tags_list(shared: &Shared, req: &crate::http::Req, name: &str) -> Resp {
    let n = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let reg = shared.registry();
    let Some(repo) = reg.visible_repo(name) else {
        return name_unknown(name);
    };
    let tags = repo
        .tags
        .after(Order::Name, last(req), None)
        .filter(|(_, t)| t.attributes.list_enabled)
        .map(|(n, _)| n);
    let (page, next) = paginate(tags, |s| s.as_str(), n);
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
