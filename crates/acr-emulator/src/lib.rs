//! A local registry that behaves like Azure Container Registry on the wire, for tests.
//!
//! It serves the OCI distribution API (`/v2/...`, including blob uploads, cross-repository
//! mounts and the OCI 1.1 referrers API), ACR's metadata API (`/acr/v1/...`) and ACR's
//! token service (`/oauth2/exchange`, `/oauth2/token`), enforces the tokens it issues, and
//! can inject faults deterministically. It shares no code with the `acr` client crates, so
//! the two cannot share a bug.
//!
//! [`TokenService`] is a Docker token service, the `realm` of CNCF distribution's
//! `auth: token`: its ES256-signed JWTs are verified by distribution itself, so tests can
//! run against a token-authenticated distribution registry too.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let emu = acr_emulator::Emulator::builder()
//!     .anonymous_pull(true)
//!     .user("admin", "s3cret")
//!     .aad_check(|token: &str| token == "good-aad-token")
//!     .start()
//!     .await?;
//! let digest = emu.put_blob("library/hello", b"layer bytes".to_vec())?;
//! println!("{} serves {digest}", emu.endpoint());
//! emu.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod auth;
mod digest;
mod docker_token;
mod faults;
mod handlers;
mod http;
mod index;
mod routes;
mod server;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use docker_token::{TokenRequestRecord, TokenService, TokenServiceBuilder};
pub use faults::Faults;

/// The check applied to AAD access tokens presented to `/oauth2/exchange`.
pub(crate) type AadCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Where the registry keeps its content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Storage {
    /// In memory; gone when the emulator stops.
    #[default]
    Memory,
    /// In a directory: blobs as files named by digest, metadata in `state.json`. Content
    /// survives restarts; upload sessions do not.
    Directory(PathBuf),
}

/// One request the emulator answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path and query exactly as received (still percent-encoded).
    pub path_and_query: String,
    /// The status code sent back.
    pub status: u16,
}

/// An error from seeding content through the library API.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Configures and starts an [`Emulator`].
pub struct EmulatorBuilder {
    anonymous_pull: bool,
    users: Vec<(String, String)>,
    aad_check: Option<AadCheck>,
    token_lifetime: Duration,
    faults: Faults,
    storage: Storage,
    tls: bool,
    port: u16,
    access_log: Option<PathBuf>,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            anonymous_pull: false,
            users: Vec::new(),
            aad_check: None,
            token_lifetime: Duration::from_secs(3 * 3600),
            faults: Faults::default(),
            storage: Storage::Memory,
            tls: false,
            port: 0,
            access_log: None,
        }
    }
}

impl EmulatorBuilder {
    /// Lets callers without credentials get pull-only tokens (`grant_type=password` with no
    /// user). Off by default.
    pub fn anonymous_pull(mut self, enabled: bool) -> Self {
        self.anonymous_pull = enabled;
        self
    }

    /// Adds a user accepted by Basic authentication, on `GET /oauth2/token`, on the
    /// `password` grant and directly on registry requests. May be repeated.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }

    /// Decides which AAD access tokens `/oauth2/exchange` accepts. By default none are.
    pub fn aad_check(mut self, check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.aad_check = Some(Arc::new(check));
        self
    }

    /// Lifetime (`exp - iat`) of issued refresh and access tokens; 3 hours by default, as
    /// on ACR.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Faults to inject; none by default.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Where content is kept; memory by default.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Serves HTTPS with a self-signed certificate for `127.0.0.1` and `localhost`,
    /// generated at start ([`Emulator::ca_cert_pem`]).
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls = enabled;
        self
    }

    /// Binds this port on 127.0.0.1 instead of an ephemeral one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Appends `METHOD PATH?QUERY STATUS` to this file for every request.
    pub fn access_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.access_log = Some(path.into());
        self
    }

    /// Binds the port and starts serving on the current Tokio runtime.
    pub async fn start(self) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], self.port))).await?;
        let addr = listener.local_addr()?;
        let host = addr.to_string();
        let (tls, ca_cert_pem) = if self.tls {
            let (acceptor, pem) = tls_acceptor()?;
            (Some(acceptor), Some(pem))
        } else {
            (None, None)
        };
        let scheme = if self.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{host}");
        let registry = store::Registry::new(match self.storage {
            Storage::Memory => None,
            Storage::Directory(dir) => Some(dir),
        })?;
        let access_log = match self.access_log {
            None => None,
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
        };
        let shared = Arc::new(server::Shared {
            registry: Mutex::new(registry),
            tokens: auth::TokenService::new(host.clone(), self.token_lifetime),
            rng: Mutex::new(faults::Rng::new(self.faults.seed)),
            config: server::Config {
                anonymous_pull: self.anonymous_pull,
                users: self.users,
                aad_check: self.aad_check,
                faults: self.faults,
            },
            base_url: base_url.clone(),
            log: Mutex::new(Vec::new()),
            access_log,
        });
        let (stop, stopped) = watch::channel(false);
        let handler_shared = shared.clone();
        let task = tokio::spawn(server::serve(
            move |req| server::respond(handler_shared.clone(), req),
            listener,
            tls,
            stopped,
        ));
        Ok(Emulator {
            shared,
            host,
            base_url,
            ca_cert_pem,
            stop,
            task: Some(task),
        })
    }
}

fn tls_acceptor() -> std::io::Result<(tokio_rustls::TlsAcceptor, String)> {
    use tokio_rustls::rustls;
    let other = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(|e| other(&e))?;
    let pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    // An explicit provider: with both ring and aws-lc-rs compiled into a test binary,
    // rustls cannot pick a process default on its own.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| other(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .map_err(|e| other(&e))?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), pem))
}

/// A running emulator. Dropping it stops the server too; [`Emulator::shutdown`] also
/// waits for it.
pub struct Emulator {
    shared: Arc<server::Shared>,
    host: String,
    base_url: String,
    ca_cert_pem: Option<String>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// A builder with everything off: no anonymous pull, no users, no accepted AAD tokens,
    /// no faults, memory storage, plain HTTP.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT` (or `https://...` with TLS).
    pub fn endpoint(&self) -> &str {
        &self.base_url
    }

    /// `127.0.0.1:PORT`: the `service` named in challenges and expected by the token endpoints.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The self-signed certificate (PEM) when serving TLS, to be trusted by clients.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.ca_cert_pem.as_deref()
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.records()
    }

    /// Stores a blob in `repository` without HTTP; returns its digest.
    pub fn put_blob(&self, repository: &str, data: impl Into<Bytes>) -> Result<String, Error> {
        check_name(repository)?;
        let data = data.into();
        let digest = digest::sha256_digest(&data);
        self.shared
            .registry()
            .put_blob(repository, &digest, data)
            .map_err(|e| Error(format!("storing blob: {e}")))?;
        Ok(digest)
    }

    /// Stores a manifest under `reference` (a tag, or the manifest's own digest) without
    /// HTTP, creating the repository if needed; returns its digest. Unlike a `PUT`, the
    /// blobs it references need not exist, so metadata can be seeded cheaply.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        manifest: impl Into<Bytes>,
    ) -> Result<String, Error> {
        check_name(repository)?;
        self.shared
            .registry()
            .put_manifest(
                repository,
                reference,
                Some(media_type),
                manifest.into(),
                false,
            )
            .map_err(|e| Error(format!("storing manifest: {e:?}")))
    }

    /// Points `tag` at a manifest already in `repository`.
    pub fn tag(&self, repository: &str, tag: &str, digest: &str) -> Result<(), Error> {
        let mut reg = self.shared.registry();
        let body = reg
            .visible_repo(repository)
            .and_then(|r| r.manifests.get(digest).map(|m| m.media_type.clone()))
            .zip(reg.blobs.get(digest))
            .ok_or_else(|| Error(format!("no manifest {digest} in {repository}")))?;
        reg.put_manifest(repository, tag, Some(&body.0), body.1, false)
            .map(|_| ())
            .map_err(|e| Error(format!("tagging: {e:?}")))
    }

    /// Stops accepting connections, closes open ones and waits for the server to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if routes::valid_name(name) {
        Ok(())
    } else {
        Err(Error(format!("invalid repository name {name:?}")))
    }
}
