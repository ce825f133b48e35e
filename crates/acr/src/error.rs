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
    },

    /// The registry refused the credentials, or they lack the permission the operation
    /// needs (HTTP 401 or 403, or a failed token exchange).
    #[error("authentication failed: {message}")]
    Authentication {
        /// The service's explanation; never contains a token or password.
        message: String,
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

    /// The request could not be sent or the response not read: connection, TLS, timeout
    /// or an unreadable response.
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),
}

impl Error {
    /// The HTTP status of the response behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::NotFound { .. } => Some(404),
            Error::Service { status, .. } => Some(*status),
            _ => None,
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
                message: "m".into()
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
