//! Writing generated files, or checking that the checked-in ones are current.

use crate::generate::Output;
use crate::spec::{self, Workspace};

/// Whether `regen` writes the files or only compares them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Write,
    Check,
}

/// Lines of diff shown per stale file; the rest is counted, not printed.
const DIFF_LINES: usize = 120;

/// Writes each output whose contents changed, or in check mode reports every stale one with
/// a unified diff. Line endings are compared as LF, whatever the checkout did to them.
pub(crate) fn sync(ws: &Workspace, outputs: &[Output], mode: Mode) -> Result<String, String> {
    let mut report = Vec::new();
    let mut stale = Vec::new();
    for out in outputs {
        let name = spec::rel(ws, &out.path);
        let current = std::fs::read_to_string(&out.path)
            .unwrap_or_default()
            .replace("\r\n", "\n");
        if current == out.contents {
            report.push(format!("{name} is up to date"));
            continue;
        }
        match mode {
            Mode::Write => {
                std::fs::write(&out.path, &out.contents)
                    .map_err(|e| format!("cannot write {name}: {e}"))?;
                report.push(format!("updated {name}"));
            }
            Mode::Check => stale.push(diff(&name, &current, &out.contents)),
        }
    }
    if stale.is_empty() {
        Ok(report.join("\n"))
    } else {
        Err(format!(
            "{}\n\ngenerated code is stale: run `cargo xtask regen` and commit the result",
            stale.join("\n")
        ))
    }
}

fn diff(name: &str, old: &str, new: &str) -> String {
    let text = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{name} (checked in)"),
            &format!("{name} (regenerated)"),
        )
        .to_string();
    let total = text.lines().count();
    let mut shown: Vec<&str> = text.lines().take(DIFF_LINES).collect();
    let more = format!("… {} more diff lines", total.saturating_sub(DIFF_LINES));
    if total > DIFF_LINES {
        shown.push(&more);
    }
    format!(
        "{name} differs from what the spec and patches generate:\n{}",
        shown.join("\n")
    )
}
