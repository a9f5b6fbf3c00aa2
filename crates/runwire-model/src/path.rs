//! Lexical path normalization: the canonical form of every path on the wire (absolute, no
//! `.` or `..` components, no repeated or trailing `/`). No symbolic link is resolved: a path
//! is recorded as the process used it.

use std::path::{Component, Path, PathBuf};

/// Resolves `path` against `base` (used when `path` is relative) and normalizes it lexically.
/// `..` at the root stays at the root, as the kernel does.
pub fn absolutize(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        normalize(path)
    } else {
        normalize(&base.join(path))
    }
}

/// Normalizes an absolute or relative path lexically (see the module doc).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let at_root = out.parent().is_none() && out.has_root();
                let ends_in_parent = out.components().next_back() == Some(Component::ParentDir);
                if out.as_os_str().is_empty() || ends_in_parent {
                    // A relative path keeps leading `..`; nothing to pop lexically.
                    out.push("..");
                } else if !at_root {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Whether `path` is already in canonical form (absolute and unchanged by [`normalize`]).
pub fn is_canonical(path: &Path) -> bool {
    path.is_absolute() && normalize(path).as_os_str() == path.as_os_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_table() {
        let cases = [
            ("/a/b/../c", "/a/c"),
            ("/a/./b/", "/a/b"),
            ("//a//b", "/a/b"),
            ("/..", "/"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/../../b", "../b"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(Path::new(input)), Path::new(expected), "{input}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_base() {
        assert_eq!(
            absolutize(Path::new("/w/pkg"), Path::new("../out/./x")),
            Path::new("/w/out/x")
        );
        assert_eq!(
            absolutize(Path::new("/w"), Path::new("/abs/.")),
            Path::new("/abs")
        );
        assert!(is_canonical(Path::new("/a/b")));
        assert!(!is_canonical(Path::new("/a/b/")));
        assert!(!is_canonical(Path::new("a/b")));
        assert!(!is_canonical(Path::new("/a/../b")));
    }
}
