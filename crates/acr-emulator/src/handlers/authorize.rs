//! Checking a request's credentials against what its route needs.

use serde_json::{Value, json};

use crate::auth::{Access, covers, parse_basic, parse_bearer};
use crate::http::{Resp, error};
use crate::routes::Needs;
use crate::server::Shared;

/// The caller, once authorised.
pub(crate) struct Caller {
    pub(crate) granted: Option<Vec<Access>>,
}

impl Caller {
    /// Whether the caller may also do `needed` (used for the source of a cross-repository mount).
    pub(super) fn may(&self, needed: &Access) -> bool {
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
