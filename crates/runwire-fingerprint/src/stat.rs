//! Cheap observation of many paths: siblings are stat'ed relative to one open directory
//! (`fstatat`), so the kernel resolves one component per file instead of the whole path.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::fingerprint::Existence;
use crate::hash::StatKey;

/// What one stat showed (symlinks followed, as the task saw the path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Observed {
    pub existence: Existence,
    /// For regular files and directories (a directory's says whether its listing can have
    /// changed).
    pub stat: Option<StatKey>,
    /// Any execute bit set (regular files only).
    pub executable: bool,
}

const ABSENT: Observed = Observed {
    existence: Existence::Absent,
    stat: None,
    executable: false,
};

/// One path, the portable way.
pub(crate) fn observe(abs: &Path) -> Observed {
    match std::fs::metadata(abs) {
        Err(_) => ABSENT,
        Ok(m) if m.is_file() => Observed {
            existence: Existence::File,
            stat: Some(StatKey::from_metadata(&m)),
            executable: std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0,
        },
        Ok(m) if m.is_dir() => Observed {
            existence: Existence::Dir,
            stat: Some(StatKey::from_metadata(&m)),
            executable: false,
        },
        Ok(_) => Observed {
            existence: Existence::Other,
            stat: None,
            executable: false,
        },
    }
}

/// Every name in `dir`, in order. A directory that does not exist (or is not one) holds
/// nothing: every name is absent, as a stat of each would say. `None` when the directory
/// cannot be opened for another reason (the caller then falls back to [`observe`], which
/// reports the precise state of each path).
pub(crate) fn observe_siblings<'a>(
    dir: &Path,
    names: impl ExactSizeIterator<Item = &'a str>,
) -> Option<Vec<Observed>> {
    let cdir = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `cdir` is a valid NUL-terminated string; the fd is closed below.
    let fd = unsafe {
        libc::open(
            cdir.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        // Node's module resolution probes many paths under directories that do not exist
        // (`node_modules/node_modules/...`): one failed open answers for all of them.
        let missing = matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOENT | libc::ENOTDIR)
        );
        return missing.then(|| vec![ABSENT; names.len()]);
    }
    let mut out = Vec::new();
    for name in names {
        let Ok(cname) = CString::new(name) else {
            out.push(ABSENT);
            continue;
        };
        // SAFETY: an all-zero `stat` is a valid value for the kernel to overwrite.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is an open directory, `cname` a valid C string, `st` writable.
        let rc = unsafe { libc::fstatat(fd, cname.as_ptr(), &raw mut st, 0) };
        out.push(if rc != 0 { ABSENT } else { from_stat(&st) });
    }
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    Some(out)
}

fn from_stat(st: &libc::stat) -> Observed {
    // As `StatKey::from_metadata` builds it: remembered keys compare equal either way.
    let key = || StatKey {
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime_ns: st
            .st_mtime
            .saturating_mul(1_000_000_000)
            .saturating_add(st.st_mtime_nsec),
        ctime_ns: st
            .st_ctime
            .saturating_mul(1_000_000_000)
            .saturating_add(st.st_ctime_nsec),
        ino: st.st_ino,
        dev: st.st_dev,
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Observed {
            existence: Existence::File,
            stat: Some(key()),
            executable: st.st_mode & 0o111 != 0,
        },
        libc::S_IFDIR => Observed {
            existence: Existence::Dir,
            stat: Some(key()),
            executable: false,
        },
        _ => Observed {
            existence: Existence::Other,
            stat: None,
            executable: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstatat_agrees_with_std_metadata() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"abc").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("f", d.path().join("link")).unwrap();
        let names = ["f", "sub", "link", "missing"];
        let fast = observe_siblings(d.path(), names.iter().copied()).unwrap();
        let slow: Vec<Observed> = names.iter().map(|n| observe(&d.path().join(n))).collect();
        assert_eq!(fast, slow);
        assert_eq!(fast[0].existence, Existence::File);
        assert_eq!(fast[2].existence, Existence::File, "symlinks are followed");
        assert_eq!(fast[3], ABSENT);
        // Under a directory that is missing, or is a file, every name is absent (as a stat
        // of each says).
        for parent in ["nope", "f", "nope/deeper"] {
            let parent = d.path().join(parent);
            let fast = observe_siblings(&parent, names.iter().copied()).unwrap();
            let slow: Vec<Observed> = names.iter().map(|n| observe(&parent.join(n))).collect();
            assert_eq!(fast, slow);
            assert!(fast.iter().all(|o| *o == ABSENT));
        }
    }
}
