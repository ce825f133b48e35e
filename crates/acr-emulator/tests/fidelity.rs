//! Replays every recorded ACR session (`fixtures/recordings` of the workspace, recorded against live
//! ACR by the Python SDK's tests) against the emulator, and compares what clients depend on:
//! status codes, the `WWW-Authenticate`, `Link`, `Docker-Content-Digest`, `Location`,
//! `Range`/`Content-Range` and `Content-Type` headers, and the JSON shapes of bodies.
//!
//! Exact replay is impossible in places, each handled as described where it happens:
//! - recorded tokens are placeholders: the emulator's own tokens are fetched in their place,
//!   with an AAD token it accepts (or one it rejects, where ACR rejected the exchange);
//! - the registry content each test assumed is seeded from what the recorded responses
//!   show, with synthetic manifests. Their digests differ from the recorded ones, so
//!   recorded digests are mapped to the seeded ones in requests and back in responses;
//! - upload session ids and `_state` values are the server's own, so recorded upload
//!   URLs are replaced by the emulator's `Location`s, and next-page requests follow the
//!   emulator's `Link`;
//! - timestamps and other values are compared by type only.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use acr_emulator::Emulator;
use base64::Engine as _;
use common::{GOOD_AAD, sha256};
use regex::Regex;
use serde_json::{Map, Value, json};

const RECORDED_ENDPOINT: &str = "https://fake_url.azurecr.io";
const REJECTED_AAD: &str = "an-aad-token-for-the-wrong-audience";
const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Recordings not replayed, and why. Every other file in the fixtures folder is replayed.
const NOT_REPLAYED: &[(&str, &str)] = &[];

/// Keys ACR sends that the emulator deliberately omits: the quarantine state of ACR's
/// vulnerability scanning, which the emulator does not model.
const RECORDED_ONLY_KEYS: &[&str] = &["quarantineDetails", "quarantineState"];

struct Entry<'a> {
    method: &'a str,
    /// Path and query, without the recorded host.
    uri: String,
    status: u16,
    request_headers: &'a Map<String, Value>,
    request_body: &'a Value,
    response_headers: &'a Map<String, Value>,
    response_body: &'a Value,
}

fn header_value(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| match v {
            Value::Array(items) => items
                .first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            other => other.as_str().unwrap_or("").to_string(),
        })
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The repository named by a registry path, if any.
fn repo_of(path: &str) -> Option<String> {
    let path = percent_decode(path.split('?').next().unwrap_or(path));
    let rest = path
        .strip_prefix("/acr/v1/")
        .or_else(|| path.strip_prefix("/v2/"))?;
    if rest.starts_with("_catalog") || rest.is_empty() {
        return None;
    }
    for marker in [
        "/_tags",
        "/_manifests",
        "/blobs/",
        "/manifests/",
        "/tags/list",
    ] {
        if let Some(at) = rest.find(marker) {
            return Some(rest[..at].to_string());
        }
    }
    Some(rest.to_string())
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

// ------------------------------------------------------------------ seeding

#[derive(Default, Clone)]
struct ManifestSeed {
    media_type: Option<String>,
    architecture: Option<String>,
    os: Option<String>,
    time: String,
    references: Vec<(String, Option<String>, Option<String>)>,
}

struct TagSeed {
    repo: String,
    name: String,
    digest: Option<String>,
    time: String,
}

#[derive(Default)]
struct Seeds {
    repos: BTreeSet<String>,
    manifests: BTreeMap<(String, String), ManifestSeed>,
    tags: Vec<TagSeed>,
}

impl Seeds {
    fn manifest(&mut self, repo: &str, digest: &str, from: ManifestSeed) {
        let seed = self
            .manifests
            .entry((repo.to_string(), digest.to_string()))
            .or_default();
        if from.media_type.is_some() {
            seed.media_type = from.media_type;
        }
        if from.architecture.is_some() {
            seed.architecture = from.architecture;
        }
        if from.os.is_some() {
            seed.os = from.os;
        }
        if !from.time.is_empty() {
            seed.time = from.time;
        }
        if !from.references.is_empty() {
            seed.references = from.references;
        }
    }

    fn tag(&mut self, repo: &str, name: &str, digest: Option<&str>, time: &str) {
        if let Some(existing) = self
            .tags
            .iter_mut()
            .find(|t| t.repo == repo && t.name == name)
        {
            if existing.digest.is_none() {
                existing.digest = digest.map(str::to_string);
            }
            if existing.time.is_empty() {
                existing.time = time.to_string();
            }
            return;
        }
        self.tags.push(TagSeed {
            repo: repo.into(),
            name: name.into(),
            digest: digest.map(str::to_string),
            time: time.into(),
        });
    }

    fn manifest_object(&mut self, repo: &str, m: &Value) {
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(digest) = s("digest") else { return };
        let time = s("lastUpdateTime").unwrap_or_default();
        let references: Vec<(String, Option<String>, Option<String>)> = m
            .get("references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let g = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
                Some((g("digest")?, g("architecture"), g("os")))
            })
            .collect();
        for (child, architecture, os) in &references {
            self.manifest(
                repo,
                child,
                ManifestSeed {
                    architecture: architecture.clone(),
                    os: os.clone(),
                    ..ManifestSeed::default()
                },
            );
        }
        for tag in m
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(tag) = tag.as_str() {
                self.tag(repo, tag, Some(&digest), &time);
            }
        }
        self.manifest(
            repo,
            &digest,
            ManifestSeed {
                media_type: s("mediaType"),
                architecture: s("architecture"),
                os: s("os"),
                time,
                references,
            },
        );
    }

    fn tag_object(&mut self, repo: &str, t: &Value) {
        let s = |k: &str| t.get(k).and_then(Value::as_str);
        if let Some(name) = s("name") {
            self.tag(repo, name, s("digest"), s("lastUpdateTime").unwrap_or(""));
            if let Some(d) = s("digest") {
                self.manifest(repo, d, ManifestSeed::default());
            }
        }
    }
}

/// What the registry must have held for the recorded responses to make sense, minus
/// what the recorded test pushed itself.
fn seeds_from(entries: &[Entry<'_>]) -> Seeds {
    let mut pushed_digests = BTreeSet::new();
    let mut pushed_tags = BTreeSet::new();
    for e in entries {
        if e.method == "PUT" && e.uri.contains("/manifests/") && e.status == 201 {
            if let Some(d) = header_value(e.response_headers, "Docker-Content-Digest") {
                pushed_digests.insert(d);
            }
            let reference = percent_decode(e.uri.rsplit('/').next().unwrap_or(""));
            if !reference.starts_with("sha256:") {
                pushed_tags.insert((repo_of(&e.uri).unwrap_or_default(), reference));
            }
        }
    }
    let mut seeds = Seeds::default();
    let digest_re = Regex::new(r"sha256(?::|%3A)[0-9a-f]{64}").unwrap();
    for e in entries.iter().filter(|e| (200..300).contains(&e.status)) {
        if e.uri.starts_with("/oauth2/") {
            continue;
        }
        let uri_repo = repo_of(&e.uri);
        let body = e.response_body;
        let repo = body
            .get("imageName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(uri_repo.clone());
        for name in body
            .get("repositories")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str() {
                seeds.repos.insert(name.to_string());
            }
        }
        let Some(repo) = repo else { continue };
        seeds.repos.insert(repo.clone());
        if let Some(tag) = body.get("tag") {
            seeds.tag_object(&repo, tag);
        }
        for tag in body
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            seeds.tag_object(&repo, tag);
        }
        if let Some(m) = body.get("manifest") {
            seeds.manifest_object(&repo, m);
        }
        for m in body
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            seeds.manifest_object(&repo, m);
        }
        for d in body
            .get("manifestsDeleted")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(d) = d.as_str() {
                seeds.manifest(&repo, d, ManifestSeed::default());
            }
        }
        for t in body
            .get("tagsDeleted")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = t.as_str() {
                seeds.tag(&repo, t, None, "");
            }
        }
        if e.method == "DELETE" {
            if e.uri.contains("/_tags/") {
                let tag =
                    percent_decode(e.uri.split('?').next().unwrap().rsplit('/').next().unwrap());
                seeds.tag(&repo, &tag, None, "");
            } else if e.uri.contains("/manifests/")
                && let Some(d) = digest_re.find(&e.uri)
            {
                seeds.manifest(
                    &repo,
                    &d.as_str().replace("%3A", ":"),
                    ManifestSeed::default(),
                );
            }
        }
    }
    seeds
        .manifests
        .retain(|(_, d), _| !pushed_digests.contains(d));
    seeds
        .tags
        .retain(|t| !pushed_tags.contains(&(t.repo.clone(), t.name.clone())));
    seeds
}

fn is_index(seed: &ManifestSeed) -> bool {
    seed.media_type
        .as_deref()
        .is_some_and(|m| m.contains("list") || m.contains("index"))
        || !seed.references.is_empty()
}

/// Seeds the emulator; returns recorded digest → seeded digest.
fn seed(emu: &Emulator, seeds: &Seeds) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut contents: Vec<(String, String, String, Vec<u8>, String)> = Vec::new();
    // Images first, so that indexes can name their children by seeded digest.
    for pass_index in [false, true] {
        for ((repo, digest), s) in seeds
            .manifests
            .iter()
            .filter(|(_, s)| is_index(s) == pass_index)
        {
            let media_type = s
                .media_type
                .clone()
                .unwrap_or_else(|| DOCKER_V2.to_string());
            let body = if pass_index {
                let children: Vec<Value> = s
                    .references
                    .iter()
                    .map(|(child, architecture, os)| {
                        json!({
                            "mediaType": DOCKER_V2,
                            "digest": map.get(child).cloned().unwrap_or_else(|| child.clone()),
                            "size": 525,
                            "platform": {"architecture": architecture, "os": os},
                        })
                    })
                    .collect();
                serde_json::to_vec(&json!({
                    "schemaVersion": 2, "mediaType": media_type, "manifests": children,
                    "annotations": {"recorded": digest},
                }))
                .unwrap()
            } else {
                // The platform goes into a config blob, where ACR reads it from.
                let config = serde_json::to_vec(&json!({
                    "architecture": s.architecture, "os": s.os, "recorded": digest,
                }))
                .unwrap();
                let config_digest = emu.put_blob(repo, config.clone()).unwrap();
                serde_json::to_vec(&json!({
                    "schemaVersion": 2, "mediaType": media_type,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
                    "layers": [],
                    "annotations": {"recorded": digest},
                }))
                .unwrap()
            };
            let seeded = sha256(&body);
            map.insert(digest.clone(), seeded.clone());
            contents.push((s.time.clone(), repo.clone(), media_type, body, seeded));
        }
    }
    // In recorded time order, so that `timeasc`/`timedesc` lists come out in the recorded order.
    contents.sort_by(|a, b| (&a.0, &a.4).cmp(&(&b.0, &b.4)));
    for (_, repo, media_type, body, seeded) in &contents {
        emu.put_manifest(repo, seeded, media_type, body.clone())
            .unwrap();
    }
    let mut tags: Vec<&TagSeed> = seeds.tags.iter().collect();
    tags.sort_by(|a, b| (&a.time, &a.name).cmp(&(&b.time, &b.name)));
    for t in tags {
        let digest = match &t.digest {
            Some(d) => map[d].clone(),
            // A tag known only from its deletion: any manifest of the repository will do.
            None => match contents.iter().find(|c| c.1 == t.repo) {
                Some(c) => c.4.clone(),
                None => {
                    let body = format!("{{\"placeholder\":\"{}\"}}", t.repo);
                    emu.put_manifest(&t.repo, &sha256(body.as_bytes()), DOCKER_V2, body)
                        .unwrap()
                }
            },
        };
        emu.tag(&t.repo, &t.name, &digest).unwrap();
    }
    let seeded_repos: BTreeSet<&String> = seeds
        .manifests
        .keys()
        .map(|(r, _)| r)
        .chain(seeds.tags.iter().map(|t| &t.repo))
        .collect();
    for repo in seeds.repos.iter().filter(|r| !seeded_repos.contains(r)) {
        let body = format!("{{\"placeholder\":\"{repo}\"}}");
        emu.put_manifest(repo, &sha256(body.as_bytes()), DOCKER_V2, body)
            .unwrap();
    }
    map
}

// ------------------------------------------------------------------ comparing

struct Digests {
    /// Recorded hex → seeded hex, and back.
    forward: HashMap<String, String>,
    backward: HashMap<String, String>,
}

impl Digests {
    fn insert(&mut self, recorded: &str, ours: &str) {
        self.forward
            .insert(hex_of(recorded).into(), hex_of(ours).into());
        self.backward
            .insert(hex_of(ours).into(), hex_of(recorded).into());
    }

    fn apply(map: &HashMap<String, String>, text: &str) -> String {
        let re = Regex::new(r"[0-9a-f]{64}").unwrap();
        re.replace_all(text, |c: &regex::Captures<'_>| {
            map.get(&c[0]).cloned().unwrap_or_else(|| c[0].to_string())
        })
        .into_owned()
    }

    fn to_ours(&self, text: &str) -> String {
        Self::apply(&self.forward, text)
    }

    fn to_recorded(&self, text: &str) -> String {
        Self::apply(&self.backward, text)
    }
}

/// `WWW-Authenticate` with the recorded host and service replaced by the emulator's, and
/// scope actions sorted: ACR lists `pull,push` and `push,pull` for the same operation.
fn normalize_challenge(value: &str, endpoint: &str, host: &str) -> String {
    let value = value.replace(RECORDED_ENDPOINT, endpoint);
    let value = Regex::new(r#"service="[^"]*""#)
        .unwrap()
        .replace(&value, format!("service=\"{host}\"").as_str())
        .into_owned();
    Regex::new(r#"scope="([^"]*):([^":]*)""#)
        .unwrap()
        .replace(&value, |c: &regex::Captures<'_>| {
            let mut actions: Vec<&str> = c[2].split(',').collect();
            actions.sort();
            format!("scope=\"{}:{}\"", &c[1], actions.join(","))
        })
        .into_owned()
}

fn normalize_location(value: &str) -> String {
    let uuid = Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let state = Regex::new(r"_state=[^&]*").unwrap();
    state
        .replace_all(&uuid.replace_all(value, "<uuid>"), "_state=<state>")
        .into_owned()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Key sets and value types must agree; error codes must be equal.
fn compare_shape(path: &str, recorded: &Value, ours: &Value, out: &mut Vec<String>) {
    if kind(recorded) != kind(ours) {
        out.push(format!(
            "{path}: recorded {} but emulator {}",
            kind(recorded),
            kind(ours)
        ));
        return;
    }
    match (recorded, ours) {
        (Value::Object(r), Value::Object(o)) => {
            let rk: BTreeSet<&str> = r
                .keys()
                .map(String::as_str)
                .filter(|k| !RECORDED_ONLY_KEYS.contains(k))
                .collect();
            let ok: BTreeSet<&str> = o.keys().map(String::as_str).collect();
            if rk != ok {
                out.push(format!(
                    "{path}: keys {rk:?} recorded, {ok:?} from the emulator"
                ));
            }
            for k in rk.intersection(&ok) {
                compare_shape(&format!("{path}.{k}"), &r[*k], &o[*k], out);
            }
            if let (Some(rc), Some(oc)) = (r.get("code"), o.get("code"))
                && rc != oc
            {
                out.push(format!("{path}.code: recorded {rc} but emulator {oc}"));
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if r.len() != o.len() {
                out.push(format!(
                    "{path}: {} items recorded, {} from the emulator",
                    r.len(),
                    o.len()
                ));
            }
            for (i, (a, b)) in r.iter().zip(o).enumerate() {
                compare_shape(&format!("{path}[{i}]"), a, b, out);
            }
        }
        _ => {}
    }
}

/// The recorded body with its `manifests` list replaced by the recorded items of the
/// digests the emulator listed, in the emulator's order (checking the count first).
fn align_manifest_items(
    recorded: &Value,
    ours: &Value,
    items: &HashMap<String, Value>,
    digests: &Digests,
    out: &mut Vec<String>,
) -> Value {
    let (Some(r), Some(o)) = (
        recorded.get("manifests").and_then(Value::as_array),
        ours.get("manifests").and_then(Value::as_array),
    ) else {
        return recorded.clone();
    };
    if r.len() != o.len() {
        out.push(format!(
            "manifests: {} recorded, {} from the emulator",
            r.len(),
            o.len()
        ));
        return recorded.clone();
    }
    let mut aligned = Vec::new();
    for item in o {
        let digest = digests.to_recorded(item.get("digest").and_then(Value::as_str).unwrap_or(""));
        match items.get(&digest) {
            Some(recorded_item) => aligned.push(recorded_item.clone()),
            None => {
                out.push(format!(
                    "manifests: the emulator listed {digest}, which no recording shows"
                ));
                return recorded.clone();
            }
        }
    }
    let mut recorded = recorded.clone();
    recorded["manifests"] = Value::Array(aligned);
    recorded
}

/// Values that must match too: repository names, tag names in order, and manifest
/// digests (mapped back) in order when the list is time-ordered, as a set otherwise.
fn compare_values(
    uri: &str,
    recorded: &Value,
    ours: &Value,
    digests: &Digests,
    out: &mut Vec<String>,
) {
    if let (Some(r), Some(o)) = (recorded.get("repositories"), ours.get("repositories"))
        && r != o
    {
        out.push(format!("repositories: recorded {r} but emulator {o}"));
    }
    let names = |v: &Value, key: &str, field: &str| -> Option<Vec<String>> {
        Some(
            v.get(key)?
                .as_array()?
                .iter()
                .filter_map(|i| i.get(field)?.as_str().map(str::to_string))
                .collect(),
        )
    };
    if let (Some(r), Some(o)) = (names(recorded, "tags", "name"), names(ours, "tags", "name"))
        && r != o
    {
        out.push(format!("tag names: recorded {r:?} but emulator {o:?}"));
    }
    if let (Some(r), Some(o)) = (
        names(recorded, "manifests", "digest"),
        names(ours, "manifests", "digest"),
    ) {
        let o: Vec<String> = o.iter().map(|d| digests.to_recorded(d)).collect();
        let paged = uri.contains("n=");
        if uri.contains("orderby=time") {
            if r != o {
                out.push(format!("manifest order: recorded {r:?} but emulator {o:?}"));
            }
        } else if !paged && r.iter().collect::<BTreeSet<_>>() != o.iter().collect::<BTreeSet<_>>() {
            out.push(format!("manifests: recorded {r:?} but emulator {o:?}"));
        }
    }
}

// ------------------------------------------------------------------ replay

fn entries(recording: &Value) -> Vec<Entry<'_>> {
    recording["Entries"]
        .as_array()
        .expect("Entries")
        .iter()
        .filter_map(|e| {
            let uri = e["RequestUri"]
                .as_str()?
                .strip_prefix(RECORDED_ENDPOINT)?
                .to_string();
            Some(Entry {
                method: e["RequestMethod"].as_str()?,
                uri,
                status: e["StatusCode"].as_u64()? as u16,
                request_headers: e["RequestHeaders"].as_object()?,
                request_body: &e["RequestBody"],
                response_headers: e["ResponseHeaders"].as_object()?,
                response_body: &e["ResponseBody"],
            })
        })
        .collect()
}

fn form_fields(body: &Value) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_str().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn replay(name: &str, recording: &Value) -> Vec<String> {
    let entries = entries(recording);
    let anonymous = name.starts_with("test_anon_access");
    let emu = Emulator::builder()
        .anonymous_pull(anonymous)
        .aad_check(|t: &str| t == GOOD_AAD)
        .start()
        .await
        .unwrap();
    let seeds = seeds_from(&entries);
    let mut digests = Digests {
        forward: HashMap::new(),
        backward: HashMap::new(),
    };
    for (recorded, ours) in seed(&emu, &seeds) {
        digests.insert(&recorded, &ours);
    }

    // Every manifest item any recorded list showed, by digest: seeded digests sort in
    // another order, so list items are compared with the recorded item of the same digest.
    let mut recorded_items: HashMap<String, Value> = HashMap::new();
    for e in &entries {
        for m in e
            .response_body
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(d) = m.get("digest").and_then(Value::as_str) {
                recorded_items
                    .entry(d.to_string())
                    .or_insert_with(|| m.clone());
            }
        }
    }

    let client = common::client();
    let digest_re = Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let last = Regex::new(r"last=[^&>]*").unwrap();
    let mut mismatches = Vec::new();
    let mut refresh = String::new();
    let mut access = String::new();
    let mut after_token = false;
    let mut uploads: HashMap<String, String> = HashMap::new();
    let mut next_link: Option<(String, String)> = None;

    for (i, e) in entries.iter().enumerate() {
        let at = format!("{name} #{i} {} {}", e.method, e.uri);
        let mut problems = Vec::new();

        // ---- the token service, with the emulator's tokens in place of the placeholders
        let response = if e.uri.starts_with("/oauth2/exchange") {
            let aad = if e.status == 200 {
                GOOD_AAD
            } else {
                REJECTED_AAD
            };
            let form = [
                ("grant_type", "access_token"),
                ("service", emu.host()),
                ("access_token", aad),
            ];
            client
                .post(format!("{}{}", emu.endpoint(), e.uri))
                .form(&form)
                .send()
                .await
                .unwrap()
        } else if e.uri.starts_with("/oauth2/token") {
            let recorded = form_fields(e.request_body);
            let mut form: Vec<(String, String)> = Vec::new();
            for (k, v) in recorded {
                let v = match k.as_str() {
                    "service" => emu.host().to_string(),
                    "refresh_token" => refresh.clone(),
                    _ => v,
                };
                form.push((k, v));
            }
            after_token = true;
            client
                .post(format!("{}{}", emu.endpoint(), e.uri))
                .form(&form)
                .send()
                .await
                .unwrap()
        } else {
            // ---- registry requests, with recorded ids and digests swapped for the emulator's
            let mut uri = e.uri.clone();
            if let Some(after) = uri
                .split("/blobs/uploads/")
                .nth(1)
                .filter(|a| !a.is_empty() && !a.starts_with('?'))
            {
                let uuid = after.split('?').next().unwrap().to_string();
                if let Some(location) = uploads.get(&uuid) {
                    let (path, query) = location.split_once('?').unwrap_or((location, ""));
                    let digest = form_fields(&Value::String(
                        uri.split_once('?')
                            .map(|(_, q)| q)
                            .unwrap_or("")
                            .to_string(),
                    ))
                    .into_iter()
                    .find(|(k, _)| k == "digest")
                    .map(|(_, v)| v);
                    uri = match digest {
                        Some(d) => format!("{path}?digest={}&{query}", d.replace(':', "%3A")),
                        None => location.clone(),
                    };
                }
            } else if let Some((recorded_target, ours)) = &next_link
                && &uri == recorded_target
            {
                uri = ours.clone();
            }
            if uri.contains("sha256_encoded_stream") {
                // The recording's sanitizer hid the digest; the response names it.
                let body = e.response_body.to_string();
                let digest = digest_re
                    .find(&body)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| format!("sha256:{}", "0".repeat(64)));
                uri = uri.replace("sha256_encoded_stream", &digest.replace(':', "%3A"));
            }
            uri = digests.to_ours(&uri);

            let content_type = header_value(e.request_headers, "Content-Type");
            let body: Vec<u8> = match e.request_body {
                Value::Null => Vec::new(),
                Value::String(s) if content_type.as_deref() == Some("application/octet-stream") => {
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .expect("base64 body")
                }
                Value::String(s) => s.clone().into_bytes(),
                other => serde_json::to_vec(other).unwrap(),
            };
            if e.method == "PUT" && uri.contains("/manifests/sha256") {
                // The manifest is re-serialized, so it is pushed under its new digest.
                let recorded = digest_re
                    .find(&percent_decode(&e.uri))
                    .unwrap()
                    .as_str()
                    .to_string();
                let ours = sha256(&body);
                digests.insert(&recorded, &ours);
                uri = digests.to_ours(&uri);
            }
            let method = reqwest::Method::from_bytes(e.method.as_bytes()).unwrap();
            let mut request = client
                .request(method, format!("{}{uri}", emu.endpoint()))
                .body(body);
            for h in ["Content-Type", "Accept", "Range", "Content-Range"] {
                if let Some(v) = header_value(e.request_headers, h) {
                    request = request.header(h, v);
                }
            }
            // The Python SDK sends a token only on the retry that follows a token fetch.
            if after_token {
                request = request.bearer_auth(&access);
            }
            after_token = false;
            request.send().await.unwrap()
        };

        let status = response.status().as_u16();
        if e.method == "PUT"
            && e.uri.contains("/manifests/")
            && let (Some(recorded), Some(ours)) = (
                header_value(e.response_headers, "Docker-Content-Digest"),
                response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok()),
            )
        {
            // A manifest pushed by tag was re-serialized too: map its digest from now on.
            digests.insert(&recorded, ours);
        }
        if status != e.status {
            problems.push(format!(
                "status: recorded {} but emulator {status}",
                e.status
            ));
        }
        let ours_header = |n: &str| {
            response
                .headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
        };

        if let Some(recorded) = header_value(e.response_headers, "WWW-Authenticate") {
            let expected = normalize_challenge(&recorded, emu.endpoint(), emu.host());
            let got = ours_header("www-authenticate")
                .map(|v| normalize_challenge(&v, emu.endpoint(), emu.host()));
            if got.as_deref() != Some(expected.as_str()) {
                problems.push(format!("WWW-Authenticate: expected {expected} got {got:?}"));
            }
        } else if ours_header("www-authenticate").is_some() {
            problems.push("WWW-Authenticate sent but not recorded".into());
        }

        let recorded_link = header_value(e.response_headers, "Link");
        let our_link = ours_header("link");
        match (&recorded_link, &our_link) {
            (None, None) => {}
            (Some(r), Some(o)) => {
                let target = |l: &str| {
                    l.trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap_or("")
                        .to_string()
                };
                next_link = Some((target(r), target(o)));
                let mut o = digests.to_recorded(o);
                let mut r = r.clone();
                if e.uri.contains("/_manifests") {
                    // Seeded digests sort differently, so pages end on different digests.
                    r = last.replace(&r, "last=…").into_owned();
                    o = last.replace(&o, "last=…").into_owned();
                }
                if r != o {
                    problems.push(format!("Link: recorded {r} but emulator {o}"));
                }
            }
            (r, o) => problems.push(format!("Link: recorded {r:?} but emulator {o:?}")),
        }

        for h in [
            "Docker-Content-Digest",
            "Location",
            "Range",
            "Content-Range",
            "Docker-Upload-UUID",
        ] {
            let recorded = header_value(e.response_headers, h);
            let ours = ours_header(h).map(|v| digests.to_recorded(&v));
            let (recorded, ours) = match h {
                "Location" => (
                    recorded.map(|v| normalize_location(&v)),
                    ours.as_deref().map(normalize_location),
                ),
                "Docker-Upload-UUID" => (
                    recorded.map(|_| "<uuid>".into()),
                    ours.map(|_| "<uuid>".into()),
                ),
                _ => (recorded, ours),
            };
            if recorded != ours {
                problems.push(format!("{h}: recorded {recorded:?} but emulator {ours:?}"));
            }
        }
        if let (Some(recorded), Some(ours)) = (
            header_value(e.response_headers, "Location"),
            ours_header("location"),
        ) && recorded.contains("/blobs/uploads/")
        {
            let uuid = recorded
                .split("/blobs/uploads/")
                .nth(1)
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_string();
            uploads.insert(uuid, ours);
        }

        let recorded_body = e.response_body;
        let recorded_type = header_value(e.response_headers, "Content-Type");
        let our_type = ours_header("content-type");
        let bytes = response.bytes().await.unwrap();
        match recorded_body {
            Value::Null => {
                if !bytes.is_empty() {
                    problems.push(format!(
                        "body: none recorded, emulator sent {} bytes",
                        bytes.len()
                    ));
                }
            }
            Value::String(s) if s.is_empty() => {
                if !bytes.is_empty() {
                    problems.push(format!(
                        "body: none recorded, emulator sent {} bytes",
                        bytes.len()
                    ));
                }
            }
            Value::Array(parts) if parts.iter().all(Value::is_string) => {
                let text: String = parts.iter().filter_map(Value::as_str).collect();
                if bytes.as_ref() != text.as_bytes() {
                    problems.push(format!(
                        "text body: recorded {text:?} but emulator {:?}",
                        String::from_utf8_lossy(&bytes)
                    ));
                }
            }
            recorded_json => {
                if recorded_type != our_type {
                    problems.push(format!(
                        "Content-Type: recorded {recorded_type:?} but emulator {our_type:?}"
                    ));
                }
                match serde_json::from_slice::<Value>(&bytes) {
                    Err(err) => problems.push(format!("body is not JSON: {err}")),
                    Ok(ours) => {
                        let recorded_json = &align_manifest_items(
                            recorded_json,
                            &ours,
                            &recorded_items,
                            &digests,
                            &mut problems,
                        );
                        compare_shape("body", recorded_json, &ours, &mut problems);
                        compare_values(&e.uri, recorded_json, &ours, &digests, &mut problems);
                        if let Some(t) = ours.get("refresh_token").and_then(Value::as_str) {
                            refresh = t.to_string();
                        }
                        if let Some(t) = ours.get("access_token").and_then(Value::as_str) {
                            access = t.to_string();
                        }
                    }
                }
            }
        }
        mismatches.extend(problems.into_iter().map(|p| format!("{at}: {p}")));
    }
    emu.shutdown().await;
    mismatches
}

#[tokio::test]
async fn every_recording_replays_with_the_recorded_statuses_headers_and_shapes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/recordings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        44,
        "the fixtures hold the 44 recordings listed in INDEX.md"
    );

    let mut mismatches = Vec::new();
    let mut replayed = 0;
    for file in &files {
        if NOT_REPLAYED.iter().any(|(n, _)| n == file) {
            continue;
        }
        let recording: Value =
            serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        let name = file.trim_end_matches(".json");
        mismatches.extend(replay(name, &recording).await);
        replayed += 1;
    }
    assert_eq!(replayed + NOT_REPLAYED.len(), files.len());
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
