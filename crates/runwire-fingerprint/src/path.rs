//! Canonical paths: workspace-relative, `/`-separated, lexically normalized.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::FingerprintError;

/// A path in canonical form.
///
/// Workspace paths are relative to the workspace root, `/`-separated, with no `.`, `..` or
/// empty component and no leading or trailing `/`; the root itself is the empty string.
/// A path outside the workspace (only ever an input the user listed in config) is kept
/// absolute and starts with `/`; such a path is never an output.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RelPath(String);

impl RelPath {
    /// The workspace root.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses and checks a canonical path string (relative or external absolute).
    pub fn parse(s: &str) -> Result<Self, FingerprintError> {
        let bad = |why: &str| FingerprintError::BadPath {
            path: s.to_owned(),
            why: why.to_owned(),
        };
        if s.is_empty() {
            return Ok(Self::root());
        }
        if s.contains('\0') {
            return Err(bad("contains NUL"));
        }
        let body = s.strip_prefix('/').unwrap_or(s);
        if body.is_empty() {
            return Err(bad("is `/`"));
        }
        for c in body.split('/') {
            match c {
                "" => return Err(bad("has an empty component")),
                "." | ".." => return Err(bad("has a `.` or `..` component")),
                _ => {}
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// True for a path outside the workspace (kept absolute).
    pub fn is_external(&self) -> bool {
        self.0.starts_with('/')
    }

    /// Appends one name.
    #[must_use]
    pub fn join(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}/{name}", self.0))
        }
    }

    /// The parent, or `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(0) => Self(String::new()),
            Some(i) => Self(self.0[..i].to_owned()),
            None => Self::root(),
        })
    }

    /// The last component (the empty string for the root).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// True when `self` is `ancestor` or lies under it (component-wise).
    pub fn is_within(&self, ancestor: &Self) -> bool {
        if ancestor.0.is_empty() {
            return !self.is_external();
        }
        self.0 == ancestor.0
            || (self.0.starts_with(&ancestor.0)
                && self.0.as_bytes().get(ancestor.0.len()) == Some(&b'/'))
    }

    /// The absolute path under `root`.
    pub fn to_abs(&self, root: &Path) -> PathBuf {
        if self.is_external() {
            PathBuf::from(&self.0)
        } else if self.0.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&self.0)
        }
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Lexically normalizes an absolute path: drops `.`, resolves `..` against the preceding
/// component (no symlink resolution: a path is recorded as the process used it).
/// `None` when the path is not absolute.
pub fn normalize_abs(p: &Path) -> Option<PathBuf> {
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

/// Where an absolute path lies relative to the workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    Inside(RelPath),
    Outside(PathBuf),
    /// Not valid UTF-8: cannot be put in canonical form.
    NonUtf8(PathBuf),
    /// Not absolute.
    Relative(PathBuf),
}

/// Puts an absolute path in canonical form relative to `root` (itself normalized).
pub fn place(root: &Path, p: &Path) -> Placement {
    let Some(norm) = normalize_abs(p) else {
        return Placement::Relative(p.to_path_buf());
    };
    match norm.strip_prefix(root) {
        Ok(rel) => {
            let mut parts = Vec::new();
            for c in rel.components() {
                match c.as_os_str().to_str() {
                    Some(s) => parts.push(s),
                    None => return Placement::NonUtf8(norm),
                }
            }
            Placement::Inside(RelPath(parts.join("/")))
        }
        Err(_) => Placement::Outside(norm),
    }
}

/// The canonical form of a path outside the workspace, if UTF-8.
pub fn external(p: &Path) -> Option<RelPath> {
    let norm = normalize_abs(p)?;
    let s = norm.to_str()?;
    if s == "/" {
        return None;
    }
    Some(RelPath(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_escapes_and_accepts_canonical() {
        assert!(RelPath::parse("../x").is_err());
        assert!(RelPath::parse("a/../x").is_err());
        assert!(RelPath::parse("a//b").is_err());
        assert!(RelPath::parse("a/").is_err());
        assert!(RelPath::parse("/").is_err());
        assert!(RelPath::parse("/etc/x").unwrap().is_external());
        assert_eq!(
            RelPath::parse("a/b").unwrap().parent().unwrap().as_str(),
            "a"
        );
        assert!(
            RelPath::parse("a/bc")
                .unwrap()
                .is_within(&RelPath::parse("a").unwrap())
        );
        assert!(
            !RelPath::parse("ab")
                .unwrap()
                .is_within(&RelPath::parse("a").unwrap())
        );
    }

    #[test]
    fn place_normalizes_lexically() {
        let root = Path::new("/w");
        assert_eq!(
            place(root, Path::new("/w/a/./b/../c")),
            Placement::Inside(RelPath("a/c".into()))
        );
        assert_eq!(
            place(root, Path::new("/w")),
            Placement::Inside(RelPath::root())
        );
        assert_eq!(
            place(root, Path::new("/wx/a")),
            Placement::Outside(PathBuf::from("/wx/a"))
        );
        assert_eq!(
            place(root, Path::new("/w/../etc")),
            Placement::Outside(PathBuf::from("/etc"))
        );
        assert!(matches!(
            place(root, Path::new("a")),
            Placement::Relative(_)
        ));
    }
}
