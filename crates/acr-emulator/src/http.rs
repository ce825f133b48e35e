//! Requests and responses in a transport-independent form, and the error envelopes.

use bytes::Bytes;
use serde_json::{Value, json};

/// A fully read request.
pub(crate) struct Req {
    pub(crate) method: http::Method,
    /// Percent-decoded path.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Req {
    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }
}

/// A response before it becomes a hyper response.
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    /// HEAD answers carry the length of the body they do not send.
    pub(crate) head_length: Option<usize>,
    /// Only blob downloads get their bytes flipped by fault injection.
    pub(crate) is_blob_content: bool,
}

impl Resp {
    pub(crate) fn new(status: u16) -> Self {
        Resp {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            head_length: None,
            is_blob_content: false,
        }
    }

    pub(crate) fn header(mut self, key: &str, value: impl Into<String>) -> Self {
        self.headers.push((key.to_string(), value.into()));
        self
    }

    pub(crate) fn json(status: u16, value: &Value) -> Self {
        let mut r = Resp::new(status).header("Content-Type", "application/json; charset=utf-8");
        r.body = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        r
    }

    pub(crate) fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }
}

/// The OCI/ACR error envelope `{"errors":[{"code","message","detail"?}]}`.
pub(crate) fn error(status: u16, code: &str, message: &str, detail: Option<Value>) -> Resp {
    let mut item = json!({ "code": code, "message": message });
    if let Some(detail) = detail {
        item["detail"] = detail;
    }
    Resp::json(status, &json!({ "errors": [item] }))
}

/// ACR answers paths it has no route for with Go's plain-text 404 (seen in the recordings
/// for `/acr/v1/Nonexistent/_tags/Nonexistent`: upper-case names match no route).
pub(crate) fn page_not_found() -> Resp {
    Resp::new(404)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Bytes::from_static(b"404 page not found\n"))
}

pub(crate) fn name_unknown(name: &str) -> Resp {
    error(
        404,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        Some(json!({ "name": name })),
    )
}

pub(crate) fn manifest_unknown(reference: &str) -> Resp {
    let message = if crate::digest::is_digest(reference) {
        format!("manifest {reference} is not found")
    } else {
        format!("manifest tagged by \"{reference}\" is not found")
    };
    error(404, "MANIFEST_UNKNOWN", &message, None)
}

pub(crate) fn tag_unknown() -> Resp {
    error(404, "TAG_UNKNOWN", "the specified tag does not exist", None)
}

pub(crate) fn blob_unknown(digest: &str) -> Resp {
    error(
        404,
        "BLOB_UNKNOWN",
        "blob unknown to registry",
        Some(json!(digest)),
    )
}

/// The answer to a digest that is malformed or names an algorithm the registry does not
/// compute: 400 either way, as the distribution spec asks of blob pushes, with a message
/// that tells the two apart.
pub(crate) fn digest_refused(digest: &str, why: &crate::digest::DigestError) -> Resp {
    let message = match why {
        crate::digest::DigestError::Invalid => "provided digest is invalid".to_string(),
        crate::digest::DigestError::Unsupported(algorithm) => format!(
            "unsupported digest algorithm {algorithm:?}: this registry supports sha256 and sha512"
        ),
    };
    error(400, "DIGEST_INVALID", &message, Some(json!(digest)))
}

/// What ACR answers when a `changeableAttributes` flag forbids the operation (HTTP 405,
/// as quoted in Azure/acr-cli#70).
pub(crate) fn disallowed() -> Resp {
    error(
        405,
        "REGISTRY_DISALLOWED_OPERATION",
        "The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation",
        Some(json!({})),
    )
}

pub(crate) fn unsupported() -> Resp {
    error(405, "UNSUPPORTED", "The operation is unsupported.", None)
}

/// Percent-encodes a query value the way ACR's `Link` headers do (`/` → `%2F`, `:` → `%3A`).
pub(crate) fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// ACR's timestamp format: seven fractional digits and `Z`.
pub(crate) fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    // chrono has no seven-digit fraction, so nine are cut to seven (.NET ticks).
    let mut s = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    s.truncate(s.len() - 2);
    s.push('Z');
    s
}
