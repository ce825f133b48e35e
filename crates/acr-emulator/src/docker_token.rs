//! A Docker token service: the `realm` that CNCF distribution's `auth: token` sends
//! clients to.
//!
//! It answers distribution's token authentication specification (`GET /token`, with or
//! without Basic credentials) and its OAuth2 variant (`POST /token`, form-encoded
//! `password` and `refresh_token` grants). Tokens are JWTs signed ES256 with a P-256 key
//! generated at start. Each carries the key's self-signed certificate in its `x5c` header:
//! distribution 2.8 checks that chain against its `rootcertbundle` (which holds the same
//! certificate, [`TokenService::cert_pem`]) and takes the key to verify the signature from
//! it, so no key id has to be agreed on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use http::Method;
use hyper::body::Incoming;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Access, parse_basic};
use crate::faults::Decision;
use crate::http::{Req, Resp, error, page_not_found};
use crate::server::{RespBody, lock, read_request, received_target, to_hyper};

/// Query parameters whose values never reach [`TokenService::requests`]: the service
/// reads credentials only from headers and form bodies, but a client may still misplace
/// them in a query.
const SECRET_PARAMETERS: &[&str] = &["password", "refresh_token", "access_token", "token"];

/// One request the token service answered. It holds no credentials: of an
/// `Authorization` header, only the scheme is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequestRecord {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path and query as received (still percent-encoded), with the values of
    /// credential-bearing parameters (`password`, `refresh_token`, …) replaced by
    /// `<redacted>`.
    pub path_and_query: String,
    /// The scheme of the `Authorization` header (`Basic`, `Bearer`, …), if one came.
    pub auth_scheme: Option<String>,
    /// The status code sent back.
    pub status: u16,
}

/// Configures and starts a [`TokenService`].
pub struct TokenServiceBuilder {
    service: String,
    issuer: String,
    users: Vec<(String, String)>,
    anonymous_pull: bool,
    lifetime: Duration,
    port: u16,
}

impl Default for TokenServiceBuilder {
    fn default() -> Self {
        TokenServiceBuilder {
            service: "acr-emulator".into(),
            issuer: "acr-emulator".into(),
            users: Vec::new(),
            anonymous_pull: false,
            lifetime: Duration::from_secs(300),
            port: 0,
        }
    }
}

impl TokenServiceBuilder {
    /// The service tokens are for: the only `service` parameter accepted and the tokens'
    /// `aud`. Must match the registry's `auth.token.service`. `acr-emulator` by default.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The tokens' `iss`. Must match the registry's `auth.token.issuer`. `acr-emulator` by
    /// default.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Adds a user who may sign in with this password (Basic authentication on `GET`, the
    /// `password` grant on `POST`) and is granted every action requested. May be repeated.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }

    /// Grants callers without credentials `pull` on the repositories they ask for. Off by
    /// default: they then get tokens that grant nothing, as Docker Hub gives.
    pub fn anonymous_pull(mut self, enabled: bool) -> Self {
        self.anonymous_pull = enabled;
        self
    }

    /// Lifetime (`exp - iat`, and `expires_in`) of access tokens; 5 minutes by default, as
    /// on Docker Hub. Refresh tokens do not expire.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Binds this port on 127.0.0.1 instead of an ephemeral one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Generates the signing key and certificate, binds the port and starts serving on
    /// the current Tokio runtime.
    pub async fn start(self) -> std::io::Result<TokenService> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], self.port))).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let realm = format!("{endpoint}/token");
        let (signer, cert_pem) = Signer::generate(&self.issuer)?;
        let state = Arc::new(State {
            service: self.service,
            issuer: self.issuer,
            users: self.users,
            anonymous_pull: self.anonymous_pull,
            lifetime: self.lifetime,
            realm: realm.clone(),
            signer,
            refresh_tokens: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let handler_state = state.clone();
        let task = tokio::spawn(crate::server::serve(
            move |req| respond(handler_state.clone(), req),
            listener,
            None,
            stopped,
        ));
        Ok(TokenService {
            state,
            endpoint,
            realm,
            cert_pem,
            stop,
            task: Some(task),
        })
    }
}

/// A running token service. Dropping it stops the server too; [`TokenService::shutdown`]
/// also waits for it.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let tokens = acr_emulator::TokenService::builder()
///     .service("e2e-registry")
///     .issuer("acr-emulator")
///     .user("e2e", "e2e-password")
///     .start()
///     .await?;
/// // distribution's `auth.token.realm`, and the PEM file `auth.token.rootcertbundle` names.
/// std::fs::write("token-service.pem", tokens.cert_pem())?;
/// println!("realm: {}", tokens.realm());
/// tokens.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct TokenService {
    state: Arc<State>,
    endpoint: String,
    realm: String,
    cert_pem: String,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TokenService {
    /// A builder for service and issuer `acr-emulator`, no users, no anonymous pull,
    /// 5-minute tokens and an ephemeral port.
    pub fn builder() -> TokenServiceBuilder {
        TokenServiceBuilder::default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `http://127.0.0.1:PORT/token`: the token endpoint, for the registry's
    /// `auth.token.realm`.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The signing key's self-signed certificate (PEM), for the registry's
    /// `auth.token.rootcertbundle`; every token carries it, DER-encoded, in `x5c`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The signing key's public half as an uncompressed SEC1 point (65 bytes): what
    /// verifies a token's signature with ring's `ECDSA_P256_SHA256_FIXED`.
    pub fn public_key(&self) -> &[u8] {
        self.state.signer.key.public_key().as_ref()
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<TokenRequestRecord> {
        lock(&self.state.log).clone()
    }

    /// Stops accepting connections, closes open ones and waits for the server to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The signing key and the parts of every token that do not change.
struct Signer {
    key: EcdsaKeyPair,
    /// The encoded JWT header, certificate included.
    header: String,
    rng: SystemRandom,
}

impl Signer {
    /// A fresh key and its self-signed certificate, named after the issuer.
    fn generate(issuer: &str) -> std::io::Result<(Signer, String)> {
        let other = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let key_pair =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| other(&e))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| other(&e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{issuer} token signing"));
        let cert = params.self_signed(&key_pair).map_err(|e| other(&e))?;
        let rng = SystemRandom::new();
        // The fixed-size r||s signature is the form JWS (RFC 7518) requires for ES256.
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .map_err(|e| other(&e))?;
        let header = json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(cert.der())],
        });
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|e| other(&e))?);
        Ok((Signer { key, header, rng }, cert.pem()))
    }

    fn sign(&self, claims: &Claims<'_>) -> Option<String> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).ok()?);
        let signing_input = format!("{}.{payload}", self.header);
        let signature = self.key.sign(&self.rng, signing_input.as_bytes()).ok()?;
        Some(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// 32 random bytes, URL-safe: unguessable, so usable as an opaque refresh token.
    fn random_id(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).ok()?;
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// The claims distribution's token verifier reads.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: &'a [Access],
}

struct State {
    service: String,
    issuer: String,
    users: Vec<(String, String)>,
    anonymous_pull: bool,
    lifetime: Duration,
    realm: String,
    signer: Signer,
    /// Refresh token → the user it was issued to.
    refresh_tokens: Mutex<HashMap<String, String>>,
    log: Mutex<Vec<TokenRequestRecord>>,
}

/// A signed access token and when it was issued.
struct Issued {
    token: String,
    issued_at: String,
}

impl State {
    fn user_ok(&self, user: &str, password: &str) -> bool {
        self.users.iter().any(|(u, p)| u == user && p == password)
    }

    fn check_service(&self, service: Option<&str>) -> Result<(), Resp> {
        match service {
            Some(s) if s != self.service => Err(error(
                400,
                "INVALID_REQUEST",
                &format!("service {s:?} is not {:?}", self.service),
                None,
            )),
            _ => Ok(()),
        }
    }

    /// What `user` (`None`: anonymous) gets out of `requested`. Entries left with no
    /// action are dropped, as no registry would act on them.
    fn grant(&self, user: Option<&str>, requested: &[Access]) -> Vec<Access> {
        requested
            .iter()
            .filter_map(|a| {
                let actions: Vec<String> = a
                    .actions
                    .iter()
                    .filter(|action| {
                        user.is_some()
                            || (self.anonymous_pull && a.kind == "repository" && *action == "pull")
                    })
                    .cloned()
                    .collect();
                (!actions.is_empty()).then(|| Access {
                    kind: a.kind.clone(),
                    name: a.name.clone(),
                    actions,
                })
            })
            .collect()
    }

    fn issue(&self, user: Option<&str>, access: &[Access]) -> Result<Issued, Resp> {
        let now: DateTime<Utc> = Utc::now();
        let iat = now.timestamp();
        let claims = Claims {
            iss: &self.issuer,
            sub: user.unwrap_or(""),
            aud: &self.service,
            exp: iat.saturating_add(i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX)),
            nbf: iat,
            iat,
            jti: self.signer.random_id().ok_or_else(signing_failed)?,
            access,
        };
        Ok(Issued {
            token: self.signer.sign(&claims).ok_or_else(signing_failed)?,
            issued_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
    }

    fn new_refresh_token(&self, user: &str) -> Result<String, Resp> {
        let token = self.signer.random_id().ok_or_else(signing_failed)?;
        lock(&self.refresh_tokens).insert(token.clone(), user.to_string());
        Ok(token)
    }

    fn refresh_token_user(&self, token: &str) -> Option<String> {
        lock(&self.refresh_tokens).get(token).cloned()
    }

    fn record(&self, record: TokenRequestRecord) {
        lock(&self.log).push(record);
    }
}

fn signing_failed() -> Resp {
    error(500, "UNKNOWN", "could not sign a token", None)
}

fn unauthorized(message: &str) -> Resp {
    error(401, "UNAUTHORIZED", message, None)
}

fn bad_request(message: &str) -> Resp {
    error(400, "INVALID_REQUEST", message, None)
}

/// Scopes from `scope` values, each of which may hold several separated by spaces.
/// Values that are not `type:name:actions` grant nothing rather than fail the request.
fn scopes<'a>(values: impl Iterator<Item = &'a str>) -> Vec<Access> {
    values
        .flat_map(|v| v.split(' '))
        .filter_map(Access::parse)
        .collect()
}

async fn respond(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<RespBody>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let mut record = TokenRequestRecord {
        method: parts.method.to_string(),
        path_and_query: redact(&received_target(&parts.uri)),
        auth_scheme: parts
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .and_then(|v| v.split_whitespace().next().map(str::to_string)),
        status: 400,
    };
    let resp = match read_request(parts, body).await {
        Ok(req) => handle(&state, &req),
        Err(e) => {
            state.record(record);
            return Err(std::io::Error::other(e));
        }
    };
    record.status = resp.status;
    state.record(record);
    Ok(to_hyper(resp, &Decision::default(), false))
}

/// `path?query` with the values of [`SECRET_PARAMETERS`] replaced.
fn redact(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_PARAMETERS.contains(&key) => format!("{key}=<redacted>"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

fn handle(state: &State, req: &Req) -> Resp {
    if req.path != "/token" {
        return page_not_found();
    }
    let answer = match req.method {
        Method::GET => get_token(state, req),
        Method::POST => post_token(state, req),
        _ => Err(error(405, "UNSUPPORTED", "use GET or POST", None).header("Allow", "GET, POST")),
    };
    answer.unwrap_or_else(|refused| refused)
}

/// Distribution's token authentication specification: Basic credentials or none.
fn get_token(state: &State, req: &Req) -> Result<Resp, Resp> {
    state.check_service(req.query("service"))?;
    let user = match req.header("authorization") {
        None => None,
        Some(header) => match parse_basic(header) {
            Some((user, password)) if state.user_ok(&user, &password) => Some(user),
            _ => {
                return Err(unauthorized("invalid username or password")
                    .header("WWW-Authenticate", format!("Basic realm={:?}", state.realm)));
            }
        },
    };
    let requested = scopes(
        req.query
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let access = state.grant(user.as_deref(), &requested);
    let issued = state.issue(user.as_deref(), &access)?;
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": state.lifetime.as_secs(),
        "issued_at": issued.issued_at,
    });
    if let Some(user) = &user
        && req.query("offline_token") == Some("true")
    {
        body["refresh_token"] = state.new_refresh_token(user)?.into();
    }
    Ok(Resp::json(200, &body))
}

/// The OAuth2 variant: a form-encoded `password` or `refresh_token` grant.
fn post_token(state: &State, req: &Req) -> Result<Resp, Resp> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |key: &str| {
        form.iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    state.check_service(field("service"))?;
    if field("client_id").is_none() {
        return Err(bad_request("client_id is required"));
    }
    let (user, presented_refresh_token) = match field("grant_type") {
        Some("password") => {
            let (Some(user), Some(password)) = (field("username"), field("password")) else {
                return Err(bad_request(
                    "the password grant needs username and password",
                ));
            };
            if !state.user_ok(user, password) {
                return Err(unauthorized("invalid username or password"));
            }
            (user.to_string(), None)
        }
        Some("refresh_token") => {
            let token = field("refresh_token")
                .ok_or_else(|| bad_request("the refresh_token grant needs refresh_token"))?;
            let user = state
                .refresh_token_user(token)
                .ok_or_else(|| unauthorized("unknown refresh token"))?;
            (user, Some(token))
        }
        Some(other) => {
            return Err(error(
                400,
                "UNSUPPORTED",
                &format!("unsupported grant_type {other:?}"),
                None,
            ));
        }
        None => return Err(bad_request("grant_type is required")),
    };
    let requested = scopes(
        form.iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let access = state.grant(Some(&user), &requested);
    let issued = state.issue(Some(&user), &access)?;
    let granted: Vec<String> = access.iter().map(Access::to_scope).collect();
    let mut body = json!({
        "access_token": issued.token,
        "expires_in": state.lifetime.as_secs(),
        "scope": granted.join(" "),
        "issued_at": issued.issued_at,
    });
    if field("access_type") == Some("offline") {
        // A refresh grant keeps its token: refresh tokens here do not rotate.
        body["refresh_token"] = match presented_refresh_token {
            Some(token) => token.to_string(),
            None => state.new_refresh_token(&user)?,
        }
        .into();
    }
    Ok(Resp::json(200, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_credential_parameters_only() {
        assert_eq!(
            redact("/token?service=s&password=hunter2&scope=a&refresh_token=r"),
            "/token?service=s&password=<redacted>&scope=a&refresh_token=<redacted>"
        );
        assert_eq!(redact("/token"), "/token");
        assert_eq!(redact("/token?passwords=x"), "/token?passwords=x");
    }

    #[test]
    fn scopes_split_on_spaces_and_skip_nonsense() {
        let parsed = scopes(["repository:a:pull registry:catalog:*", "nonsense", ""].into_iter());
        assert_eq!(
            parsed,
            vec![Access::repository("a", &["pull"]), Access::catalog()]
        );
    }
}
