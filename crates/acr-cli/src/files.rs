//! Files that appear whole or not at all.
//!
//! Every file the tool writes goes into a temporary file beside its target, is synced, and
//! is then renamed over the target, so that a reader (or a run that is interrupted) sees
//! the old content or the new, never a mix or a truncated file. The temporary files of
//! this process are known, so that SIGINT and SIGTERM can remove them before exiting; a
//! SIGKILL leaves them behind, and a later run writing the same target removes those
//! whose process is gone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::error::{CliError, CliResult};

/// The suffix that marks a temporary file as this tool's.
const SUFFIX: &str = ".acr-tmp";

/// Past this age, the leftover of a process that cannot be checked is taken as stale.
const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The temporary files of this process that are still open.
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn pending() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every temporary file still open; for a signal handler about to exit, when no
/// destructor will run.
pub(crate) fn remove_pending() {
    for path in std::mem::take(&mut *pending()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Whoever the umask allows, as for any new file.
    Shared,
    /// Only the owner (mode 0600): files that hold credentials.
    Private,
}

/// A file being written into a temporary file beside `target`; [`AtomicFile::commit`]
/// puts it in place, and dropping it without a commit removes it.
#[derive(Debug)]
pub(crate) struct AtomicFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    _registered: Registered,
}

/// A temporary file's place in [`PENDING`], given up when dropped (after the file itself
/// is removed, fields dropping in order).
#[derive(Debug)]
struct Registered(PathBuf);

impl Registered {
    fn new(path: &Path) -> Self {
        pending().insert(path.to_path_buf());
        Self(path.to_path_buf())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        pending().remove(&self.0);
    }
}

impl AtomicFile {
    /// A new, empty temporary file for `target`, whose directory must exist. Stale
    /// temporary files of `target` from runs that were killed are removed first.
    pub(crate) fn create(target: &Path, access: Access) -> CliResult<Self> {
        let name = target
            .file_name()
            .ok_or_else(|| CliError::Usage(format!("{} names no file", target.display())))?
            .to_string_lossy()
            .into_owned();
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let prefix = format!(".{name}.");
        remove_stale(&directory, &prefix);
        let own_prefix = format!("{prefix}{}.", std::process::id());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&own_prefix).suffix(SUFFIX).rand_bytes(8);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Applied at creation, under the umask; 0600 whatever the umask.
            let mode = match access {
                Access::Shared => 0o666,
                Access::Private => 0o600,
            };
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = access;
        let temp = builder
            .tempfile_in(&directory)
            .map_err(|e| CliError::io("creating a file in", &directory, e))?;
        Ok(Self {
            _registered: Registered::new(temp.path()),
            temp,
            target: target.to_path_buf(),
        })
    }

    /// The temporary file, for writing.
    pub(crate) fn file(&self) -> &std::fs::File {
        self.temp.as_file()
    }

    /// An async handle on the temporary file, for writing streamed content.
    pub(crate) fn tokio_file(&self) -> CliResult<tokio::fs::File> {
        let file = self
            .file()
            .try_clone()
            .map_err(|e| CliError::io("opening", self.temp.path(), e))?;
        Ok(tokio::fs::File::from_std(file))
    }

    /// Syncs the content and renames it over the target.
    pub(crate) fn commit(self) -> CliResult<()> {
        let Self {
            temp,
            target,
            _registered,
        } = self;
        temp.as_file()
            .sync_all()
            .map_err(|e| CliError::io("writing", &target, e))?;
        temp.persist(&target)
            .map_err(|e| CliError::io("writing", &target, e.error))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write(path: &Path, bytes: &[u8], access: Access) -> CliResult<()> {
    use std::io::Write as _;
    let file = AtomicFile::create(path, access)?;
    file.file()
        .write_all(bytes)
        .map_err(|e| CliError::io("writing", path, e))?;
    file.commit()
}

/// Removes the temporary files named `<prefix><pid>.<random>.acr-tmp` in `directory` whose
/// process is gone (where that can be told) or that are older than a day.
fn remove_stale(directory: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.split_once('.'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if is_stale(pid, &entry) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn is_stale(pid: u32, entry: &std::fs::DirEntry) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return !proc.join(pid.to_string()).exists();
    }
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .is_some_and(|age| age > STALE_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_the_target_and_a_drop_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("file.json");
        std::fs::write(&target, b"old").unwrap();
        let abandoned = AtomicFile::create(&target, Access::Shared).unwrap();
        std::io::Write::write_all(&mut abandoned.file(), b"half").unwrap();
        drop(abandoned);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        write(&target, b"new", Access::Shared).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["file.json"]);
        // Other tests write in parallel: only this directory's entries must be gone.
        assert!(!pending().iter().any(|p| p.starts_with(dir.path())));
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("blob");
        // No process has a pid this high on Linux (the limit is 2^22).
        let dead = dir
            .path()
            .join(format!(".blob.{}.abcdefgh{SUFFIX}", u32::MAX - 1));
        let mine = dir
            .path()
            .join(format!(".blob.{}.abcdefgh{SUFFIX}", std::process::id()));
        let foreign = dir.path().join(".blob.123.partial");
        for path in [&dead, &mine, &foreign] {
            std::fs::write(path, b"x").unwrap();
        }
        write(&target, b"content", Access::Shared).unwrap();
        assert_eq!(dead.exists(), !Path::new("/proc/self").exists());
        assert!(mine.exists());
        assert!(foreign.exists());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("config.json");
        write(&target, b"{}", Access::Private).unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
