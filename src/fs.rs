//! Owner-only directories and atomic file writes: the only way this crate writes state.

use std::io::{self, Write};
use std::path::Path;

/// Creates `dir` (and missing parents) readable only by the current user, or checks that an
/// existing one is. On Unix the directory is created with mode 0700 rather than chmod-ed after,
/// so it is never briefly open to others. An existing directory owned by someone else is refused;
/// one of ours with a looser mode is tightened.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    // Before anything is made there, and after: see [`replaceable`].
    let refuse = |reason: String| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} could be replaced by another user: {reason}", dir.display()),
        )
    };
    if let Some(reason) = replaceable(dir) {
        return Err(refuse(reason));
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    check_private_dir(dir)?;
    match replaceable(dir) {
        Some(reason) => Err(refuse(reason)),
        None => Ok(()),
    }
}

/// Why another user could put a directory of theirs where `dir` is, or `None` when none can:
/// a directory on the way to it (as written, and with links resolved) or a link on the way
/// belongs to another user (root aside), or a directory on the way is writable by all without
/// the sticky bit (which keeps others from renaming what is not theirs, as in `/tmp`). Checking
/// `dir` itself once is then enough: nobody can swap it, or what leads to it, between that
/// check and a later use of the path. (A directory writable by its group is not refused: many
/// homes are, for a group of the user's own.)
#[cfg(unix)]
fn replaceable(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let ours = rustix::process::geteuid().as_raw();
    let unsafe_at = |path: &Path, meta: &std::fs::Metadata| {
        if meta.uid() != 0 && meta.uid() != ours {
            return Some(format!("{} belongs to user {}", path.display(), meta.uid()));
        }
        let open_to_all = meta.mode() & 0o002 != 0 && meta.mode() & 0o1000 == 0;
        (meta.is_dir() && open_to_all).then(|| {
            format!("{} is writable by all users and not sticky (mode {:o})", path.display(), meta.mode() & 0o7777)
        })
    };
    // Without a current directory, a relative path leads nowhere: creating it fails anyway.
    let absolute = std::path::absolute(dir).ok()?;
    // What does not exist yet is made by this user, owner-only.
    let as_written =
        absolute.ancestors().skip(1).filter_map(|a| Some((a.to_owned(), std::fs::symlink_metadata(a).ok()?)));
    let resolved = absolute.parent().and_then(|parent| std::fs::canonicalize(parent).ok());
    let resolved =
        resolved.iter().flat_map(|r| r.ancestors()).filter_map(|a| Some((a.to_owned(), std::fs::metadata(a).ok()?)));
    as_written.chain(resolved).find_map(|(path, meta)| unsafe_at(&path, &meta))
}

#[cfg(not(unix))]
fn replaceable(_dir: &Path) -> Option<String> {
    // The per-user profile directories used on Windows are private.
    None
}

#[cfg(unix)]
fn check_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory", dir.display())));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} belongs to another user", dir.display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_dir(dir: &Path) -> io::Result<()> {
    // On Windows the per-user profile directories this crate uses are already private.
    if std::fs::metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{} is not a directory", dir.display())))
    }
}

/// Whether `dir` may hold the daemon's socket and locks: a directory of this user's that no
/// other user can write to (they could have put a socket or a link of their own in it), nor
/// replace (see [`replaceable`]). A directory that does not exist yet (or cannot be reached)
/// passes when it could not be replaced: [`ensure_runtime_dir`] makes it, or fails to. The error is one line naming the directory and what is wrong. As
/// tmux does with `/tmp/tmux-UID`, and git's credential-cache with its socket directory, such a
/// directory is refused, never repaired: it may be someone else's doing.
pub fn check_runtime_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Not there, or out of reach (a parent that is a file, or not ours to enter): nothing
        // can be reached in it either, and it cannot be made; that is a plain failure to
        // start the daemon, not someone else's doing. Unless another user could make it first.
        let replaceable = || match replaceable(dir) {
            Some(reason) => Err(format!("{} could be replaced by another user: {reason}", dir.display())),
            None => Ok(()),
        };
        let Ok(meta) = std::fs::symlink_metadata(dir) else { return replaceable() };
        let ours = rustix::process::geteuid().as_raw();
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        if meta.uid() != ours {
            return Err(format!("{} belongs to user {}, not to user {ours}", dir.display(), meta.uid()));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!("{} is writable by other users (mode {:o})", dir.display(), meta.mode() & 0o777));
        }
        replaceable()
    }
    #[cfg(not(unix))]
    {
        // The per-user profile directories used on Windows are private.
        let _ = dir;
        Ok(())
    }
}

/// Creates the daemon's runtime directory `dir` owner-only, or checks an existing one with
/// [`check_runtime_dir`] (and takes away what others may read of one of ours).
pub fn ensure_runtime_dir(dir: &Path) -> io::Result<()> {
    check_runtime_dir(dir).map_err(|reason| io::Error::new(io::ErrorKind::PermissionDenied, reason))?;
    ensure_private_dir(dir)?;
    // Checked again: another user may have made it between the check and the creation.
    check_runtime_dir(dir).map_err(|reason| io::Error::new(io::ErrorKind::PermissionDenied, reason))
}

/// Opens (creating it owner-only if needed) a file used only for its lock.
pub fn open_lock_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The name prefix of [`write_atomic`]'s temporary files.
const TEMP_PREFIX: &str = ".tmp-";

/// Replaces `path` with `contents` atomically: readers see the old file or the new one, never
/// a mix, and a failed write (a full disk) leaves the old file as it was. The new file is
/// owner-only (0600 on Unix) from the moment it exists.
///
/// The temporary file is locked while it is written, so that [`remove_leftovers`] can tell one
/// being written from one a crash (`kill -9`, a power cut) left behind.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other(format!("{} has no parent", path.display())))?;
    let mut file = locked_temporary(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    #[cfg(all(debug_assertions, target_os = "linux"))]
    test_hook::stop_if_writing(path);
    file.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Removes `path` for good: a file that is not there is not an error, and on Unix the directory
/// is synced, so that a removed secret does not come back after a power cut.
pub fn remove_durably(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A new temporary file in `dir`, locked (on Unix; see [`remove_leftovers`] for Windows).
/// tempfile creates it with mode 0600 and removes it again if anything after fails.
fn locked_temporary(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    for _ in 0..10 {
        let file = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
        // On Windows a lock bars others from reading the range, and would stay on the state
        // file once renamed into place: not there.
        #[cfg(unix)]
        file.as_file().lock()?;
        // A cleanup may have taken the file for a leftover between its creation and the lock:
        // then its name is gone (or another's), and a new one is made.
        if same_file(file.path(), file.as_file())? {
            return Ok(file);
        }
    }
    Err(io::Error::other(format!("cannot keep a temporary file in {}", dir.display())))
}

/// Whether `path` still names the file open as `file`.
#[cfg_attr(not(unix), expect(clippy::unnecessary_wraps, reason = "the signature of the Unix check"))]
fn same_file(path: &Path, file: &std::fs::File) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file.metadata()?;
        Ok(std::fs::symlink_metadata(path).is_ok_and(|named| named.ino() == open.ino() && named.dev() == open.dev()))
    }
    #[cfg(not(unix))]
    {
        // Windows does not remove a file another process holds open.
        let _ = file;
        Ok(path.exists())
    }
}

/// Removes the temporary files of [`write_atomic`] that a crash left in `dir` (whole copies of a
/// state file, secrets included): those no process is writing, which are not locked (on
/// Windows, where they are not locked: those last written over a minute ago; a write takes
/// milliseconds). Returns how many were removed.
pub fn remove_leftovers(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) || !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        let Ok(file) = std::fs::File::open(&path) else { continue };
        // Locked: being written now. Not the same file any more: renamed into place meanwhile.
        #[cfg(unix)]
        if file.try_lock().is_err() || !same_file(&path, &file)? {
            continue;
        }
        #[cfg(not(unix))]
        if file.metadata()?.modified()?.elapsed().unwrap_or_default() < std::time::Duration::from_secs(60) {
            continue;
        }
        // Windows removes no file that is open; on Unix the lock is held until it is gone, so
        // that no writer can take it up meanwhile.
        #[cfg(not(unix))]
        drop(file);
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        #[cfg(unix)]
        drop(file);
    }
    if removed > 0 {
        tracing::info!(dir = %dir.display(), removed, "removed temporary files a crash left behind");
    }
    Ok(removed)
}

/// Tests only (Linux debug builds): `GIT_CREDENTIAL_AZDO_TEST_STOP_WRITING=<name>` stops the
/// process (SIGSTOP) the first time [`write_atomic`] has written the temporary file for a file of
/// that name, or for any file in a directory of that name (`secrets`), and not yet renamed it, holding whatever lock the writer holds; the test then kills it or lets
/// it go on (SIGCONT). The only deterministic way to crash in the middle of a write.
#[cfg(all(debug_assertions, target_os = "linux"))]
mod test_hook {
    use std::path::Path;

    pub(super) fn stop_if_writing(path: &Path) {
        static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let Some(name) = std::env::var_os("GIT_CREDENTIAL_AZDO_TEST_STOP_WRITING") else { return };
        let directory = path.parent().and_then(Path::file_name);
        let named = path.file_name() == Some(name.as_os_str()) || directory == Some(name.as_os_str());
        if !named || STOPPED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
        // The kernel may hand the stop to another thread; this one is stopped when it next
        // leaves a system call after the stop has begun. The stop has begun once SIGSTOP is no
        // longer pending: the thread that takes it marks every thread to stop in the same step.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stop_pending() && std::time::Instant::now() < deadline {}
    }

    /// Whether SIGSTOP is pending for this process, from /proc/self/status.
    fn stop_pending() -> bool {
        const SIGSTOP_BIT: u64 = 1 << (19 - 1);
        let Ok(status) = std::fs::read_to_string("/proc/thread-self/status") else { return false };
        status
            .lines()
            .filter_map(|line| line.strip_prefix("ShdPnd:").or_else(|| line.strip_prefix("SigPnd:")))
            .any(|mask| u64::from_str_radix(mask.trim(), 16).is_ok_and(|mask| mask & SIGSTOP_BIT != 0))
    }
}

/// What identifies one version of a file: a replaced (atomically written) file has a new
/// inode, an edited one a new length or modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

/// The fingerprint of `path`, `None` when there is no such file.
pub fn fingerprint(path: &Path) -> io::Result<Option<Fingerprint>> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&meta);
            #[cfg(not(unix))]
            let inode = 0;
            Ok(Some(Fingerprint { len: meta.len(), modified: meta.modified().ok(), inode }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    #[cfg(unix)]
    fn private_dir_is_created_0700_and_loose_modes_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    #[cfg(unix)]
    fn runtime_dirs_open_to_others_are_refused_and_ours_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        assert_eq!(check_runtime_dir(&dir), Ok(()), "not there yet: it will be made");
        ensure_runtime_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // Readable by others: tightened. Writable by others: refused, and left as it is.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_runtime_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        for loose in [0o777, 0o770, 0o1777, 0o702] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(loose)).unwrap();
            let error = ensure_runtime_dir(&dir).unwrap_err().to_string();
            assert!(error.ends_with(&format!("run is writable by other users (mode {:o})", loose & 0o777)), "{error}");
            assert_eq!(mode(&dir), loose & 0o777, "not repaired");
        }
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(check_runtime_dir(&link).unwrap_err().ends_with("link is not a directory"));
        // Another user's: see tests/other_users.rs (it takes a second user).
    }

    #[test]
    #[cfg(unix)]
    fn directories_others_could_replace_are_refused_before_anything_is_made_in_them() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        // Writable by all, not sticky: anyone may rename what is in it and put their own there.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let dir = shared.join("deep/run");
        let why = "is writable by all users and not sticky (mode 777)";
        let error = check_runtime_dir(&dir).unwrap_err();
        assert!(error.starts_with(&format!("{} could be replaced by another user: ", dir.display())), "{error}");
        assert!(error.ends_with(&format!("{} {why}", shared.display())), "{error}");
        assert!(ensure_runtime_dir(&dir).unwrap_err().to_string().contains(why));
        assert!(ensure_private_dir(&dir).unwrap_err().to_string().contains(why));
        assert!(!shared.join("deep").exists(), "nothing was made in it");
        // Made before the directory was opened up: refused all the same.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_runtime_dir(&dir).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_runtime_dir(&dir).unwrap_err().contains(why));
        assert!(ensure_private_dir(&dir).is_err());
        // Sticky, as /tmp is: what is there is its owner's alone.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(check_runtime_dir(&dir), Ok(()));
        ensure_private_dir(&dir).unwrap();
        // A link on the way to a directory that could be replaced: the resolved path counts.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(shared.join("deep"), &link).unwrap();
        assert!(check_runtime_dir(&link.join("run")).unwrap_err().contains(why));
        // A link of ours to a private directory is fine.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_runtime_dir(&link.join("run")), Ok(()));
        // Another user's directory or link on the way: see tests/other_users.rs (it takes a
        // second user).
    }

    #[test]
    #[cfg(unix)] // Windows: temporary files are not locked, and leftovers are told by age.
    fn leftovers_of_a_crash_are_removed_and_files_being_written_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        write_atomic(&tmp.path().join("state.json"), b"kept").unwrap();
        // Left by a crash: not locked.
        std::fs::write(tmp.path().join(".tmp-AbC123"), b"{\"secrets\":\"hunter2\"}").unwrap();
        std::fs::write(tmp.path().join(".tmp-XyZ789"), b"").unwrap();
        // Being written by another process (or thread) right now: locked.
        let writing = locked_temporary(tmp.path()).unwrap();
        // Not ours: other names, and a directory.
        std::fs::write(tmp.path().join("tmp-not-ours"), b"").unwrap();
        std::fs::create_dir(tmp.path().join(".tmp-dir")).unwrap();

        assert_eq!(remove_leftovers(tmp.path()).unwrap(), 2);
        let mut names: Vec<_> =
            std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let writing_name = writing.path().file_name().unwrap().to_str().unwrap().to_owned();
        let mut expected = vec![".tmp-dir".to_owned(), writing_name, "state.json".into(), "tmp-not-ours".into()];
        expected.sort();
        assert_eq!(names, expected);
        assert_eq!(std::fs::read(tmp.path().join("state.json")).unwrap(), b"kept");
        assert_eq!(remove_leftovers(&tmp.path().join("missing")).unwrap(), 0);
    }

    #[test]
    #[cfg(unix)] // Windows: temporary files are not locked, and leftovers are told by age.
    fn a_temporary_file_taken_for_a_leftover_before_it_was_locked_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(tmp.path()).unwrap();
        // A cleanup removed it between its creation and its lock.
        std::fs::remove_file(file.path()).unwrap();
        assert!(!same_file(file.path(), file.as_file()).unwrap());
        let file = locked_temporary(tmp.path()).unwrap();
        assert!(same_file(file.path(), file.as_file()).unwrap());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_files() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("state.json");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"]);
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600);
    }
}
