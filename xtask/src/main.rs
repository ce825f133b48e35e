//! Maintenance tasks for the workspace.
//!
//! - `cargo xtask regen`: regenerate `acr-rest` (and its httpmock helpers) from the pinned
//!   upstream spec: convert Swagger 2.0 to OpenAPI 3.0.3, apply the patch step, run
//!   progenitor, format with prettyplease.
//! - `cargo xtask regen --check`: the same in memory; fails with a diff when a checked-in
//!   generated file is stale.
//! - `cargo xtask pin [--commit SHA]`: record a new upstream spec file in `spec/upstream.json`.

mod convert;
mod files;
mod generate;
mod operations;
mod patch;
mod spec;

use std::process::ExitCode;

use files::Mode;
use spec::Workspace;

const USAGE: &str = "usage:
  cargo xtask regen [--check]     regenerate acr-rest from spec/ (or check it is current)
  cargo xtask pin [--commit SHA]  record the current spec/containerregistry.json in its pin";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ws = Workspace::locate();
    let result = match args.as_slice() {
        ["regen"] => regen(&ws, Mode::Write),
        ["regen", "--check"] => regen(&ws, Mode::Check),
        ["pin"] => spec::record_pin(&ws, None),
        ["pin", "--commit", commit] => spec::record_pin(&ws, Some(commit)),
        ["help" | "--help" | "-h"] => Ok(USAGE.to_owned()),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Regenerates every generated file, or checks that the checked-in ones are current.
fn regen(ws: &Workspace, mode: Mode) -> Result<String, String> {
    let outputs = generate::generate(ws)?;
    let report = files::sync(ws, &outputs, mode)?;
    Ok(format!("{report}\n{}", operations::summary()))
}

#[cfg(test)]
mod tests {
    /// `cargo test` fails when generated code is stale, not only CI's `regen --check`.
    #[test]
    fn generated_code_is_fresh() {
        if let Err(e) = super::regen(&super::Workspace::locate(), super::Mode::Check) {
            panic!("{e}");
        }
    }
}
