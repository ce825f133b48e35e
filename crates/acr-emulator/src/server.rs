//! The HTTP server: connections, TLS, fault injection and the access log.

use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::TokenService;
use crate::faults::{Decision, Faults, Rng};
use crate::http::{Req, Resp, error};
use crate::store::Registry;
use crate::{AadCheck, RequestRecord};

/// Identity configuration.
pub(crate) struct Config {
    pub(crate) anonymous_pull: bool,
    pub(crate) users: Vec<(String, String)>,
    pub(crate) aad_check: Option<AadCheck>,
    pub(crate) faults: Faults,
}

impl Config {
    pub(crate) fn user_ok(&self, user: &str, password: &str) -> bool {
        self.users.iter().any(|(u, p)| u == user && p == password)
    }

    pub(crate) fn aad_ok(&self, token: &str) -> bool {
        self.aad_check.as_ref().is_some_and(|check| check(token))
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) registry: Mutex<Registry>,
    pub(crate) tokens: TokenService,
    pub(crate) config: Config,
    pub(crate) base_url: String,
    pub(crate) log: Mutex<Vec<RequestRecord>>,
    pub(crate) access_log: Option<Mutex<std::fs::File>>,
    pub(crate) rng: Mutex<Rng>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked left the data consistent enough for a test registry.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    fn record(&self, method: &str, path_and_query: &str, status: u16) {
        lock(&self.log).push(RequestRecord {
            method: method.to_string(),
            path_and_query: path_and_query.to_string(),
            status,
        });
        if let Some(file) = &self.access_log {
            let mut file = lock(file);
            // A failing access log must not fail the request it describes.
            let _ = writeln!(file, "{method} {path_and_query} {status}");
            let _ = file.flush();
        }
    }
}

/// A response body: whole, or one that fails after its first part (the reset fault).
pub(crate) enum RespBody {
    Full(Option<Bytes>),
    /// The pause lets hyper flush the headers and first part before the failure aborts
    /// the connection; failing at once would abort before anything was written.
    FailAfter(Option<Bytes>, Option<Pin<Box<tokio::time::Sleep>>>),
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        match this {
            RespBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            RespBody::FailAfter(data, pause) => {
                if let Some(d) = data.take() {
                    *pause = Some(Box::pin(tokio::time::sleep(
                        std::time::Duration::from_millis(20),
                    )));
                    return Poll::Ready(Some(Ok(Frame::data(d))));
                }
                if let Some(p) = pause
                    && p.as_mut().poll(cx).is_pending()
                {
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected fault: connection reset mid-body",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, RespBody::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            RespBody::Full(Some(d)) => hyper::body::SizeHint::with_exact(d.len() as u64),
            RespBody::Full(None) => hyper::body::SizeHint::with_exact(0),
            RespBody::FailAfter(..) => hyper::body::SizeHint::default(),
        }
    }
}

fn decode_path(raw: &str) -> String {
    percent_decode(raw)
}

/// Percent-decodes a path (not `+`, which is literal in paths).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
            && let Ok(v) = u8::from_str_radix(&raw[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path and query exactly as received (still percent-encoded), for the records.
pub(crate) fn received_target(uri: &http::Uri) -> String {
    match uri.query() {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_string(),
    }
}

/// Reads a request's body whole and decodes its path and query.
pub(crate) async fn read_request(
    parts: http::request::Parts,
    body: Incoming,
) -> Result<Req, hyper::Error> {
    let body = body.collect().await?.to_bytes();
    Ok(Req {
        path: decode_path(parts.uri.path()),
        query: parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        method: parts.method,
        headers: parts.headers,
        body,
    })
}

/// The registry's answer to one request, fault injection and records included.
pub(crate) async fn respond(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<RespBody>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let path_and_query = received_target(&parts.uri);
    let method = parts.method.clone();
    let req = match read_request(parts, body).await {
        Ok(req) => req,
        Err(e) => {
            shared.record(method.as_str(), &path_and_query, 400);
            return Err(std::io::Error::other(e));
        }
    };

    let route = crate::routes::parse(&req.path);
    let token_endpoint = matches!(
        route,
        crate::routes::Route::Exchange | crate::routes::Route::Token
    );
    let faults = &shared.config.faults;
    let decision = if token_endpoint && !faults.include_token_endpoints {
        Decision::default()
    } else {
        let d = lock(&shared.rng).decide(faults);
        if let Some(delay) = faults.delay {
            tokio::time::sleep(delay).await;
        }
        d
    };

    let resp = if decision.error {
        error(
            503,
            "UNAVAILABLE",
            "injected fault: service unavailable",
            None,
        )
    } else if decision.throttle {
        error(
            429,
            "TOOMANYREQUESTS",
            "injected fault: too many requests",
            None,
        )
        .header("Retry-After", "1")
    } else {
        let need = crate::routes::needs(&route, &req.method);
        // A bug in a handler becomes a 500 the test can see, not a dropped connection.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || match crate::handlers::authorize(&shared, &req, &need) {
                Err(challenge) => challenge,
                Ok(caller) => crate::handlers::handle(&shared, route, &req, &caller),
            },
        ))
        .unwrap_or_else(|_| error(500, "UNKNOWN", "internal emulator error", None))
    };
    shared.record(req.method.as_str(), &path_and_query, resp.status);
    Ok(to_hyper(resp, &decision, req.path.starts_with("/v2/")))
}

/// The hyper form of `resp`, with the faults `decision` calls for applied to its body.
pub(crate) fn to_hyper(
    resp: Resp,
    decision: &Decision,
    registry_api: bool,
) -> hyper::Response<RespBody> {
    let mut builder = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        // The length is set below from what is actually sent.
        if k.eq_ignore_ascii_case("content-length")
            && (resp.head_length.is_some() || !resp.body.is_empty())
        {
            continue;
        }
        builder = builder.header(k.as_str(), v.as_str());
    }
    if registry_api {
        builder = builder.header("Docker-Distribution-Api-Version", "registry/2.0");
    }
    let mut body = resp.body;
    let success = (200..300).contains(&resp.status) && !body.is_empty();
    if success && decision.flip && resp.is_blob_content {
        let mut bytes = body.to_vec();
        let at = ((bytes.len() as u64 * decision.flip_at as u64) >> 32) as usize;
        bytes[at] ^= 0xff;
        body = Bytes::from(bytes);
    }
    let response_body = if success && decision.reset {
        builder = builder.header("Content-Length", body.len().to_string());
        RespBody::FailAfter(Some(body.slice(..body.len() / 2)), None)
    } else if success && decision.truncate {
        let cut = body.slice(..body.len() / 2);
        builder = builder.header("Content-Length", cut.len().to_string());
        RespBody::Full(Some(cut))
    } else if let Some(len) = resp.head_length {
        builder = builder.header("Content-Length", len.to_string());
        RespBody::Full(None)
    } else if body.is_empty() {
        RespBody::Full(None)
    } else {
        builder = builder.header("Content-Length", body.len().to_string());
        RespBody::Full(Some(body))
    };
    builder.body(response_body).unwrap_or_else(|_| {
        let mut r = hyper::Response::new(RespBody::Full(None));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// Accepts connections until `shutdown` fires (or its sender is dropped), answering each
/// request with `handler`.
pub(crate) async fn serve<H, F>(
    handler: H,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(hyper::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<hyper::Response<RespBody>, std::io::Error>> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handler = handler.clone();
                let tls = tls.clone();
                let mut stop = shutdown.clone();
                connections.spawn(async move {
                    let service = service_fn(handler);
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let conn = http.serve_connection(TokioIo::new(stream), service);
                            tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
                        }
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else { return };
                            let conn = http.serve_connection(TokioIo::new(stream), service);
                            tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
                        }
                    }
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}
