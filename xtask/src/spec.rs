//! The pinned upstream spec and the files generated from it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Paths of the workspace the xtask works on.
pub(crate) struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// The workspace this xtask was built in.
    pub(crate) fn locate() -> Self {
        let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
        Self {
            root: xtask
                .parent()
                .expect("xtask lives inside the workspace")
                .to_owned(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The upstream Swagger 2.0 document, byte for byte as published.
    pub(crate) fn upstream(&self) -> PathBuf {
        self.root.join("spec/containerregistry.json")
    }

    /// The record of where the upstream document came from and what it hashes to.
    pub(crate) fn pin(&self) -> PathBuf {
        self.root.join("spec/upstream.json")
    }

    /// The patched OpenAPI 3.0.3 document that progenitor reads.
    pub(crate) fn patched(&self) -> PathBuf {
        self.root.join("spec/containerregistry.openapi.json")
    }

    /// The generated client.
    pub(crate) fn generated_client(&self) -> PathBuf {
        self.root.join("crates/acr-rest/src/generated.rs")
    }

    /// The generated typed httpmock helpers.
    pub(crate) fn generated_mocks(&self) -> PathBuf {
        self.root.join("crates/acr-rest-httpmock/src/generated.rs")
    }

    pub(crate) fn lockfile(&self) -> PathBuf {
        self.root.join("Cargo.lock")
    }
}

/// The pin: upstream origin and the sha256 the checked-in file must have.
pub(crate) struct Pin {
    fields: Map<String, Value>,
}

impl Pin {
    pub(crate) fn read(ws: &Workspace) -> Result<Self, String> {
        let path = ws.pin();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the pin {}: {e}", path.display()))?;
        let fields = serde_json::from_str::<Map<String, Value>>(&text)
            .map_err(|e| format!("the pin {} is not a JSON object: {e}", path.display()))?;
        for key in ["repository", "path", "commit", "licence", "sha256"] {
            if !fields.get(key).is_some_and(Value::is_string) {
                return Err(format!("the pin {} has no `{key}`", path.display()));
            }
        }
        Ok(Self { fields })
    }

    pub(crate) fn sha256(&self) -> &str {
        self.fields["sha256"].as_str().unwrap_or_default()
    }

    pub(crate) fn write(&self, ws: &Workspace) -> Result<(), String> {
        let text = serde_json::to_string_pretty(&self.fields).map_err(|e| e.to_string())? + "\n";
        std::fs::write(ws.pin(), text).map_err(|e| format!("cannot write the pin: {e}"))
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the upstream document after checking it against its pin.
#[cfg(test)]
pub(crate) fn read_upstream(ws: &Workspace) -> Result<Value, String> {
    let bytes = read_pinned(ws)?;
    serde_json::from_slice(&bytes).map_err(|e| format!("the upstream spec is not JSON: {e}"))
}

/// The upstream document's bytes, refused when they do not hash to the pin.
pub(crate) fn read_pinned(ws: &Workspace) -> Result<Vec<u8>, String> {
    let pin = Pin::read(ws)?;
    let path = ws.upstream();
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let actual = sha256_hex(&bytes);
    if actual != pin.sha256() {
        return Err(format!(
            "{} does not match its pin in {}: the pin says sha256 {}, the file hashes to {}.\n\
             The upstream file is never edited; spec fixes belong in xtask/src/patch.rs.\n\
             If this is a new upstream version, record it with \
             `cargo xtask pin --commit <upstream commit>`, then run `cargo xtask regen`.",
            rel(ws, &path),
            rel(ws, &ws.pin()),
            pin.sha256(),
            actual,
        ));
    }
    Ok(bytes)
}

/// Records the current upstream file in the pin: its sha256, its API version and, when
/// given, the upstream commit it was taken from.
pub(crate) fn record_pin(ws: &Workspace, commit: Option<&str>) -> Result<String, String> {
    let mut pin = Pin::read(ws)?;
    let bytes = std::fs::read(ws.upstream()).map_err(|e| format!("cannot read the spec: {e}"))?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the spec is not JSON: {e}"))?;
    let version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .ok_or("no info.version")?;
    let sha = sha256_hex(&bytes);
    pin.fields.insert("api_version".into(), json!(version));
    pin.fields.insert("sha256".into(), json!(sha));
    if let Some(commit) = commit {
        pin.fields.insert("commit".into(), json!(commit));
    }
    pin.write(ws)?;
    Ok(format!(
        "pinned {} (API version {version}, sha256 {sha})",
        rel(ws, &ws.upstream())
    ))
}

pub(crate) fn rel(ws: &Workspace, path: &Path) -> String {
    path.strip_prefix(ws.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch copy of the spec directory, so a test can tamper with it.
    fn scratch() -> Workspace {
        let dir = std::env::temp_dir().join(format!("xtask-pin-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("spec")).unwrap();
        let real = Workspace::locate();
        std::fs::copy(real.upstream(), dir.join("spec/containerregistry.json")).unwrap();
        std::fs::copy(real.pin(), dir.join("spec/upstream.json")).unwrap();
        Workspace { root: dir }
    }

    #[test]
    fn the_checked_in_spec_matches_its_pin() {
        read_pinned(&Workspace::locate()).unwrap();
    }

    #[test]
    fn a_tampered_spec_is_refused_with_a_message_naming_the_pin() {
        let ws = scratch();
        // One space more: still valid JSON with the same meaning, but not the pinned bytes.
        let text = std::fs::read_to_string(ws.upstream()).unwrap();
        let text = text.replacen("\"description\": ", "\"description\":  ", 1);
        std::fs::write(ws.upstream(), text).unwrap();

        let err = read_pinned(&ws).unwrap_err();
        assert!(err.contains("spec/upstream.json"), "{err}");
        assert!(err.contains("does not match its pin"), "{err}");

        // Recording the new file makes it acceptable again, and names the new commit.
        record_pin(&ws, Some("0123abcd")).unwrap();
        read_pinned(&ws).unwrap();
        let pin = Pin::read(&ws).unwrap();
        assert_eq!(pin.fields["commit"], "0123abcd");
        std::fs::remove_dir_all(ws.root()).unwrap();
    }
}
