//! Printing results (text or JSON on stdout) and progress (bars on stderr).

use std::io::{IsTerminal as _, Write as _};

use futures_util::TryStreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::cli::OutputFormat;
use crate::error::{CliError, CliResult};

/// Where results go, in the format asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) format: OutputFormat,
}

impl Output {
    pub(crate) fn json(self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints `text` (a line per item) or `value`, whichever the format asks for.
    pub(crate) fn print(
        self,
        text: impl FnOnce() -> String,
        value: impl FnOnce() -> Value,
    ) -> CliResult<()> {
        let rendered = match self.format {
            OutputFormat::Text => text(),
            OutputFormat::Json => serde_json::to_string_pretty(&value())
                .map_err(|e| CliError::Other(format!("cannot render JSON: {e}")))?,
        };
        if rendered.is_empty() {
            return Ok(());
        }
        write_stdout(format!("{rendered}\n").as_bytes())
    }
}

/// Writes to stdout; a closed pipe (`acr repo ls | head`) is not worth a message.
pub(crate) fn write_stdout(bytes: &[u8]) -> CliResult<()> {
    write_stdout_open(bytes).map(|_| ())
}

/// Writes to stdout, and says whether stdout is still open.
fn write_stdout_open(bytes: &[u8]) -> CliResult<bool> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::Other(format!("writing to stdout: {e}"))),
    }
}

/// Prints a listing page by page as the pages arrive, so that memory stays flat however
/// long it is: a line per item, or one JSON array written an element at a time (the
/// same document `print` would render for the whole list). Stops early, quietly, when
/// stdout is closed.
pub(crate) async fn listing<T: Send + 'static>(
    out: Output,
    pager: acr::Pager<T>,
    text: impl Fn(&T) -> String,
    value: impl Fn(&T) -> Value,
) -> CliResult<()> {
    let mut pages = pager.into_pages();
    let mut first = true;
    while let Some(page) = pages.try_next().await? {
        let mut chunk = String::new();
        for item in page.items() {
            match out.format {
                OutputFormat::Text => {
                    chunk.push_str(&text(item));
                    chunk.push('\n');
                }
                OutputFormat::Json => {
                    chunk.push_str(if first { "[\n" } else { ",\n" });
                    let element = serde_json::to_string_pretty(&value(item))
                        .map_err(|e| CliError::Other(format!("cannot render JSON: {e}")))?;
                    // Indented as an element of a pretty-printed array.
                    for (i, line) in element.lines().enumerate() {
                        if i > 0 {
                            chunk.push('\n');
                        }
                        chunk.push_str("  ");
                        chunk.push_str(line);
                    }
                }
            }
            first = false;
        }
        if !write_stdout_open(chunk.as_bytes())? {
            return Ok(());
        }
    }
    if out.json() {
        write_stdout(if first { b"[]\n" } else { b"\n]\n" })?;
    }
    Ok(())
}

pub(crate) fn opt_bool(value: Option<bool>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub(crate) fn repository_json(r: &acr::RepositoryProperties) -> Value {
    json!({
        "registry": r.registry,
        "name": r.name,
        "createdOn": time(&r.created_on),
        "lastUpdatedOn": time(&r.last_updated_on),
        "manifestCount": r.manifest_count,
        "tagCount": r.tag_count,
        "canDelete": r.can_delete,
        "canWrite": r.can_write,
        "canRead": r.can_read,
        "canList": r.can_list,
    })
}

pub(crate) fn repository_text(r: &acr::RepositoryProperties) -> String {
    [
        ("registry", r.registry.clone()),
        ("name", r.name.clone()),
        ("created", time(&r.created_on)),
        ("last updated", time(&r.last_updated_on)),
        ("manifests", r.manifest_count.to_string()),
        ("tags", r.tag_count.to_string()),
        ("can delete", opt_bool(r.can_delete)),
        ("can write", opt_bool(r.can_write)),
        ("can read", opt_bool(r.can_read)),
        ("can list", opt_bool(r.can_list)),
    ]
    .map(|(k, v)| format!("{k}:\t{v}"))
    .join("\n")
}

pub(crate) fn tag_json(t: &acr::ArtifactTagProperties) -> Value {
    json!({
        "repository": t.repository_name,
        "name": t.name,
        "digest": t.digest,
        "createdOn": time(&t.created_on),
        "lastUpdatedOn": time(&t.last_updated_on),
        "canDelete": t.can_delete,
        "canWrite": t.can_write,
        "canRead": t.can_read,
        "canList": t.can_list,
    })
}

pub(crate) fn tag_text(t: &acr::ArtifactTagProperties) -> String {
    [
        ("repository", t.repository_name.clone()),
        ("tag", t.name.clone()),
        ("digest", t.digest.to_string()),
        ("created", time(&t.created_on)),
        ("last updated", time(&t.last_updated_on)),
        ("can delete", opt_bool(t.can_delete)),
        ("can write", opt_bool(t.can_write)),
        ("can read", opt_bool(t.can_read)),
        ("can list", opt_bool(t.can_list)),
    ]
    .map(|(k, v)| format!("{k}:\t{v}"))
    .join("\n")
}

pub(crate) fn manifest_json(m: &acr::ArtifactManifestProperties) -> Value {
    json!({
        "registry": m.registry,
        "repository": m.repository_name,
        "digest": m.digest,
        "mediaType": m.media_type,
        "configMediaType": m.config_media_type,
        "size": m.size_in_bytes,
        "createdOn": time(&m.created_on),
        "lastUpdatedOn": time(&m.last_updated_on),
        "architecture": m.architecture.as_ref().map(|a| a.as_str()),
        "os": m.operating_system.as_ref().map(|o| o.as_str()),
        "tags": m.tags,
        "canDelete": m.can_delete,
        "canWrite": m.can_write,
        "canRead": m.can_read,
        "canList": m.can_list,
    })
}

pub(crate) fn manifest_text(m: &acr::ArtifactManifestProperties) -> String {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    [
        ("reference", m.fully_qualified_reference()),
        ("media type", or_dash(m.media_type.as_deref())),
        ("config media type", or_dash(m.config_media_type.as_deref())),
        (
            "size",
            m.size_in_bytes.map_or("-".into(), |s| s.to_string()),
        ),
        ("created", time(&m.created_on)),
        ("last updated", time(&m.last_updated_on)),
        (
            "architecture",
            or_dash(m.architecture.as_ref().map(|a| a.as_str())),
        ),
        (
            "os",
            or_dash(m.operating_system.as_ref().map(|o| o.as_str())),
        ),
        ("tags", m.tags.join(", ")),
        ("can delete", opt_bool(m.can_delete)),
        ("can write", opt_bool(m.can_write)),
        ("can read", opt_bool(m.can_read)),
        ("can list", opt_bool(m.can_list)),
    ]
    .map(|(k, v)| format!("{k}:\t{v}"))
    .join("\n")
}

pub(crate) fn descriptor_json(d: &acr::Descriptor) -> Value {
    json!({
        "mediaType": d.media_type,
        "digest": d.digest.as_str(),
        "size": d.size,
        "artifactType": d.artifact_type,
        "annotations": d.annotations,
    })
}

/// A byte-count bar for one blob transfer on stderr, drawn only when stderr is a
/// terminal so that logs and pipes stay clean.
pub(crate) fn transfer_bar(label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}

/// A callback for the client's `progress`, feeding `bar`.
pub(crate) fn feed(bar: &ProgressBar) -> impl Fn(u64, Option<u64>) + Send + Sync + 'static {
    let bar = bar.clone();
    move |done, total| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    }
}

/// A short form of a digest for progress labels.
pub(crate) fn short(digest: &acr::Digest) -> String {
    let encoded = digest.encoded();
    format!(
        "{}:{}",
        digest.algorithm(),
        &encoded[..encoded.len().min(12)]
    )
}

/// A timestamp in RFC 3339, as serde renders it (chrono's formatting needs a feature the
/// workspace leaves off).
pub(crate) fn time(at: &impl serde::Serialize) -> String {
    match serde_json::to_value(at) {
        Ok(Value::String(text)) => text,
        _ => "-".to_owned(),
    }
}
