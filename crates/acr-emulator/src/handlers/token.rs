//! The token service: `/oauth2/exchange` and `/oauth2/token`.

use http::Method;
use serde_json::json;

use crate::auth::{Access, Identity, parse_basic};
use crate::http::{Resp, error};
use crate::server::Shared;

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

pub(super) fn exchange(shared: &Shared, req: &crate::http::Req) -> Resp {
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

pub(super) fn token(shared: &Shared, req: &crate::http::Req) -> Resp {
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
