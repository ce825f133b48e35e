//! Failures, and the exit codes scripts tell them apart by.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// From the registry client.
    Acr(acr::Error),
    /// Bad arguments that clap cannot see (a malformed reference, a flag that does not
    /// fit the registry).
    Usage(String),
    /// Local content that does not match its digest.
    Integrity(String),
    /// Anything else: files, configuration.
    Other(String),
}

pub(crate) type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Acr(acr::Error::NotFound { .. }) => 3,
            CliError::Acr(acr::Error::Authentication { .. }) => 4,
            CliError::Acr(
                acr::Error::DigestMismatch { .. } | acr::Error::ManifestTooLarge { .. },
            )
            | CliError::Integrity(_) => 5,
            // The registry lacks the operation: nothing happened, which a script must not
            // take for success or for an absent item.
            CliError::Acr(acr::Error::Unsupported { .. }) => 6,
            // Input the library refused before sending anything (a repository name, a
            // tag, an endpoint) is a usage error like those the tool finds itself.
            CliError::Usage(_) | CliError::Acr(acr::Error::InvalidInput(_)) => 2,
            CliError::Acr(_) | CliError::Other(_) => 1,
        })
    }

    /// An I/O failure on `path`, saying what was being done.
    pub(crate) fn io(doing: &str, path: &Path, error: std::io::Error) -> Self {
        CliError::Other(format!("{doing} {}: {error}", path.display()))
    }
}

impl From<acr::Error> for CliError {
    fn from(error: acr::Error) -> Self {
        CliError::Acr(error)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The transport error's own message is often just "error sending request";
            // the cause (refused connection, bad certificate) is what the user can act on.
            CliError::Acr(acr::Error::Transport(source)) => {
                write!(f, "transport error: {source}")?;
                let mut cause = source.source();
                while let Some(error) = cause {
                    write!(f, ": {error}")?;
                    cause = error.source();
                }
                Ok(())
            }
            CliError::Acr(error) => write!(f, "{error}"),
            CliError::Usage(message) | CliError::Integrity(message) | CliError::Other(message) => {
                f.write_str(message)
            }
        }
    }
}
