//! The `acr` binary end to end: run as a process against an in-process `acr-emulator`, and
//! against the CNCF distribution registry `.ci/run` starts (`ACR_E2E_DISTRIBUTION`).

#[path = "../../acr/tests/support/ci.rs"]
mod ci;

use std::path::Path;

use acr_emulator::{Emulator, Faults};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

const USER: &str = "admin";
const PASSWORD: &str = "s3cret-pa55word";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The distribution registry's endpoint, or `None` outside CI when none was started.
fn distribution() -> Option<String> {
    ci::registry_from_env("ACR_E2E_DISTRIBUTION")
}

/// The three distribution registries `.ci/run` starts, each with the test user where it
/// needs one: open, behind Basic authentication, and behind token authentication (tokens
/// from the emulator's Docker token service). Empty outside CI when none was started.
fn distributions() -> Vec<Acr> {
    let user = |acr: Acr| {
        acr.arg("--username")
            .arg("e2e")
            .env("ACR_PASSWORD", "e2e-password")
    };
    [
        ("ACR_E2E_DISTRIBUTION", false),
        ("ACR_E2E_DISTRIBUTION_BASIC", true),
        ("ACR_E2E_DISTRIBUTION_TOKEN", true),
    ]
    .into_iter()
    .filter_map(|(variable, with_user)| {
        let acr = Acr::new(&ci::registry_from_env(variable)?);
        Some(if with_user { user(acr) } else { acr })
    })
    .collect()
}

async fn emulator() -> Emulator {
    Emulator::builder()
        .user(USER, PASSWORD)
        .start()
        .await
        .unwrap()
}

/// A repository name of its own per run, so that reruns against a long-lived registry
/// do not see each other's content.
fn repository(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("cli/{name}-{:08x}", nanos ^ std::process::id())
}

/// How one run of the binary ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "acr failed: {}", self.stderr);
        self
    }

    fn stdout(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout()))
    }
}

/// Who the binary runs as, and where.
#[derive(Clone)]
struct Acr {
    registry: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Acr {
    /// No credential but what is given here: the caller's environment and docker config
    /// are kept out.
    fn new(registry: &str) -> Self {
        Self {
            registry: registry.to_owned(),
            env: Vec::new(),
            args: vec!["--allow-http".to_owned()],
        }
    }

    fn user(registry: &str) -> Self {
        Self::new(registry)
            .arg("--username")
            .arg(USER)
            .env("ACR_PASSWORD", PASSWORD)
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    async fn run(&self, args: &[&str]) -> Run {
        let empty = tempfile::tempdir().unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_acr"));
        for name in [
            "ACR_USERNAME",
            "ACR_PASSWORD",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
        ] {
            command.env_remove(name);
        }
        command
            .env("ACR_REGISTRY", &self.registry)
            .env("DOCKER_CONFIG", empty.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(&self.args)
            .args(args);
        let output = command.output().await.unwrap();
        Run {
            code: output.status.code().expect("acr exited by a signal"),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

fn blob_file(dir: &Path, digest: &str) -> std::path::PathBuf {
    let (algorithm, encoded) = digest.split_once(':').unwrap();
    dir.join("blobs").join(algorithm).join(encoded)
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": sha256(bytes), "size": bytes.len() })
}

/// An OCI image layout in a temporary directory.
struct Layout {
    dir: tempfile::TempDir,
    /// The top manifest's bytes, as index.json names them.
    top: Vec<u8>,
    /// Every blob and manifest in the layout, by digest.
    content: Vec<(String, Vec<u8>)>,
}

impl Layout {
    /// An image: a config and two layers (one over a megabyte, so that it crosses the
    /// client's upload chunks); with `index`, wrapped in an image index.
    fn image(tag: &str, index: bool) -> Self {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .to_vec();
        let layers = [content(1500, 1), content(5 * 1024 * 1024 + 3, 2)];
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
        }))
        .unwrap();
        let mut content: Vec<(String, Vec<u8>)> = std::iter::once(config)
            .chain(layers)
            .chain([manifest.clone()])
            .map(|bytes| (sha256(&bytes), bytes))
            .collect();
        let (top, media_type) = if index {
            let mut child = descriptor(OCI_MANIFEST, &manifest);
            child["platform"] = json!({ "architecture": "amd64", "os": "linux" });
            let index = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [child],
            }))
            .unwrap();
            content.push((sha256(&index), index.clone()));
            (index, OCI_INDEX)
        } else {
            (manifest, OCI_MANIFEST)
        };
        let dir = tempfile::tempdir().unwrap();
        for (digest, bytes) in &content {
            let path = blob_file(dir.path(), digest);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let mut top_descriptor = descriptor(media_type, &top);
        top_descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
        std::fs::write(
            dir.path().join("index.json"),
            serde_json::to_vec(&json!({ "schemaVersion": 2, "manifests": [top_descriptor] }))
                .unwrap(),
        )
        .unwrap();
        Self { dir, top, content }
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
}

/// Pushes `layout` as `repository:tag`, pulls it into a new directory, and checks that
/// every blob and manifest came back byte for byte and that index.json names the image.
async fn push_and_pull(acr: &Acr, repository: &str, layout: &Layout) {
    let reference = format!("{repository}:v1");
    let pushed = acr.run(&["push", &reference, layout.path()]).await.ok();
    assert_eq!(pushed.stdout().trim(), sha256(&layout.top));

    let target = tempfile::tempdir().unwrap();
    let target_path = target.path().join("image");
    let pulled = acr
        .run(&["pull", &reference, target_path.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(pulled.stdout().trim(), sha256(&layout.top));
    for (digest, bytes) in &layout.content {
        let got = std::fs::read(blob_file(&target_path, digest))
            .unwrap_or_else(|e| panic!("{digest} not pulled: {e}"));
        assert_eq!(sha256(&got), *digest);
        assert!(got == *bytes, "{digest} differs");
    }
    let index: Value =
        serde_json::from_slice(&std::fs::read(target_path.join("index.json")).unwrap()).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], json!(sha256(&layout.top)));
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        json!("v1")
    );
    let marker: Value =
        serde_json::from_slice(&std::fs::read(target_path.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(marker, json!({ "imageLayoutVersion": "1.0.0" }));

    // The pulled directory is a layout in its own right: pushing it again finds every
    // blob already there and uploads none.
    let again = acr
        .clone()
        .arg("--output")
        .arg("json")
        .run(&["push", &reference, target_path.to_str().unwrap()])
        .await
        .ok()
        .json();
    assert_eq!(again["blobs"], json!(0), "{again}");
    assert_eq!(again["blobsSkipped"], json!(3), "{again}");
    assert_eq!(again["digest"], json!(sha256(&layout.top)));
}

#[tokio::test(flavor = "multi_thread")]
async fn images_and_indexes_round_trip_through_oci_layouts_on_the_emulator() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    push_and_pull(&acr, &repository("image"), &Layout::image("v1", false)).await;
    push_and_pull(&acr, &repository("index"), &Layout::image("v1", true)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn images_and_indexes_round_trip_through_oci_layouts_on_distribution() {
    let Some(endpoint) = distribution() else {
        return;
    };
    let acr = Acr::new(&endpoint);
    push_and_pull(&acr, &repository("image"), &Layout::image("v1", false)).await;
    push_and_pull(&acr, &repository("index"), &Layout::image("v1", true)).await;
}

/// `blob push` prints the file's digest, `blob pull` writes the same bytes, and after
/// `blob delete` the blob is not found (exit 3) and no file is written.
async fn blob_round_trip(acr: &Acr, repository: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = content(3 * 1024 * 1024 + 11, 7);
    let source = dir.path().join("source.bin");
    std::fs::write(&source, &data).unwrap();
    let pushed = acr
        .run(&["blob", "push", repository, source.to_str().unwrap()])
        .await
        .ok();
    let digest = pushed.stdout().trim().to_owned();
    assert_eq!(digest, sha256(&data));

    let copy = dir.path().join("copy.bin");
    let pulled = acr
        .clone()
        .arg("--output")
        .arg("json")
        .run(&[
            "blob",
            "pull",
            repository,
            &digest,
            "-o",
            copy.to_str().unwrap(),
        ])
        .await
        .ok()
        .json();
    assert_eq!(pulled["size"], json!(data.len()));
    assert!(std::fs::read(&copy).unwrap() == data);

    acr.run(&["blob", "delete", repository, &digest]).await.ok();
    let gone = dir.path().join("gone.bin");
    let missing = acr
        .run(&[
            "blob",
            "pull",
            repository,
            &digest,
            "-o",
            gone.to_str().unwrap(),
        ])
        .await;
    assert_eq!(missing.code, 3, "{missing:?}");
    assert!(!gone.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_round_trip_on_the_emulator() {
    let registry = emulator().await;
    blob_round_trip(&Acr::user(registry.endpoint()), &repository("blob")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_round_trip_on_distribution() {
    let Some(endpoint) = distribution() else {
        return;
    };
    blob_round_trip(&Acr::new(&endpoint), &repository("blob")).await;
}

/// Distribution has no `/acr/v1` metadata API: the commands that need it exit 6 and
/// change nothing; above all, a delete does not pass for done. The tag is still there,
/// as a second look by `manifest get` shows; the listings of names still work. So on each
/// of distribution's authentication modes.
#[tokio::test(flavor = "multi_thread")]
async fn metadata_commands_on_distribution_exit_unsupported_and_change_nothing() {
    for acr in distributions() {
        unsupported_metadata_commands(&acr).await;
    }
}

async fn unsupported_metadata_commands(acr: &Acr) {
    let repo = repository("unsupported");
    let layout = Layout::image("v1", false);
    acr.run(&["push", &format!("{repo}:v1"), layout.path()])
        .await
        .ok();
    for args in [
        vec!["tag", "delete", &repo, "v1"],
        vec!["repo", "delete", &repo],
        vec!["tag", "show", &repo, "v1"],
        vec!["repo", "show", &repo],
    ] {
        let run = acr.run(&args).await;
        assert_eq!(run.code, 6, "{} {args:?}: {run:?}", acr.registry);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("manifest.json");
    acr.run(&["manifest", "get", &repo, "v1", "-o", out.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(std::fs::read(&out).unwrap(), layout.top);

    // Names are what the OCI API lists: `repo ls` and `tag ls` work without ACR's API.
    let repos = acr.run(&["repo", "ls"]).await.ok().stdout();
    assert!(repos.lines().any(|l| l == repo), "{repos}");
    let tags = acr.run(&["tag", "ls", &repo]).await.ok().stdout();
    assert_eq!(tags.lines().collect::<Vec<_>>(), ["v1"]);
    let ordered = acr.run(&["tag", "ls", &repo, "--order", "desc"]).await;
    assert_eq!(ordered.code, 6, "{ordered:?}");

    // The OCI API deletes a manifest by digest, found from its tag by `HEAD`.
    acr.run(&["manifest", "delete", &repo, "v1"]).await.ok();
    let gone = acr
        .run(&["manifest", "get", &repo, &sha256(&layout.top)])
        .await;
    assert_eq!(gone.code, 3, "{gone:?}");
}

/// On distribution with token authentication, `acr login` stores the identity token the
/// token service gives for the password, as `docker login` does, and later commands sign
/// in with it alone.
#[tokio::test(flavor = "multi_thread")]
async fn login_on_a_token_registry_stores_its_identity_token() {
    let Some(endpoint) = ci::registry_from_env("ACR_E2E_DISTRIBUTION_TOKEN") else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    Acr::new(&endpoint)
        .arg("--username")
        .arg("e2e")
        .env("ACR_PASSWORD", "e2e-password")
        .env("DOCKER_CONFIG", config_dir)
        .run(&["login"])
        .await
        .ok();
    let written: Value =
        serde_json::from_slice(&std::fs::read(config.path().join("config.json")).unwrap()).unwrap();
    let host = endpoint.trim_start_matches("http://");
    let entry = &written["auths"][host];
    assert!(
        entry["identitytoken"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{written}"
    );
    assert!(!written.to_string().contains("e2e-password"), "{written}");

    let stored = Acr::new(&endpoint).env("DOCKER_CONFIG", config_dir);
    let repo = repository("identity");
    let layout = Layout::image("v1", false);
    stored
        .run(&["push", &format!("{repo}:v1"), layout.path()])
        .await
        .ok();
    let tags = stored.run(&["tag", "ls", &repo]).await.ok().stdout();
    assert_eq!(tags.lines().collect::<Vec<_>>(), ["v1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_and_properties_come_from_the_acr_metadata_api() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    let repo = repository("meta");
    let layout = Layout::image("v1", false);
    acr.run(&["push", &format!("{repo}:v1"), layout.path()])
        .await
        .ok();
    acr.run(&["push", &format!("{repo}:v2"), layout.path()])
        .await
        .ok();
    let json = acr.clone().arg("--output").arg("json");

    let names = acr.run(&["repo", "ls"]).await.ok().stdout();
    assert_eq!(names.lines().collect::<Vec<_>>(), [repo.as_str()]);
    assert_eq!(
        json.run(&["repo", "ls", "--page-size", "1"])
            .await
            .ok()
            .json(),
        json!([repo])
    );

    let tags = json
        .run(&["tag", "ls", &repo, "--order", "desc"])
        .await
        .ok()
        .json();
    let mut names: Vec<_> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["v1", "v2"]);
    assert!(
        tags.as_array()
            .unwrap()
            .iter()
            .all(|t| t["digest"] == json!(sha256(&layout.top)))
    );
    let text = acr.run(&["tag", "ls", &repo]).await.ok().stdout();
    assert!(text.lines().any(|l| l.starts_with("v1\tsha256:")), "{text}");

    let shown = json.run(&["repo", "show", &repo]).await.ok().json();
    assert_eq!(shown["name"], json!(repo));
    assert_eq!(shown["tagCount"], json!(2));

    let locked = json
        .run(&["tag", "update", &repo, "v1", "--can-delete", "false"])
        .await
        .ok()
        .json();
    assert_eq!(locked["canDelete"], json!(false));
    let manifests = json.run(&["manifest", "ls", &repo]).await.ok().json();
    assert_eq!(manifests[0]["digest"], json!(sha256(&layout.top)));

    acr.run(&["tag", "delete", &repo, "v2"]).await.ok();
    let shown = json.run(&["repo", "show", &repo]).await.ok().json();
    assert_eq!(shown["tagCount"], json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_go_up_and_come_down_byte_for_byte() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    let repo = repository("manifest");
    let config = b"{}".to_vec();
    registry.put_blob(&repo, config.clone()).unwrap();
    // Unusual spacing: the digest must be over these bytes, not a re-serialisation.
    let manifest = format!(
        "{{ \"schemaVersion\": 2, \"mediaType\": \"{OCI_MANIFEST}\",\n  \"config\": {}, \"layers\": [] }}",
        descriptor("application/vnd.oci.empty.v1+json", &config)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifest.json");
    std::fs::write(&file, &manifest).unwrap();
    let put = acr
        .run(&[
            "manifest",
            "put",
            &repo,
            file.to_str().unwrap(),
            "--tag",
            "v1",
        ])
        .await
        .ok();
    assert_eq!(put.stdout().trim(), sha256(manifest.as_bytes()));

    let got = acr.run(&["manifest", "get", &repo, "v1"]).await.ok();
    assert!(got.stdout == manifest.as_bytes());
    let by_digest = acr
        .clone()
        .arg("--output")
        .arg("json")
        .run(&["manifest", "get", &repo, &sha256(manifest.as_bytes())])
        .await
        .ok()
        .json();
    assert_eq!(by_digest["mediaType"], json!(OCI_MANIFEST));
    assert_eq!(by_digest["manifest"]["schemaVersion"], json!(2));

    // A signature-like artifact whose subject is that manifest is listed as its referrer.
    let subject = descriptor(OCI_MANIFEST, manifest.as_bytes());
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": descriptor("application/vnd.oci.empty.v1+json", &config),
        "layers": [],
        "subject": subject,
    }))
    .unwrap();
    std::fs::write(&file, &referrer).unwrap();
    acr.run(&["manifest", "put", &repo, file.to_str().unwrap()])
        .await
        .ok();
    let referrers = acr
        .clone()
        .arg("--output")
        .arg("json")
        .run(&["referrers", &repo, &sha256(manifest.as_bytes())])
        .await
        .ok()
        .json();
    assert_eq!(
        referrers[0]["digest"],
        json!(sha256(&referrer)),
        "{referrers}"
    );
    assert_eq!(
        referrers[0]["artifactType"],
        json!("application/vnd.example.signature")
    );

    acr.run(&["manifest", "delete", &repo, "v1"]).await.ok();
    let gone = acr.run(&["manifest", "get", &repo, "v1"]).await;
    assert_eq!(gone.code, 3, "{gone:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_does_not_exist_exits_3() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    let repo = repository("missing");
    let layout = Layout::image("v1", false);
    acr.run(&["push", &format!("{repo}:v1"), layout.path()])
        .await
        .ok();
    for args in [
        vec!["tag", "show", &repo, "nope"],
        vec!["manifest", "get", &repo, "nope"],
        vec!["repo", "show", "cli/never-pushed"],
    ] {
        let run = acr.run(&args).await;
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.starts_with("acr: error: not found"), "{run:?}");
    }
    let target = tempfile::tempdir().unwrap();
    let run = acr
        .run(&[
            "pull",
            &format!("{repo}:nope"),
            target.path().to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 3, "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_exits_4_without_showing_it() {
    let registry = emulator().await;
    let wrong = "not-the-Pa55word";
    let run = Acr::new(registry.endpoint())
        .arg("--username")
        .arg(USER)
        .env("ACR_PASSWORD", wrong)
        .run(&["repo", "ls"])
        .await;
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.starts_with("acr: error: authentication failed"),
        "{run:?}"
    );
    assert!(!run.stderr.contains(wrong), "{run:?}");
    // No credential at all is refused the same way by a registry without anonymous pull.
    let run = Acr::new(registry.endpoint()).run(&["repo", "ls"]).await;
    assert_eq!(run.code, 4, "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupted_downloads_exit_5_and_leave_no_file() {
    let registry = Emulator::builder()
        .user(USER, PASSWORD)
        .faults(Faults {
            flip_byte_rate: 1.0,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let acr = Acr::user(registry.endpoint());
    let repo = repository("corrupt");
    let data = content(4096, 3);
    let digest = registry.put_blob(&repo, data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob.bin");
    let run = acr
        .run(&["blob", "pull", &repo, &digest, "-o", file.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr.starts_with("acr: error: digest mismatch"),
        "{run:?}"
    );
    assert!(!file.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    let digest = sha256(b"x");
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    for args in [
        vec!["repo", "frobnicate"],
        vec!["blob", "delete", "repo", "sha256:short"],
        vec!["tag", "update", "repo", "v1"],
        vec!["push", "repo:", "."],
        // Names the library refuses before any request, whichever command carries them.
        vec!["repo", "show", "Not/Valid"],
        vec!["tag", "show", "UPPER", "v1"],
        vec!["tag", "show", "repo", "bad:tag"],
        vec!["tag", "ls", "a//b"],
        vec!["manifest", "get", "repo!", "v1"],
        vec!["manifest", "ls", "-repo"],
        vec!["blob", "delete", "Repo", &digest],
        vec!["pull", "Bad!Name:v1", dir],
        vec!["referrers", "UPPER", &digest],
        // A page of nothing would never end a listing.
        vec!["repo", "ls", "--page-size", "0"],
        vec!["tag", "ls", "repo", "--page-size", "0"],
        vec!["manifest", "ls", "repo", "--page-size", "0"],
    ] {
        let run = acr.run(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(!run.stderr.is_empty(), "{args:?}: {run:?}");
    }
    // None of them reached the registry.
    assert!(registry.requests().is_empty(), "{:?}", registry.requests());
    let run = Acr::new("").run(&["repo", "ls"]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docker_config_supplies_credentials() {
    let registry = emulator().await;
    let config = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let write = |auths: Value| {
        std::fs::write(
            config.path().join("config.json"),
            serde_json::to_vec(&json!({ "auths": auths })).unwrap(),
        )
        .unwrap()
    };
    let acr = Acr::new(registry.endpoint()).env("DOCKER_CONFIG", config.path().to_str().unwrap());

    write(json!({ format!("http://{}", registry.host()): { "auth": auth } }));
    acr.run(&["repo", "ls"]).await.ok();

    // Another registry's entry is not used.
    write(json!({ "other.example.com": { "auth": auth } }));
    assert_eq!(acr.run(&["repo", "ls"]).await.code, 4);

    // --anonymous overrides the configured credential.
    write(json!({ registry.host(): { "auth": auth } }));
    assert_eq!(
        acr.clone()
            .arg("--anonymous")
            .run(&["repo", "ls"])
            .await
            .code,
        4
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_trusted_with_ca_cert() {
    let registry = Emulator::builder()
        .user(USER, PASSWORD)
        .tls(true)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, registry.ca_cert_pem().unwrap()).unwrap();
    let acr = Acr::user(registry.endpoint());

    let untrusted = acr.run(&["repo", "ls"]).await;
    assert_eq!(untrusted.code, 1, "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("transport error"),
        "{untrusted:?}"
    );

    acr.clone()
        .arg("--ca-cert")
        .arg(pem.to_str().unwrap())
        .run(&["repo", "ls"])
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn http_is_refused_without_allow_http() {
    let registry = emulator().await;
    let mut acr = Acr::user(registry.endpoint());
    acr.args.retain(|a| a != "--allow-http");
    let run = acr.run(&["repo", "ls"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("http"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_in_the_registry_url_is_never_shown() {
    let registry = emulator().await;
    let with_password = format!("http://{USER}:{PASSWORD}@{}", registry.host());
    let unparsable = format!("http://{USER}:{PASSWORD}@not a host/");
    for endpoint in [&with_password, &unparsable] {
        for args in [
            vec!["repo", "ls"],
            vec!["tag", "show", "repo", "v1"],
            vec!["pull", "repo:v1", "."],
        ] {
            let run = Acr::new(endpoint).run(&args).await;
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(!run.stderr.contains(PASSWORD), "{args:?}: {run:?}");
            assert!(!run.stdout().contains(PASSWORD), "{args:?}: {run:?}");
        }
    }
    // Nor in the help, which shows the environment's values otherwise.
    let help = Acr::new(&with_password)
        .run(&["repo", "ls", "--help"])
        .await
        .ok();
    assert!(help.stdout().contains("ACR_REGISTRY"), "{}", help.stdout());
    assert!(!help.stdout().contains(PASSWORD), "{}", help.stdout());
    assert!(registry.requests().is_empty());
}

/// A stand-in for Azure AD's token endpoint: answers each client credentials request
/// with `token` when the form carries `secret`, else with AAD's error body.
async fn fake_azure_ad(secret: &'static str, token: &'static str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            // Headers, then as much body as Content-Length says.
            let complete = |request: &[u8]| {
                let text = String::from_utf8_lossy(request);
                let (head, body) = text.split_once("\r\n\r\n")?;
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                (body.len() >= length).then(|| body.to_owned())
            };
            let body = loop {
                let read = stream.read(&mut buffer).await.unwrap_or(0);
                if read == 0 {
                    break None;
                }
                request.extend_from_slice(&buffer[..read]);
                if let Some(body) = complete(&request) {
                    break Some(body);
                }
            };
            let Some(body) = body else { continue };
            let granted = body.contains("grant_type=client_credentials")
                && body.contains(&format!("client_secret={secret}"));
            let (status, json) = if granted {
                (
                    "200 OK",
                    json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": token }),
                )
            } else {
                (
                    "401 Unauthorized",
                    json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided." }),
                )
            };
            let json = json.to_string();
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                json.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    endpoint
}

#[tokio::test(flavor = "multi_thread")]
async fn an_azure_ad_service_principal_signs_in_from_the_environment() {
    let registry = Emulator::builder()
        .aad_check(|token| token == "aad-access-token")
        .start()
        .await
        .unwrap();
    let authority = fake_azure_ad("the-client-secret", "aad-access-token").await;
    let principal = |secret: &str| {
        Acr::new(registry.endpoint())
            .env("AZURE_AUTHORITY_HOST", &authority)
            .env("AZURE_TENANT_ID", "tenant")
            .env("AZURE_CLIENT_ID", "client")
            .env("AZURE_CLIENT_SECRET", secret)
    };
    let repo = repository("aad");
    let layout = Layout::image("v1", false);
    principal("the-client-secret")
        .run(&["push", &format!("{repo}:v1"), layout.path()])
        .await
        .ok();

    let refused = principal("a-wrong-secret").run(&["repo", "ls"]).await;
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(refused.stderr.contains("AADSTS7000215"), "{refused:?}");
    assert!(!refused.stderr.contains("a-wrong-secret"), "{refused:?}");
}

/// A registry that answers every request with `200`, `content_type` and a body that stops
/// halfway and never ends; `started` gets a message once the first half is sent.
async fn stalling_registry(
    content_type: &'static str,
    body: Vec<u8>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (started, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            let started = started.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body[..body.len() / 2]).await;
                let _ = stream.flush().await;
                let _ = started.send(());
                // Hold the connection open, sending nothing more.
                std::future::pending::<()>().await;
            });
        }
    });
    (endpoint, receiver)
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Starts `acr args` against `registry`, waits for the registry to have sent half of the
/// body (and, with `temp_appears`, for a temporary file to appear in `dir`), sends
/// SIGTERM, and returns the exit status.
#[cfg(unix)]
async fn terminated_mid_download(
    registry: &str,
    mut started: tokio::sync::mpsc::UnboundedReceiver<()>,
    args: &[&str],
    dir: &Path,
    temp_appears: bool,
) -> std::process::ExitStatus {
    let empty = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_acr"))
        .env("DOCKER_CONFIG", empty.path())
        .env("ACR_REGISTRY", registry)
        .arg("--allow-http")
        .arg("--anonymous")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::select! {
        _ = started.recv() => {}
        status = child.wait() => panic!("acr ended before the download stalled: {status:?}"),
    }
    if temp_appears {
        // Bounded, so that a broken build fails rather than hangs.
        let mut tries = 0;
        while names_in(dir).len() < 2 {
            tries += 1;
            assert!(
                tries < 3000,
                "no temporary file appeared: {:?}",
                names_in(dir)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().await.unwrap()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_download_keeps_the_old_file_and_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt as _;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let target_str = target.to_str().unwrap();

    let manifest = content(64 * 1024, 5);
    let (registry, started) = stalling_registry(OCI_MANIFEST, manifest).await;
    std::fs::write(&target, b"the old manifest").unwrap();
    let status = terminated_mid_download(
        &registry,
        started,
        &["manifest", "get", "repo", "v1", "-o", target_str],
        dir.path(),
        false,
    )
    .await;
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_eq!(status.signal(), None);
    assert_eq!(std::fs::read(&target).unwrap(), b"the old manifest");
    assert_eq!(names_in(dir.path()), ["target"]);

    // A blob is written as it arrives, so its temporary file exists when the signal comes.
    let blob = content(1024 * 1024, 6);
    let digest = sha256(&blob);
    let (registry, started) = stalling_registry("application/octet-stream", blob).await;
    std::fs::write(&target, b"the old blob").unwrap();
    let status = terminated_mid_download(
        &registry,
        started,
        &["blob", "pull", "repo", &digest, "-o", target_str],
        dir.path(),
        true,
    )
    .await;
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"the old blob");
    assert_eq!(names_in(dir.path()), ["target"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_get_replaces_the_file_rather_than_rewriting_it() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    let repo = repository("atomic");
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{},\"layers\":[]}}",
        descriptor("application/vnd.oci.empty.v1+json", b"{}")
    );
    registry
        .put_manifest(&repo, "v1", OCI_MANIFEST, manifest.clone().into_bytes())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("manifest.json");
    let old = "an older manifest, longer than the new one so that truncation would show ".repeat(8);
    std::fs::write(&target, &old).unwrap();
    // A second name for the old file: rewriting in place would change what it shows too.
    let link = dir.path().join("link.json");
    std::fs::hard_link(&target, &link).unwrap();
    acr.run(&[
        "manifest",
        "get",
        &repo,
        "v1",
        "-o",
        target.to_str().unwrap(),
    ])
    .await
    .ok();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), manifest);
    assert_eq!(std::fs::read_to_string(&link).unwrap(), old);
    assert_eq!(names_in(dir.path()), ["link.json", "manifest.json"]);

    // A registry that fails mid-way leaves the file as it was.
    let failing = Emulator::builder()
        .user(USER, PASSWORD)
        .faults(Faults {
            reset_mid_body_rate: 1.0,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    failing
        .put_manifest(&repo, "v1", OCI_MANIFEST, b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"a\",\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2},\"layers\":[]}".to_vec())
        .unwrap();
    let run = Acr::user(failing.endpoint())
        .run(&["manifest", "get", &repo, "v1", "-o", link.to_str().unwrap()])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), old);
    assert_eq!(names_in(dir.path()), ["link.json", "manifest.json"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_tags_are_each_listed_once() {
    const TAGS: usize = 100_000;
    let registry = emulator().await;
    let repo = repository("many");
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{},\"layers\":[]}}",
        descriptor("application/vnd.oci.empty.v1+json", b"{}")
    );
    let digest = registry
        .put_manifest(&repo, "t0", OCI_MANIFEST, manifest.into_bytes())
        .unwrap();
    for i in 1..TAGS {
        registry.tag(&repo, &format!("t{i}"), &digest).unwrap();
    }
    let acr = Acr::user(registry.endpoint());
    let check = |names: Vec<&str>| {
        assert_eq!(names.len(), TAGS);
        let mut seen = vec![false; TAGS];
        for name in names {
            let i: usize = name.strip_prefix('t').unwrap().parse().unwrap();
            assert!(!std::mem::replace(&mut seen[i], true), "{name} twice");
        }
    };

    let text = acr
        .run(&["tag", "ls", &repo, "--page-size", "1000"])
        .await
        .ok()
        .stdout();
    check(
        text.lines()
            .map(|l| {
                let (name, rest) = l.split_once('\t').unwrap();
                assert!(rest.starts_with(&digest), "{l}");
                name
            })
            .collect(),
    );

    let json = acr
        .clone()
        .arg("--output")
        .arg("json")
        .run(&["tag", "ls", &repo, "--page-size", "1000"])
        .await
        .ok()
        .json();
    check(
        json.as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect(),
    );
}

/// An ACR metadata API that serves one page of `items` under `key` with a link to a next
/// page, and never answers the request for that next page.
async fn registry_stalling_after_one_page(key: &'static str, items: Value) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let items = items.clone();
            let served = served.clone();
            tokio::spawn(async move {
                let mut buffer = [0; 4096];
                loop {
                    let mut request = Vec::new();
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => request.extend_from_slice(&buffer[..read]),
                        }
                    }
                    if served.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    let path = String::from_utf8_lossy(&request)
                        .split(' ')
                        .nth(1)
                        .unwrap()
                        .split('?')
                        .next()
                        .unwrap()
                        .to_owned();
                    let body =
                        json!({ "registry": "r", "imageName": "repo", key: items }).to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nlink: <{path}?last=zzz&n=2>; rel=\"next\"\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                }
            });
        }
    });
    endpoint
}

/// Runs `acr args`, reads stdout until `expected` has all arrived, then kills the process;
/// fails if the process ends first.
async fn printed_before_the_listing_ends(registry: &str, args: &[&str], expected: &str) {
    use tokio::io::AsyncReadExt as _;
    let empty = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_acr"))
        .env("DOCKER_CONFIG", empty.path())
        .env("ACR_REGISTRY", registry)
        .args(["--allow-http", "--anonymous"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut printed = Vec::new();
    let mut buffer = [0; 4096];
    // A tool that held the first page back would wait for the second forever: the bound
    // turns that hang into a failure.
    let read_all = async {
        while !String::from_utf8_lossy(&printed).contains(expected) {
            let read = stdout.read(&mut buffer).await.unwrap();
            assert!(
                read > 0,
                "{args:?} ended, printing only {:?}",
                String::from_utf8_lossy(&printed)
            );
            printed.extend_from_slice(&buffer[..read]);
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(120), read_all)
        .await
        .is_err()
    {
        panic!("{args:?} printed nothing of the first page while waiting for the second");
    }
    // Still waiting for the second page.
    assert!(child.try_wait().unwrap().is_none());
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_and_manifest_listings_print_each_page_as_it_arrives() {
    let digest = sha256(b"m");
    let changeable = json!({ "deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true });
    let tags = json!([
        { "name": "first-tag", "digest": digest, "createdTime": "2024-01-01T00:00:00Z", "lastUpdateTime": "2024-01-01T00:00:00Z", "changeableAttributes": changeable },
        { "name": "second-tag", "digest": digest, "createdTime": "2024-01-01T00:00:00Z", "lastUpdateTime": "2024-01-01T00:00:00Z", "changeableAttributes": changeable },
    ]);
    let registry = registry_stalling_after_one_page("tags", tags.clone()).await;
    printed_before_the_listing_ends(&registry, &["tag", "ls", "repo"], "second-tag\t").await;
    printed_before_the_listing_ends(
        &registry_stalling_after_one_page("tags", tags).await,
        &["--output", "json", "tag", "ls", "repo"],
        "\"second-tag\"",
    )
    .await;
    let manifests = json!([
        { "digest": digest, "imageSize": 1, "createdTime": "2024-01-01T00:00:00Z", "lastUpdateTime": "2024-01-01T00:00:00Z", "mediaType": OCI_MANIFEST, "tags": ["v1"], "changeableAttributes": changeable },
    ]);
    printed_before_the_listing_ends(
        &registry_stalling_after_one_page("manifests", manifests.clone()).await,
        &["manifest", "ls", "repo"],
        &format!("{digest}\t{OCI_MANIFEST}\tv1"),
    )
    .await;
    printed_before_the_listing_ends(
        &registry_stalling_after_one_page("manifests", manifests).await,
        &["--output", "json", "manifest", "ls", "repo"],
        &digest,
    )
    .await;
}

/// The docker config in `dir`.
fn docker_config(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

/// How many requests the emulator has answered, and which of them went to `path`.
fn requests_to(registry: &Emulator, path: &str) -> usize {
    registry
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with(path))
        .count()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn login_stores_an_identity_token_that_later_commands_and_helpers_use() {
    use std::os::unix::fs::PermissionsExt as _;
    let registry = Emulator::builder()
        .user(USER, PASSWORD)
        .aad_check(|token| token == "aad-access-token")
        .start()
        .await
        .unwrap();
    let authority = fake_azure_ad("the-client-secret", "aad-access-token").await;
    let repo = repository("login");
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{},\"layers\":[]}}",
        descriptor("application/vnd.oci.empty.v1+json", b"{}")
    );
    registry
        .put_manifest(&repo, "v1", OCI_MANIFEST, manifest.into_bytes())
        .unwrap();
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    let others = json!({
        "auths": { "other.example.com": { "auth": "b3RoZXI6cGFzcw==" } },
        "credHelpers": { "gcr.io": "gcloud" },
        "psFormat": "table {{.ID}}",
        "someFutureField": { "kept": [1, 2] },
    });
    std::fs::write(
        config.path().join("config.json"),
        serde_json::to_vec(&others).unwrap(),
    )
    .unwrap();

    Acr::new(registry.endpoint())
        .env("DOCKER_CONFIG", config_dir)
        .env("AZURE_AUTHORITY_HOST", &authority)
        .env("AZURE_TENANT_ID", "tenant")
        .env("AZURE_CLIENT_ID", "client")
        .env("AZURE_CLIENT_SECRET", "the-client-secret")
        .run(&["login"])
        .await
        .ok();
    let written = docker_config(config.path());
    let entry = &written["auths"][registry.host()];
    let token = entry["identitytoken"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3, "{entry}");
    let auth = base64::engine::general_purpose::STANDARD
        .decode(entry["auth"].as_str().unwrap())
        .unwrap();
    assert_eq!(auth, b"00000000-0000-0000-0000-000000000000:");
    for field in ["credHelpers", "psFormat", "someFutureField"] {
        assert_eq!(written[field], others[field], "{field}");
    }
    assert_eq!(
        written["auths"]["other.example.com"],
        others["auths"]["other.example.com"]
    );
    let mode = std::fs::metadata(config.path().join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Later commands need nothing but the stored token: no exchange with Azure AD again.
    let stored = Acr::new(registry.endpoint()).env("DOCKER_CONFIG", config_dir);
    let exchanges = requests_to(&registry, "/oauth2/exchange");
    let shown = stored
        .clone()
        .arg("--output")
        .arg("json")
        .run(&["tag", "show", &repo, "v1"])
        .await
        .ok()
        .json();
    assert_eq!(shown["name"], json!("v1"));
    assert_eq!(requests_to(&registry, "/oauth2/exchange"), exchanges);

    // What each of 20 separate processes costs.
    let mut costs = Vec::new();
    for _ in 0..20 {
        let before = registry.requests().len();
        stored.run(&["tag", "show", &repo, "v1"]).await.ok();
        costs.push(registry.requests().len() - before);
    }
    eprintln!("requests per `acr tag show` after login: {costs:?}");
    // The stored refresh token names the registry it was issued for, so each process
    // asks for its access token up front: the token, then the tag.
    assert!(costs.iter().all(|&c| c == 2), "{costs:?}");

    // A credential helper named for the registry supplies the same token.
    let helpers = tempfile::tempdir().unwrap();
    let helper_config = tempfile::tempdir().unwrap();
    let asked = helpers.path().join("asked");
    let answer = helpers.path().join("answer.json");
    let script = helpers.path().join("docker-credential-fake");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat >> '{}'\necho >> '{}'\ncat '{}'\n",
            asked.display(),
            asked.display(),
            answer.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        helpers.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let helped = Acr::new(registry.endpoint())
        .env("DOCKER_CONFIG", helper_config.path().to_str().unwrap())
        .env("PATH", &path);
    let write_config = |config: Value| {
        std::fs::write(
            helper_config.path().join("config.json"),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap()
    };
    write_config(json!({ "credHelpers": { registry.host(): "fake" } }));
    std::fs::write(
        &answer,
        json!({ "ServerURL": registry.host(), "Username": "<token>", "Secret": token }).to_string(),
    )
    .unwrap();
    helped.run(&["tag", "show", &repo, "v1"]).await.ok();
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap().trim(),
        registry.host()
    );
    // credsStore, with a username and password.
    write_config(json!({ "credsStore": "fake" }));
    std::fs::write(
        &answer,
        json!({ "ServerURL": registry.host(), "Username": USER, "Secret": PASSWORD }).to_string(),
    )
    .unwrap();
    helped.run(&["tag", "show", &repo, "v1"]).await.ok();
    // A wrong secret from the helper is refused: the helper's answer is what was used.
    std::fs::write(
        &answer,
        json!({ "ServerURL": registry.host(), "Username": USER, "Secret": "wrong" }).to_string(),
    )
    .unwrap();
    let refused = helped.run(&["tag", "show", &repo, "v1"]).await;
    assert_eq!(refused.code, 4, "{refused:?}");
    assert_eq!(std::fs::read_to_string(&asked).unwrap().lines().count(), 3);

    // Logout removes the entry and nothing else; the registry then refuses the process.
    stored.run(&["logout"]).await.ok();
    let after = docker_config(config.path());
    assert!(after["auths"].get(registry.host()).is_none(), "{after}");
    assert_eq!(
        after["auths"]["other.example.com"],
        others["auths"]["other.example.com"]
    );
    assert_eq!(after["someFutureField"], others["someFutureField"]);
    let refused = stored.run(&["tag", "show", &repo, "v1"]).await;
    assert_eq!(refused.code, 4, "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_a_password_stores_it_once_accepted() {
    let registry = emulator().await;
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    let wrong = Acr::new(registry.endpoint())
        .env("DOCKER_CONFIG", config_dir)
        .arg("--username")
        .arg(USER)
        .env("ACR_PASSWORD", "not-the-password")
        .run(&["login"])
        .await;
    assert_eq!(wrong.code, 4, "{wrong:?}");
    assert!(!wrong.stderr.contains("not-the-password"), "{wrong:?}");
    assert!(!config.path().join("config.json").exists());

    Acr::user(registry.endpoint())
        .env("DOCKER_CONFIG", config_dir)
        .run(&["login"])
        .await
        .ok();
    let entry = &docker_config(config.path())["auths"][registry.host()];
    let auth = base64::engine::general_purpose::STANDARD
        .decode(entry["auth"].as_str().unwrap())
        .unwrap();
    assert_eq!(auth, format!("{USER}:{PASSWORD}").as_bytes());
    Acr::new(registry.endpoint())
        .env("DOCKER_CONFIG", config_dir)
        .run(&["repo", "ls"])
        .await
        .ok();

    // Nothing to sign in with.
    let none = Acr::new(registry.endpoint())
        .env("DOCKER_CONFIG", config_dir)
        .run(&["login"])
        .await;
    assert_eq!(none.code, 2, "{none:?}");
}

/// How many blob downloads the emulator has answered.
fn blob_gets(registry: &Emulator) -> usize {
    registry
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path_and_query.contains("/blobs/sha256:"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_downloads_only_the_blobs_the_layout_lacks_or_holds_corrupted() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    let json = acr.clone().arg("--output").arg("json");
    let repo = repository("skip");
    let layout = Layout::image("v1", false);
    let reference = format!("{repo}:v1");
    acr.run(&["push", &reference, layout.path()]).await.ok();
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().to_str().unwrap();

    let first = json.run(&["pull", &reference, dir]).await.ok().json();
    assert_eq!(
        (first["blobs"].clone(), first["blobsSkipped"].clone()),
        (json!(3), json!(0))
    );

    let before = blob_gets(&registry);
    let again = json.run(&["pull", &reference, dir]).await.ok().json();
    assert_eq!(
        (again["blobs"].clone(), again["blobsSkipped"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(blob_gets(&registry), before);

    // One layer corrupted, one missing: both come again, the config does not.
    let blobs: Vec<&(String, Vec<u8>)> = layout
        .content
        .iter()
        .filter(|(_, bytes)| *bytes != layout.top)
        .collect();
    let (corrupted, _) = blobs[1];
    let (missing, _) = blobs[2];
    let mut bytes = std::fs::read(blob_file(target.path(), corrupted)).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(blob_file(target.path(), corrupted), bytes).unwrap();
    std::fs::remove_file(blob_file(target.path(), missing)).unwrap();
    let repaired = json.run(&["pull", &reference, dir]).await.ok().json();
    assert_eq!(
        (repaired["blobs"].clone(), repaired["blobsSkipped"].clone()),
        (json!(2), json!(1))
    );
    for (digest, bytes) in &layout.content {
        assert!(
            std::fs::read(blob_file(target.path(), digest)).unwrap() == *bytes,
            "{digest}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_platform_picks_one_image_of_an_index() {
    let registry = emulator().await;
    let acr = Acr::user(registry.endpoint());
    let repo = repository("platform");
    let mut images = Vec::new();
    for (i, (os, architecture, variant)) in
        [("linux", "amd64", None), ("linux", "arm64", Some("v8"))]
            .into_iter()
            .enumerate()
    {
        let config = serde_json::to_vec(
            &json!({ "os": os, "architecture": architecture, "variant": variant }),
        )
        .unwrap();
        let layer = content(2048, i as u8 + 10);
        registry.put_blob(&repo, config.clone()).unwrap();
        registry.put_blob(&repo, layer.clone()).unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
        }))
        .unwrap();
        let digest = registry
            .put_manifest(&repo, &sha256(&manifest), OCI_MANIFEST, manifest.clone())
            .unwrap();
        let mut child = descriptor(OCI_MANIFEST, &manifest);
        child["platform"] = json!({ "os": os, "architecture": architecture, "variant": variant });
        images.push((digest, child, vec![sha256(&config), sha256(&layer)]));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": images.iter().map(|(_, child, _)| child.clone()).collect::<Vec<_>>(),
    }))
    .unwrap();
    registry
        .put_manifest(&repo, "multi", OCI_INDEX, index)
        .unwrap();
    let reference = format!("{repo}:multi");

    let target = tempfile::tempdir().unwrap();
    let dir = target.path().to_str().unwrap();
    let pulled = acr
        .run(&["pull", &reference, dir, "--platform", "linux/arm64"])
        .await
        .ok();
    let (arm, _, arm_blobs) = &images[1];
    let (amd, _, amd_blobs) = &images[0];
    assert_eq!(pulled.stdout().trim(), arm);
    let layout_index: Value =
        serde_json::from_slice(&std::fs::read(target.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(layout_index["manifests"][0]["digest"], json!(arm));
    assert_eq!(
        layout_index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        json!("multi")
    );
    for digest in arm_blobs.iter().chain([arm]) {
        assert!(blob_file(target.path(), digest).exists(), "{digest}");
    }
    for digest in amd_blobs.iter().chain([amd]) {
        assert!(!blob_file(target.path(), digest).exists(), "{digest}");
    }

    let elsewhere = tempfile::tempdir().unwrap();
    let missing = acr
        .run(&[
            "pull",
            &reference,
            elsewhere.path().to_str().unwrap(),
            "--platform",
            "windows/amd64",
        ])
        .await;
    assert_eq!(missing.code, 3, "{missing:?}");
    assert!(missing.stderr.contains("linux/arm64/v8"), "{missing:?}");
    let bad = acr
        .run(&[
            "pull",
            &reference,
            elsewhere.path().to_str().unwrap(),
            "--platform",
            "linux",
        ])
        .await;
    assert_eq!(bad.code, 2, "{bad:?}");
}
