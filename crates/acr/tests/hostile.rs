//! Registries that misbehave on purpose, served by small HTTP/1.1 servers written here on
//! raw TCP (one request per connection): each answer is scripted, including no answer at
//! all, a connection dropped mid-way, or a body no honest registry would send. The client
//! must end each with a typed error or recover, never hang, loop or report a success.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acr::{ContainerRegistryClient, Credential, Error, RetryOptions};
use futures_util::TryStreamExt as _;

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
enum Answer {
    /// Writes these bytes (status line, headers and body), then closes.
    Bytes(Vec<u8>),
    /// Writes the head, then `body` `repeats` times, as long as the client reads.
    Stream {
        head: String,
        body: Vec<u8>,
        repeats: usize,
    },
    /// Closes the connection without a word.
    Drop,
    /// Keeps the connection open and says nothing until the client gives up.
    Silence,
}

fn answer(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Answer::Bytes(bytes)
}

/// A scripted server: every request goes to `script`; the returned log holds the
/// requests in arrival order with when they arrived, and `finished` tells whether the
/// last streamed body got out whole.
struct Server {
    url: String,
    log: Arc<Mutex<Vec<(Instant, Request)>>>,
    streamed_whole: Arc<AtomicBool>,
}

impl Server {
    fn start(script: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let streamed_whole = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let (seen, whole) = (log.clone(), streamed_whole.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (script, seen, whole) = (script.clone(), seen.clone(), whole.clone());
                std::thread::spawn(move || {
                    let Some(request) = read_request(&mut stream) else {
                        return;
                    };
                    seen.lock().unwrap().push((Instant::now(), request.clone()));
                    match script(&request) {
                        Answer::Bytes(bytes) => {
                            let _ = stream.write_all(&bytes);
                        }
                        Answer::Stream {
                            head,
                            body,
                            repeats,
                        } => {
                            let mut send = || -> std::io::Result<()> {
                                stream.write_all(head.as_bytes())?;
                                for _ in 0..repeats {
                                    stream.write_all(&body)?;
                                }
                                stream.flush()
                            };
                            whole.store(send().is_ok(), Ordering::SeqCst);
                        }
                        Answer::Drop => {}
                        Answer::Silence => {
                            // Holds the socket until the client hangs up.
                            let mut sink = [0u8; 64];
                            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                        }
                    }
                });
            }
        });
        Self {
            url,
            log,
            streamed_whole,
        }
    }

    fn requests(&self) -> Vec<(Instant, Request)> {
        self.log.lock().unwrap().clone()
    }

    fn client(&self) -> ContainerRegistryClient {
        self.builder().build().unwrap()
    }

    fn builder(&self) -> acr::ContainerRegistryClientBuilder {
        ContainerRegistryClient::builder(&self.url)
            .allow_http(true)
            .retry(RetryOptions::default().initial_delay(Duration::from_millis(5)))
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
    })
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[tokio::test]
async fn an_html_page_answering_a_tag_is_not_a_manifest() {
    let server = Server::start(|_| {
        answer(
            "200 OK",
            &[("Content-Type", "text/html")],
            b"<html><body>Sign in to the proxy</body></html>",
        )
    });
    let error = server
        .client()
        .get_manifest("hello", "latest")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Protocol(m) if m.contains("text/html")),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_manifest_json_under_a_manifest_type_is_refused() {
    for body in [
        &br#"{"schemaVersion":2,"config":"#[..],
        br#"["not", "an", "object"]"#,
        br#"{"schemaVersion":1,"layers":[]}"#,
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
    ] {
        let server =
            Server::start(move |_| answer("200 OK", &[("Content-Type", OCI_MANIFEST)], body));
        let error = server
            .client()
            .get_manifest("hello", "latest")
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Protocol(_)), "{error:?}");
        // Fetched once more before the verdict, not more.
        assert_eq!(server.requests().len(), 2);
    }
}

/// A registry that makes up a new next-page link for every page: with the same `last`,
/// with a `last` that goes back, or with empty pages, the listing ends in a few requests.
#[tokio::test]
async fn invented_next_links_end_the_listing() {
    let pages = Arc::new(AtomicUsize::new(0));
    let counter = pages.clone();
    let backwards = Server::start(move |_| {
        let page = counter.fetch_add(1, Ordering::SeqCst);
        let last = format!("repo{:06}", 1_000_000 - page);
        let link = format!("</acr/v1/_catalog?last={last}&n=2>; rel=\"next\"");
        answer(
            "200 OK",
            &[("Content-Type", "application/json"), ("Link", &link)],
            format!(r#"{{"repositories":["{last}"]}}"#).as_bytes(),
        )
    });
    let error = backwards
        .client()
        .list_repository_names()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Protocol(_)), "{error:?}");
    assert!(pages.load(Ordering::SeqCst) <= 3, "{pages:?}");

    let counter = Arc::new(AtomicUsize::new(0));
    let empty = {
        let counter = counter.clone();
        Server::start(move |_| {
            let page = counter.fetch_add(1, Ordering::SeqCst);
            let link = format!("</acr/v1/_catalog?last=repo{page:06}&n=2>; rel=\"next\"");
            answer(
                "200 OK",
                &[("Content-Type", "application/json"), ("Link", &link)],
                br#"{"repositories":[]}"#,
            )
        })
    };
    let error = empty
        .client()
        .list_repository_names()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Protocol(_)), "{error:?}");
    assert!(counter.load(Ordering::SeqCst) <= 5, "{counter:?}");

    // In time order `last` need not grow, but it must not come back.
    let counter = Arc::new(AtomicUsize::new(0));
    let cycling = {
        let counter = counter.clone();
        Server::start(move |_| {
            let page = counter.fetch_add(1, Ordering::SeqCst);
            let link = format!(
                "</acr/v1/hello/_tags?last=t{}&n=1&orderby=timedesc&junk={page}>; rel=\"next\"",
                page % 2
            );
            answer(
                "200 OK",
                &[("Content-Type", "application/json"), ("Link", &link)],
                format!(
                    r#"{{"tags":[{{"name":"t{page}","digest":"sha256:{}","createdTime":"2024-01-01T00:00:00Z","lastUpdateTime":"2024-01-01T00:00:00Z"}}]}}"#,
                    "a".repeat(64)
                )
                .as_bytes(),
            )
        })
    };
    let error = cycling
        .client()
        .list_tag_properties("hello", acr::ArtifactTagOrder::LastUpdatedOnDescending)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Protocol(_)), "{error:?}");
    assert!(counter.load(Ordering::SeqCst) <= 4, "{counter:?}");
}

#[tokio::test]
async fn a_listing_page_of_a_hundred_megabytes_is_refused_while_read() {
    let server = Server::start(|_| Answer::Stream {
        head: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n"
            .into(),
        body: [br#"{"repositories":["#.as_slice(), &[b' '; 64 * 1024 - 17]].concat(),
        repeats: 100 * 16,
    });
    let error = server
        .client()
        .list_repository_names()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Protocol(m) if m.contains("larger than")),
        "{error:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !server.streamed_whole.load(Ordering::SeqCst),
        "the client read all 100 MB"
    );
}

/// `429` with `Retry-After: 2` on the upload's first request: the client waits the two
/// seconds before it asks again, and the upload then succeeds.
#[tokio::test]
async fn a_throttled_upload_waits_as_long_as_the_registry_asks() {
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    let server = Server::start(move |request| match request.method.as_str() {
        "POST" if counter.fetch_add(1, Ordering::SeqCst) == 0 => {
            answer("429 Too Many Requests", &[("Retry-After", "2")], b"")
        }
        "POST" => answer(
            "202 Accepted",
            &[("Location", "/v2/hello/blobs/uploads/u?_state=1")],
            b"",
        ),
        "PUT" => answer("201 Created", &[], b""),
        _ => answer("404 Not Found", &[], b""),
    });
    let uploaded = server
        .client()
        .upload_blob("hello", b"content".to_vec())
        .await
        .unwrap();
    assert_eq!(uploaded.size, 7);
    let requests = server.requests();
    let posts: Vec<_> = requests
        .iter()
        .filter(|(_, r)| r.method == "POST")
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1] - posts[0] >= Duration::from_secs(2),
        "asked again after {:?}",
        posts[1] - posts[0]
    );
}

/// A registry that accepts the connection and never answers: each try ends at the
/// response timeout, the try is repeated once, and the error is a transport error.
#[tokio::test]
async fn a_silent_registry_fails_after_one_more_try() {
    let server = Server::start(|_| Answer::Silence);
    let client = server
        .builder()
        .response_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = client.get_repository_properties("hello").await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert_eq!(server.requests().len(), 2);
}

/// The token endpoint drops the connection once: the token request is repeated, and the
/// operation succeeds without the caller seeing the hiccup.
#[tokio::test]
async fn a_token_endpoint_that_resets_once_is_asked_again() {
    let resets = Arc::new(AtomicUsize::new(0));
    let counter = resets.clone();
    let server = Server::start(move |request| {
        let authorized = request.header("authorization") == Some("Bearer fresh");
        let path = request.target.split('?').next().unwrap_or_default();
        match (request.method.as_str(), path) {
            ("POST", "/oauth2/token") if counter.fetch_add(1, Ordering::SeqCst) == 0 => {
                Answer::Drop
            }
            ("POST", "/oauth2/token") => answer(
                "200 OK",
                &[("Content-Type", "application/json")],
                br#"{"access_token":"fresh"}"#,
            ),
            (_, target) if target.starts_with("/acr/v1/hello") && authorized => answer(
                "200 OK",
                &[("Content-Type", "application/json")],
                br#"{"registry":"r","imageName":"hello","createdTime":"2024-01-01T00:00:00Z","lastUpdateTime":"2024-01-01T00:00:00Z","manifestCount":1,"tagCount":1}"#,
            ),
            _ => answer(
                "401 Unauthorized",
                &[(
                    "WWW-Authenticate",
                    r#"Bearer realm="x",service="r",scope="repository:hello:metadata_read""#,
                )],
                b"",
            ),
        }
    });
    let client = server
        .builder()
        .credential(Credential::refresh_token("refresh"))
        .build()
        .unwrap();
    let repository = client.get_repository_properties("hello").await.unwrap();
    assert_eq!(repository.name, "hello");
    assert_eq!(resets.load(Ordering::SeqCst), 2);
}
