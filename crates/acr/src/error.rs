//! The one error type of the crate, shaped by what the caller does next.

/// A boxed error from a layer below this crate (HTTP, TLS, I/O).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a registry operation.
///
/// Each variant is a different next step for the caller: fix the input, fix the
/// credentials, treat the item as absent, distrust the content, or try again later
/// ([`Error::is_retryable`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input was rejected before any request was sent: a repository name,
    /// tag, digest or endpoint that is not valid.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The repository, tag, manifest or blob does not exist (HTTP 404).
    #[error("not found: {message}")]
    NotFound {
        /// The service's explanation, or a description of what was looked up.
        message: String,
        /// What the registry says is missing, as the code of its error envelope
        /// (`NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, `TAG_UNKNOWN`, `BLOB_UNKNOWN`); `None` for a
        /// `404` that names nothing, which may be a path the registry does not serve.
        code: Option<String>,
        /// The `x-ms-request-id` of the response, for support requests.
        request_id: Option<String>,
    },

    /// The registry refused the credentials, or they lack the permission the operation
    /// needs (HTTP 401 or 403, or a failed token exchange).
    #[error("authentication failed: {message}")]
    Authentication {
        /// The service's explanation; never contains a token or password.
        message: String,
        /// The HTTP status of the refusal, when a response refused (401, 403, or the token
        /// service's status); `None` when the credential itself failed.
        status: Option<u16>,
        /// The `x-ms-request-id` of the response, for support requests.
        request_id: Option<String>,
    },

    /// The registry answered with an error not covered by a more specific variant.
    #[error("registry error {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Service {
        /// The HTTP status code.
        status: u16,
        /// ACR's error code (`MANIFEST_UNKNOWN`, `DENIED`, …), when the body had one.
        code: Option<String>,
        /// The service's message, or a summary of a body that was not ACR's error JSON.
        message: String,
        /// The `x-ms-request-id` of the response, for support requests.
        request_id: Option<String>,
    },

    /// Content did not hash to the digest it was requested or announced by. The content
    /// must not be used.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest that was asked for or announced.
        expected: String,
        /// The digest of the bytes actually received.
        actual: String,
    },

    /// A manifest exceeded the size limit; reading stopped at the limit.
    #[error(
        "manifest larger than the {limit}-byte limit{}",
        declared.map(|d| format!(" (declared {d} bytes)")).unwrap_or_default()
    )]
    ManifestTooLarge {
        /// The limit in bytes (4 MiB).
        limit: u64,
        /// The size the response declared in `Content-Length`, if it declared one.
        declared: Option<u64>,
    },

    /// The registry answered something this client will not act on: a next-page link to
    /// another host or one that repeats, a malformed header. Retrying will not help.
    #[error("unexpected answer from the registry: {0}")]
    Protocol(String),

    /// The registry does not offer this operation: it serves no such endpoint (a registry
    /// that is not an Azure Container Registry has no `/acr/v1` metadata API), and nothing
    /// was changed. Not an absence of the item: the registry cannot tell.
    #[error("{registry} does not support {operation}")]
    Unsupported {
        /// The operation (`delete_tag`, `list_tags`, …).
        operation: String,
        /// The registry's host.
        registry: String,
    },

    /// The registry redirected more times than a client follows, or in a loop.
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// How many redirects are followed.
        limit: usize,
    },

    /// A local file or stream could not be read or written: the content to upload, or the
    /// file a download goes to. Nothing is wrong with the registry or the input's form.
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The error of the operating system.
        #[source]
        source: std::io::Error,
    },

    /// The request could not be sent or the response not read: connection, TLS, timeout
    /// or a response cut short.
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),
}

impl Error {
    /// The HTTP status of the response behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::NotFound { .. } => Some(404),
            Error::Authentication { status, .. } => *status,
            Error::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's `x-ms-request-id` of the response behind this error, when it sent
    /// one: what a support request needs.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::NotFound { request_id, .. }
            | Error::Authentication { request_id, .. }
            | Error::Service { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// An [`Error::Authentication`] without a response behind it: what a
    /// [`TokenCredential`](crate::TokenCredential) returns when it cannot get a token.
    pub fn authentication(message: impl Into<String>) -> Self {
        Error::Authentication {
            message: message.into(),
            status: None,
            request_id: None,
        }
    }

    /// An [`Error::Io`] about `context` (what was being read or written).
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether the same request may succeed later: throttling (429), a server-side
    /// failure (500, 502, 503, 504) or a transport error.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Service { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            Error::Transport(_) => true,
            _ => false,
        }
    }
}

/// At most this much of an error response's body is read, for its message: an error
/// body is a few hundred bytes, and a hostile one must not fill memory.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// ACR's error envelope, `{"errors":[{"code","message"}]}`; every field may be missing.
#[derive(serde::Deserialize)]
struct Envelope {
    errors: Option<Vec<EnvelopeError>>,
}

#[derive(serde::Deserialize)]
struct EnvelopeError {
    code: Option<String>,
    message: Option<String>,
}

/// ACR's error code and message, when `body` is its error envelope.
fn code_and_message(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let first = envelope.errors?.into_iter().next();
    Some(first.map_or((None, None), |e| (e.code, e.message)))
}

/// The first message of ACR's error envelope.
pub(crate) fn service_message(body: &[u8]) -> Option<String> {
    code_and_message(body)?.1
}

impl Error {
    /// The one classifier of unsuccessful responses, generated or handwritten: `404` is
    /// [`Error::NotFound`], `401` and `403` are [`Error::Authentication`], anything else
    /// [`Error::Service`]. The message is the envelope's, or the start of any other body
    /// (proxies and gateways answer in HTML or plain text), or the status's reason.
    ///
    /// A `404` is an absence only when the registry says what is absent, in its error
    /// envelope; a bare `404` of ACR's metadata API (`/acr/…`) means the registry has no
    /// such endpoint, [`Error::Unsupported`], so that a delete never takes a missing
    /// endpoint for a deleted item.
    pub(crate) fn classify(
        status: u16,
        url: &url::Url,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Self {
        let envelope = code_and_message(body);
        if status == 404 && envelope.is_none() && url.path().starts_with("/acr/") {
            return Error::Unsupported {
                operation: format!("ACR's metadata API ({})", url.path()),
                registry: url.host_str().unwrap_or_default().to_owned(),
            };
        }
        let (code, message) = envelope.unwrap_or_else(|| (None, body_text(body)));
        Self::from_status(status, code, message, request_id(headers))
    }

    /// The error for an unsuccessful response: its status, `x-ms-request-id` and at most
    /// [`MAX_ERROR_BODY`] bytes of its body, through [`Error::classify`].
    pub(crate) async fn from_response(mut response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let url = response.url().clone();
        let body = read_capped(response, MAX_ERROR_BODY).await;
        Self::classify(status, &url, &headers, &body)
    }

    fn from_status(
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        let message = message.unwrap_or_else(|| {
            http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("unexpected response")
                .to_owned()
        });
        match status {
            404 => Error::NotFound {
                message,
                code,
                request_id,
            },
            401 | 403 => Error::Authentication {
                message,
                status: Some(status),
                request_id,
            },
            _ => Error::Service {
                status,
                code,
                message,
                request_id,
            },
        }
    }

    /// Maps an error of the generated client. Unsuccessful responses do not reach here:
    /// the pipeline classifies them before the generated code sees them.
    pub(crate) fn from_rest<E>(error: acr_rest::Error<E>) -> Self {
        match error {
            acr_rest::Error::ErrorResponse(response) => Self::from_status(
                response.status().as_u16(),
                None,
                None,
                request_id(response.headers()),
            ),
            acr_rest::Error::UnexpectedResponse(response) => Error::Protocol(format!(
                "the registry answered with status {}, which the operation does not define",
                response.status()
            )),
            acr_rest::Error::InvalidRequest(message) => Error::InvalidInput(message),
            acr_rest::Error::CommunicationError(error)
            | acr_rest::Error::ResponseBodyError(error)
            | acr_rest::Error::InvalidUpgrade(error) => crate::pipeline::transport_error(error),
            acr_rest::Error::InvalidResponsePayload(_, error) => Error::Protocol(format!(
                "the registry's response is not what the operation defines: {error}"
            )),
            acr_rest::Error::Custom(message) => Error::Transport(message.into()),
        }
    }
}

/// At most `limit` bytes of a body, for a message; what cannot be read is left out.
pub(crate) async fn read_capped(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    body
}

/// The start of a body that is not ACR's JSON, as a message.
pub(crate) fn body_text(body: &[u8]) -> Option<String> {
    const SHOWN: usize = 512;
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN)]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

pub(crate) fn request_id(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("x-ms-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16) -> Error {
        Error::Service {
            status,
            code: None,
            message: "m".into(),
            request_id: None,
        }
    }

    #[test]
    fn throttling_server_failures_and_transport_errors_are_retryable() {
        for status in [429, 500, 502, 503, 504] {
            assert!(service(status).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 409, 412] {
            assert!(!service(status).is_retryable(), "{status}");
        }
        assert!(Error::Transport("reset".into()).is_retryable());
        assert!(!Error::InvalidInput("x".into()).is_retryable());
    }

    #[test]
    fn status_is_reported_where_a_response_was_seen() {
        assert_eq!(service(503).status(), Some(503));
        assert_eq!(
            Error::NotFound {
                message: "m".into(),
                code: None,
                request_id: None,
            }
            .status(),
            Some(404)
        );
        assert_eq!(
            Error::DigestMismatch {
                expected: "a".into(),
                actual: "b".into()
            }
            .status(),
            None
        );
    }

    #[test]
    fn messages_name_the_code_and_the_declared_size() {
        let e = Error::Service {
            status: 400,
            code: Some("MANIFEST_INVALID".into()),
            message: "bad".into(),
            request_id: None,
        };
        assert_eq!(e.to_string(), "registry error 400 (MANIFEST_INVALID): bad");
        let e = Error::ManifestTooLarge {
            limit: 4 << 20,
            declared: Some(5 << 20),
        };
        assert_eq!(
            e.to_string(),
            "manifest larger than the 4194304-byte limit (declared 5242880 bytes)"
        );
    }

    #[test]
    fn the_error_is_small_enough_for_result_returns() {
        assert!(
            std::mem::size_of::<Error>() <= 96,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
