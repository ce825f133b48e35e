//! Registries that `.ci/run` starts for the end-to-end tests, shared by the library's and
//! the command-line tool's test suites.

/// The URL in `variable`, which `.ci/run` sets for a registry it started. Outside CI an
/// unset variable skips the tests that need that registry, saying so; under CI (`CI` set)
/// it fails them, since a registry missing there is a broken run, not a reason to skip.
pub(crate) fn registry_from_env(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(endpoint) => Some(endpoint),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("{variable} is not set: .ci/run starts that registry and sets it")
        }
        Err(_) => {
            eprintln!("{variable} not set: skipping that registry (CI runs it)");
            None
        }
    }
}
