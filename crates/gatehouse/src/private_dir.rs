//! The data directory holds password hashes, the audit log, the secrets key,
//! the SSH host key and whole terminal recordings: no other local user may
//! read any of it, whatever the umask the gateway was started with.
//!
//! Each writer creates its files 0600 and folders 0700 itself; this module
//! creates the directory and, at every start, tightens what an older version
//! (or a hand-made copy) left looser.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// The mode of the data directory and every folder in it.
pub(crate) const DIR_MODE: u32 = 0o700;
/// The mode of every file in it.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (0700) if it is missing, then gives it and everything below
/// it, where group or others had any access, folders 0700 and files 0600.
/// Returns how many modes it changed. Symbolic links inside are not
/// followed. One `lstat` per file: a few milliseconds for ten thousand
/// recordings, once per start.
pub(crate) fn make_private(dir: &Path) -> io::Result<usize> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let mut changed = 0;
    // The directory itself may be a link (e.g. to a bigger disk): follow that one.
    let meta = std::fs::metadata(dir)?;
    tighten(dir, &meta, &mut changed)?;
    Ok(changed)
}

fn tighten(path: &Path, meta: &std::fs::Metadata, changed: &mut usize) -> io::Result<()> {
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Ok(());
    }
    let wanted = if file_type.is_dir() {
        DIR_MODE
    } else {
        FILE_MODE
    };
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
        *changed += 1;
    }
    if file_type.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            tighten(&entry.path(), &entry.metadata()?, changed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_loose_tree_is_tightened_and_a_private_one_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("recordings/2026/11")).unwrap();
        let set = |p: &Path, m| std::fs::set_permissions(p, PermissionsExt::from_mode(m)).unwrap();
        set(&data, 0o755);
        set(&data.join("recordings"), 0o755);
        set(&data.join("recordings/2026"), 0o700);
        set(&data.join("recordings/2026/11"), 0o775);
        std::fs::write(data.join("gatehouse.db"), b"").unwrap();
        set(&data.join("gatehouse.db"), 0o644);
        std::fs::write(data.join("recordings/2026/11/a.cast"), b"").unwrap();
        set(&data.join("recordings/2026/11/a.cast"), 0o666);
        let outside = root.path().join("outside");
        std::fs::write(&outside, b"").unwrap();
        set(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();

        assert_eq!(make_private(&data).unwrap(), 5);
        for dir in ["", "recordings", "recordings/2026", "recordings/2026/11"] {
            assert_eq!(mode(&data.join(dir)), 0o700, "{dir}");
        }
        assert_eq!(mode(&data.join("gatehouse.db")), 0o600);
        assert_eq!(mode(&data.join("recordings/2026/11/a.cast")), 0o600);
        assert_eq!(mode(&outside), 0o644, "a link is not followed out");
        assert_eq!(make_private(&data).unwrap(), 0, "nothing left to do");
    }

    #[test]
    fn a_missing_directory_is_created_private() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("new/data");
        assert_eq!(make_private(&data).unwrap(), 0);
        assert_eq!(mode(&data), 0o700);
    }
}
