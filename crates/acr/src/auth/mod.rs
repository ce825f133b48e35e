//! Token flows: ACR's (challenge → (Azure AD token → refresh token) → access token, from
//! the registry's own `/oauth2/*`) and the Docker one (a token from the realm a challenge
//! names), with caches so that a scope costs one token request per token lifetime, whatever
//! the number of operations or tasks.

pub(crate) mod challenge;
pub(crate) mod jwt;
pub(crate) mod realm;
pub(crate) mod scopes;

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use acr_rest::types::{
    ExchangeAadTokenForRefreshTokenBody, ExchangeAadTokenForRefreshTokenBodyGrantType,
    ExchangeRefreshTokenForAccessTokenBody, ExchangeRefreshTokenForAccessTokenBodyGrantType,
};

use crate::credential::Kind;
use crate::pipeline::{Pipeline, lock};
use crate::{Credential, Error, Result, Secret};

/// Tokens are renewed when less than this remains, so that none expires in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The lifetime of a token that states none (no `expires_in`, not a JWT), as the Docker
/// token specification gives it.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// Who issues a grant's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Issuer {
    /// The registry's own token service, ACR's `/oauth2/token` and `/oauth2/exchange`.
    Registry,
    /// A Docker token service at the realm of the registry's challenge (distribution with
    /// token authentication, Docker Hub, GHCR, Harbor, Quay).
    Realm(url::Url),
}

impl Issuer {
    /// The issuer a challenge's `realm` names. ACR's realm is its own `/oauth2/token`, and
    /// its flow (form posts, Azure AD exchange) is sent to the registry itself; any other
    /// realm URL is a Docker token service. A realm that is not a URL leaves the registry's
    /// own token service as the only candidate.
    pub(crate) fn of_realm(realm: Option<&str>) -> Self {
        match realm.and_then(|realm| url::Url::parse(realm).ok()) {
            Some(url) if url.path() != "/oauth2/token" => Issuer::Realm(url),
            _ => Issuer::Registry,
        }
    }
}

/// What a token is for: the issuer, `service` and `scope` of a challenge. A scope may hold
/// several space-separated scopes (a mount needs pull on its source and push on its target).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Grant {
    pub(crate) issuer: Issuer,
    pub(crate) service: String,
    pub(crate) scope: String,
}

/// A token and what is known of its lifetime.
#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) token: Secret,
    issued: SystemTime,
    expires: SystemTime,
    fetched: Instant,
    /// Tells a stale copy from its replacement, so that a task holding an old token cannot
    /// evict the new one.
    pub(crate) generation: u64,
}

impl Cached {
    /// A token that lives `lifetime` (a token service's `expires_in`) or until the expiry
    /// it carries as a JWT, whichever comes first; 60 s when neither is known.
    fn new(token: Secret, lifetime: Option<Duration>) -> Self {
        static GENERATION: AtomicU64 = AtomicU64::new(0);
        let issued = SystemTime::now();
        let stated = lifetime.map(|lifetime| issued + lifetime);
        let expires = match (jwt::expiry(token.expose()), stated) {
            (Some(jwt), Some(stated)) => jwt.min(stated),
            (jwt, stated) => jwt.or(stated).unwrap_or(issued + DEFAULT_LIFETIME),
        };
        Self {
            token,
            issued,
            expires,
            fetched: Instant::now(),
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Usable by a request that started waiting at `asked`: either fetched while it waited
    /// (the single flight it joined), or good for a while yet: `REFRESH_MARGIN`, or the
    /// last quarter of a shorter lifetime (a 60 s token is used for 45 s).
    fn usable(&self, asked: Instant) -> bool {
        let lifetime = self.expires.duration_since(self.issued).unwrap_or_default();
        let margin = REFRESH_MARGIN.min(lifetime / 4);
        self.fetched >= asked
            || self
                .expires
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > margin)
    }
}

/// One cache entry; its async mutex makes concurrent fetches of the same token a single
/// flight.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

struct Slots<K>(Mutex<HashMap<K, Slot>>);

impl<K: Eq + Hash + Clone> Slots<K> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn get(&self, key: &K) -> Slot {
        let mut map = lock(&self.0);
        map.entry(key.clone()).or_default().clone()
    }

    async fn invalidate(&self, key: &K, generation: u64) {
        let slot = self.get(key);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|c| c.generation == generation) {
            *cached = None;
        }
    }
}

/// The credential, and the tokens obtained with it.
pub(crate) struct Authenticator {
    pub(crate) credential: Kind,
    aad_scope: String,
    refresh_tokens: Slots<String>,
    access_tokens: Slots<Grant>,
    /// The grant each operation was challenged for, per resource, so that the next call
    /// sends its token up front.
    learned: Mutex<HashMap<(&'static str, Option<String>), Grant>>,
    /// Set once the registry asked for Basic authentication instead of tokens.
    basic_asked: std::sync::atomic::AtomicBool,
    /// The issuer and `service` of the registry's bearer challenges, once one was seen (or
    /// as presumed at build): with them and an operation's known scope, a token can go out
    /// before any challenge.
    token_service: Mutex<Option<(Issuer, String)>>,
    /// Whether `token_service` is a presumption that no challenge confirmed yet, dropped
    /// the first time it fails to yield a token.
    presumed: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("credential", &Credential(self.credential.clone()))
            .field("aad_scope", &self.aad_scope)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// `presumed_service`: the `service` of the registry's own token service, when the
    /// caller knows it, so that even the first operation sends a token up front. Without
    /// one, an ACR refresh token issued for `registry_host` (its `aud`) names it.
    pub(crate) fn new(
        credential: Credential,
        audience: &str,
        presumed_service: Option<String>,
        registry_host: &str,
    ) -> Self {
        let presumed_service = presumed_service.or_else(|| match &credential.0 {
            Kind::RefreshToken(token) => {
                jwt::audience(token.expose()).filter(|aud| aud.eq_ignore_ascii_case(registry_host))
            }
            _ => None,
        });
        let presumed = presumed_service.is_some();
        Self {
            credential: credential.0,
            aad_scope: format!("{}/.default", audience.trim_end_matches('/')),
            refresh_tokens: Slots::new(),
            access_tokens: Slots::new(),
            learned: Mutex::new(HashMap::new()),
            basic_asked: std::sync::atomic::AtomicBool::new(false),
            token_service: Mutex::new(presumed_service.map(|service| (Issuer::Registry, service))),
            presumed: std::sync::atomic::AtomicBool::new(presumed),
        }
    }

    /// The `Authorization` value for a `Basic` challenge, when the credential is a
    /// username and password; remembers that the registry wants it.
    pub(crate) fn answer_basic(&self, headers: &http::HeaderMap) -> Option<http::HeaderValue> {
        let asks_basic = headers
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .flat_map(|value| challenge::parse(value.as_bytes()))
            .any(|c| c.scheme.eq_ignore_ascii_case("basic"));
        let value = self.basic_header().filter(|_| asks_basic)?;
        self.basic_asked.store(true, Ordering::Relaxed);
        Some(value)
    }

    /// The Basic `Authorization` value to send up front, once the registry asked for it.
    pub(crate) fn basic_if_asked(&self) -> Option<http::HeaderValue> {
        self.basic_asked
            .load(Ordering::Relaxed)
            .then(|| self.basic_header())
            .flatten()
    }

    fn basic_header(&self) -> Option<http::HeaderValue> {
        let Kind::Basic { username, password } = &self.credential else {
            return None;
        };
        Some(basic_authorization(username, password))
    }

    /// The grant to send up front for an operation: the one its last challenge named,
    /// else, once the registry's token service is known, the `scope` the operation is
    /// known to need, so that a token cached for that scope serves every operation that
    /// needs it.
    pub(crate) fn learned(
        &self,
        operation: &'static str,
        resource: Option<&str>,
        scope: Option<&str>,
    ) -> Option<Grant> {
        let learned = lock(&self.learned);
        if let Some(grant) = learned.get(&(operation, resource.map(str::to_owned))) {
            return Some(grant.clone());
        }
        drop(learned);
        let (issuer, service) = lock(&self.token_service).clone()?;
        Some(Grant {
            issuer,
            service,
            scope: scope?.to_owned(),
        })
    }

    pub(crate) fn learn(&self, operation: &'static str, resource: Option<&str>, grant: Grant) {
        *lock(&self.token_service) = Some((grant.issuer.clone(), grant.service.clone()));
        self.presumed.store(false, Ordering::Relaxed);
        lock(&self.learned).insert((operation, resource.map(str::to_owned)), grant);
    }

    /// Gives up a presumed token service that failed to issue `grant`; true when the
    /// caller should go on without a token, as if nothing had been presumed.
    pub(crate) fn drop_presumption(&self, grant: &Grant) -> bool {
        let mut known = lock(&self.token_service);
        let presumed = self.presumed.load(Ordering::Relaxed)
            && known.as_ref().is_some_and(|(issuer, service)| {
                *issuer == grant.issuer && *service == grant.service
            });
        if presumed {
            *known = None;
            self.presumed.store(false, Ordering::Relaxed);
            tracing::debug!("the presumed token service issued no token; waiting for a challenge");
        }
        presumed
    }

    /// Forgets an access token the registry refused (unless it was already replaced).
    pub(crate) async fn invalidate(&self, grant: &Grant, generation: u64) {
        self.access_tokens.invalidate(grant, generation).await;
    }

    /// The access token for `grant`: cached, or fetched once for all concurrent askers.
    pub(crate) async fn access_token(
        &self,
        pipeline: &Arc<Pipeline>,
        grant: &Grant,
    ) -> Result<Cached> {
        let asked = Instant::now();
        let slot = self.access_tokens.get(grant);
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref().filter(|c| c.usable(asked)) {
            return Ok(token.clone());
        }
        let issued = match &grant.issuer {
            Issuer::Registry => Cached::new(self.fetch_access_token(pipeline, grant).await?, None),
            Issuer::Realm(realm) => {
                // Boxed: the token request goes through the same pipeline that asked for it.
                let issued = Box::pin(realm::access_token(
                    pipeline,
                    realm,
                    grant,
                    &self.credential,
                    false,
                ))
                .await?;
                Cached::new(issued.token, issued.lifetime)
            }
        };
        *cached = Some(issued.clone());
        Ok(issued)
    }

    /// An access token from the registry's own token service (ACR's flow).
    async fn fetch_access_token(&self, pipeline: &Arc<Pipeline>, grant: &Grant) -> Result<Secret> {
        match &self.credential {
            Kind::Anonymous => {
                let body = token_body(
                    grant,
                    ExchangeRefreshTokenForAccessTokenBodyGrantType::Password,
                    None,
                );
                access_token_request(pipeline, body).await
            }
            Kind::Basic { username, password } => {
                let operation = Arc::new(
                    pipeline
                        .token_operation("get_access_token_from_login")
                        .with_basic(username, password),
                );
                let response = operation
                    .run(|client| async move {
                        client
                            .get_access_token_from_login()
                            .service(&grant.service)
                            .scope(&grant.scope)
                            .send()
                            .await
                    })
                    .await
                    .map_err(refused_by_token_service)?;
                issued(response.into_inner().access_token)
            }
            Kind::RefreshToken(refresh) => {
                let body = token_body(
                    grant,
                    ExchangeRefreshTokenForAccessTokenBodyGrantType::RefreshToken,
                    Some(refresh),
                );
                access_token_request(pipeline, body).await
            }
            Kind::Aad(credential) => {
                let mut retried = false;
                loop {
                    let asked = Instant::now();
                    let refresh = self
                        .refresh_token(pipeline, credential.as_ref(), &grant.service)
                        .await?;
                    let from_cache = refresh.fetched < asked;
                    let body = token_body(
                        grant,
                        ExchangeRefreshTokenForAccessTokenBodyGrantType::RefreshToken,
                        Some(&refresh.token),
                    );
                    match access_token_request(pipeline, body).await {
                        // A cached refresh token may have been revoked: exchange once more.
                        Err(Error::Authentication { .. }) if from_cache && !retried => {
                            self.refresh_tokens
                                .invalidate(&grant.service, refresh.generation)
                                .await;
                            retried = true;
                        }
                        outcome => return outcome,
                    }
                }
            }
        }
    }

    /// The ACR refresh token for `service`, exchanged from an Azure AD token.
    pub(crate) async fn refresh_token(
        &self,
        pipeline: &Arc<Pipeline>,
        credential: &dyn crate::TokenCredential,
        service: &str,
    ) -> Result<Cached> {
        let asked = Instant::now();
        let slot = self.refresh_tokens.get(&service.to_owned());
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref().filter(|c| c.usable(asked)) {
            return Ok(token.clone());
        }
        let aad = credential.get_token(&[self.aad_scope.as_str()]).await?;
        let body = ExchangeAadTokenForRefreshTokenBody {
            grant_type: ExchangeAadTokenForRefreshTokenBodyGrantType::AccessToken,
            service: service.to_owned(),
            access_token: Some(aad.token.expose().to_owned()),
            refresh_token: None,
            tenant: None,
        };
        let api_version = pipeline.api_version.as_str();
        let operation = Arc::new(pipeline.token_operation("exchange_aad_token_for_refresh_token"));
        let response = operation
            .run(|client| async move {
                client
                    .exchange_aad_token_for_refresh_token()
                    .api_version(api_version)
                    .body(body)
                    .send()
                    .await
            })
            .await
            .map_err(refused_by_token_service)?;
        let token = Cached::new(issued(response.into_inner().refresh_token)?, None);
        *cached = Some(token.clone());
        Ok(token)
    }
}

/// `Basic base64(username:password)`, marked sensitive so that it is never logged.
pub(crate) fn basic_authorization(username: &str, password: &Secret) -> http::HeaderValue {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose()));
    let mut value = http::HeaderValue::try_from(format!("Basic {encoded}"))
        .expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

fn token_body(
    grant: &Grant,
    grant_type: ExchangeRefreshTokenForAccessTokenBodyGrantType,
    refresh_token: Option<&Secret>,
) -> ExchangeRefreshTokenForAccessTokenBody {
    ExchangeRefreshTokenForAccessTokenBody {
        grant_type,
        service: grant.service.clone(),
        scope: grant.scope.clone(),
        refresh_token: refresh_token.map(|t| t.expose().to_owned()),
    }
}

async fn access_token_request(
    pipeline: &Arc<Pipeline>,
    body: ExchangeRefreshTokenForAccessTokenBody,
) -> Result<Secret> {
    let api_version = pipeline.api_version.as_str();
    let operation = Arc::new(pipeline.token_operation("exchange_refresh_token_for_access_token"));
    let response = operation
        .run(|client| async move {
            client
                .exchange_refresh_token_for_access_token()
                .api_version(api_version)
                .body(body)
                .send()
                .await
        })
        .await
        .map_err(refused_by_token_service)?;
    issued(response.into_inner().access_token)
}

fn issued(token: Option<String>) -> Result<Secret> {
    match token {
        Some(token) if !token.is_empty() => Ok(Secret::new(token)),
        _ => Err(Error::authentication(
            "the registry's token service answered without a token",
        )),
    }
}

/// The token service could not be reached, even after its own retries. Kept apart from
/// the transport errors of the request being authorized, so that its retries do not
/// multiply with that request's.
#[derive(Debug, thiserror::Error)]
#[error("the registry's token service could not be reached")]
pub(crate) struct TokenServiceUnreachable(#[source] pub(crate) crate::BoxError);

/// A client error from the token service means the credential (or the audience it was
/// issued for) was refused.
pub(crate) fn refused_by_token_service(error: Error) -> Error {
    match error {
        Error::Transport(source) => Error::Transport(Box::new(TokenServiceUnreachable(source))),
        Error::Service {
            status: status @ 400..=499,
            message,
            request_id,
            ..
        } => Error::Authentication {
            message: format!("the registry's token service refused the credential: {message}"),
            status: Some(status),
            request_id,
        },
        Error::NotFound {
            message,
            request_id,
            ..
        } => Error::Authentication {
            message: format!("the registry's token service refused the credential: {message}"),
            status: Some(404),
            request_id,
        },
        Error::Authentication {
            message,
            status,
            request_id,
        } => Error::Authentication {
            message: format!("the registry's token service refused the credential: {message}"),
            status,
            request_id,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aged(token: Cached, age: Duration) -> Cached {
        Cached {
            issued: token.issued - age,
            expires: token.expires - age,
            fetched: Instant::now() - age,
            ..token
        }
    }

    #[test]
    fn tokens_without_a_stated_lifetime_are_reused_for_most_of_a_minute_only() {
        let token = Cached::new(Secret::new("opaque"), None);
        let later = Instant::now() + Duration::from_millis(1);
        assert!(token.usable(later), "a fresh opaque token is reused");
        assert!(aged(token.clone(), Duration::from_secs(40)).usable(later));
        assert!(
            !aged(token, Duration::from_secs(46)).usable(later),
            "an opaque token is not used in the last quarter of its 60 s"
        );
    }

    #[test]
    fn a_stated_lifetime_is_honoured() {
        let later = Instant::now() + Duration::from_millis(1);
        let hour = Cached::new(Secret::new("opaque"), Some(Duration::from_secs(3600)));
        assert!(aged(hour.clone(), Duration::from_secs(3000)).usable(later));
        assert!(
            !aged(hour, Duration::from_secs(3400)).usable(later),
            "renewed five minutes before it expires"
        );
        let short = Cached::new(Secret::new("opaque"), Some(Duration::from_secs(20)));
        assert!(short.usable(later));
        assert!(!aged(short, Duration::from_secs(16)).usable(later));
    }

    #[test]
    fn the_realm_names_the_flow() {
        assert_eq!(
            Issuer::of_realm(Some("https://r.azurecr.io/oauth2/token")),
            Issuer::Registry
        );
        assert_eq!(Issuer::of_realm(None), Issuer::Registry);
        assert_eq!(Issuer::of_realm(Some("x")), Issuer::Registry);
        assert_eq!(
            Issuer::of_realm(Some("https://auth.docker.io/token")),
            Issuer::Realm(url::Url::parse("https://auth.docker.io/token").unwrap())
        );
    }
}
