//! The docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), which
//! docker, skopeo, oras and this tool share: credentials read from its `auths`, its
//! credential helpers (`credHelpers`, `credsStore`), and the entries `acr login` writes.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use acr::Credential;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::{CliError, CliResult};
use crate::files::{self, Access};

/// The user name that marks an `identitytoken` entry, as `az acr login` writes it.
pub(crate) const TOKEN_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// What a credential helper names an identity token by, in place of a user name.
const HELPER_TOKEN_USERNAME: &str = "<token>";

/// Where the docker config is, if there is a home to put it in.
pub(crate) fn path() -> Option<PathBuf> {
    match env("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => env("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json")),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The config as JSON, or `None` when there is no file.
fn load(path: &PathBuf) -> CliResult<Option<Value>> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io("reading", path, e)),
    };
    // The file's content never goes into a message: it is full of secrets.
    let config: Value = serde_json::from_slice(&text)
        .map_err(|_| CliError::Other(format!("{} is not valid JSON", path.display())))?;
    if !config.is_object() {
        return Err(CliError::Other(format!(
            "{} is not a JSON object",
            path.display()
        )));
    }
    Ok(Some(config))
}

/// Whether a key of `auths` or `credHelpers` names `host`: keys come as `host`,
/// `https://host` or `https://host/v2/`.
fn names_host(key: &str, host: &str) -> bool {
    let key = key.split_once("://").map_or(key, |(_, rest)| rest);
    key.split('/')
        .next()
        .unwrap_or_default()
        .eq_ignore_ascii_case(host)
}

/// The credential the docker config holds for `host`: from the credential helper
/// `credHelpers` names for it, else from `credsStore`, else from its `auths` entry
/// (`identitytoken` as an ACR refresh token, else `auth` or `username`/`password`).
pub(crate) fn credential(host: &str) -> CliResult<Option<Credential>> {
    let Some(path) = path() else {
        return Ok(None);
    };
    let Some(config) = load(&path)? else {
        return Ok(None);
    };
    let helper = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| helpers.iter().find(|(key, _)| names_host(key, host)))
        .and_then(|(_, name)| name.as_str());
    if let Some(helper) = helper {
        return from_helper(helper, host);
    }
    // A store without an entry for the host leaves the file's own entry to be used.
    if let Some(store) = config.get("credsStore").and_then(Value::as_str)
        && let Some(credential) = from_helper(store, host)?
    {
        return Ok(Some(credential));
    }
    from_auths(&config, host, &path)
}

fn from_auths(config: &Value, host: &str, path: &std::path::Path) -> CliResult<Option<Credential>> {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some(entry) = auths
        .iter()
        .find_map(|(key, entry)| names_host(key, host).then_some(entry))
    else {
        return Ok(None);
    };
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credential::refresh_token(token)));
    }
    if let Some(auth) = field("auth") {
        let invalid = || {
            CliError::Other(format!(
                "the auth of {host} in {} is not base64 of user:password",
                path.display()
            ))
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
        return Ok(Some(Credential::basic(username, password)));
    }
    if let (Some(username), Some(password)) = (field("username"), field("password")) {
        return Ok(Some(Credential::basic(username, password)));
    }
    Ok(None)
}

#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Asks `docker-credential-<helper> get` for `host`'s credential, as docker does: the
/// server on stdin, `{"Username", "Secret"}` on stdout; a failure that says the
/// credentials are not found means there are none.
fn from_helper(helper: &str, host: &str) -> CliResult<Option<Credential>> {
    if helper.is_empty() || helper.contains(['/', '\\']) {
        return Err(CliError::Other(format!(
            "{helper:?} is not a credential helper name"
        )));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::Other(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe; its exit status tells.
        let _ = stdin.write_all(host.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| CliError::Other(format!("cannot run {program}: {e}")))?;
    if !output.status.success() {
        // Helpers print their reason on stdout (docker's protocol) or stderr; it carries
        // no secret, unlike a successful answer.
        let reason = [&output.stdout, &output.stderr]
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_owned())
            .find(|r| !r.is_empty())
            .unwrap_or_default();
        if reason
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        let reason = reason.lines().next().unwrap_or_default();
        return Err(CliError::Other(format!(
            "{program} failed ({}): {reason}",
            output.status
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|_| {
        CliError::Other(format!(
            "{program} answered something other than {{\"Username\", \"Secret\"}}"
        ))
    })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if answer.username == HELPER_TOKEN_USERNAME {
        Credential::refresh_token(answer.secret)
    } else {
        Credential::basic(answer.username, answer.secret)
    }))
}

/// What `acr login` stores for a registry.
pub(crate) enum Stored {
    /// An ACR refresh token, as `identitytoken` with the all-zero user name.
    IdentityToken(acr::Secret),
    /// A username and password, as `auth`.
    Password { username: String, password: String },
}

/// Puts `stored` in `host`'s `auths` entry (replacing the entry, under the key it
/// already has, or `host`), keeping every other entry and field; written atomically,
/// readable by the owner only. Returns the file's path.
pub(crate) fn store(host: &str, stored: Stored) -> CliResult<PathBuf> {
    let path = path()
        .ok_or_else(|| CliError::Other("no docker config: set DOCKER_CONFIG or HOME".to_owned()))?;
    let mut config = load(&path)?.unwrap_or_else(|| json!({}));
    let base64 = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    let entry = match stored {
        Stored::IdentityToken(token) => json!({
            "auth": base64(format!("{TOKEN_USERNAME}:")),
            "identitytoken": token.expose(),
        }),
        Stored::Password { username, password } => json!({
            "auth": base64(format!("{username}:{password}")),
        }),
    };
    let auths = auths_of(&mut config, &path)?;
    let key = auths
        .keys()
        .find(|key| names_host(key, host))
        .cloned()
        .unwrap_or_else(|| host.to_owned());
    auths.retain(|k, _| !names_host(k, host));
    auths.insert(key, entry);
    save(&path, &config)?;
    Ok(path)
}

/// Removes every `auths` entry of `host`; says whether there was one.
pub(crate) fn remove(host: &str) -> CliResult<bool> {
    let Some(path) = path() else {
        return Ok(false);
    };
    let Some(mut config) = load(&path)? else {
        return Ok(false);
    };
    let auths = auths_of(&mut config, &path)?;
    let before = auths.len();
    auths.retain(|k, _| !names_host(k, host));
    if auths.len() == before {
        return Ok(false);
    }
    save(&path, &config)?;
    Ok(true)
}

fn auths_of<'a>(
    config: &'a mut Value,
    path: &std::path::Path,
) -> CliResult<&'a mut Map<String, Value>> {
    let object = config.as_object_mut().expect("checked by load");
    object
        .entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| CliError::Other(format!("the auths of {} is not an object", path.display())))
}

fn save(path: &std::path::Path, config: &Value) -> CliResult<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CliError::io("creating", parent, e))?;
    }
    let mut bytes = serde_json::to_vec_pretty(config)
        .map_err(|e| CliError::Other(format!("cannot render {}: {e}", path.display())))?;
    bytes.push(b'\n');
    files::write(path, &bytes, Access::Private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_host_in_every_form_docker_writes() {
        for key in [
            "r.azurecr.io",
            "https://r.azurecr.io",
            "https://R.azurecr.io/v2/",
        ] {
            assert!(names_host(key, "r.azurecr.io"), "{key}");
        }
        assert!(!names_host("r.azurecr.io.evil", "r.azurecr.io"));
        assert!(!names_host("127.0.0.1:5000", "127.0.0.1"));
    }
}
