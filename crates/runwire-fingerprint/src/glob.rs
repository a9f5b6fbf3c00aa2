//! Small glob matchers: env names (`*`, `?` over bytes) and path match sets for `ReportGlob`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::FingerprintError;

/// Matches `name` against `pattern`, where `*` is any run of bytes and `?` one byte.
pub fn match_bytes(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut p, mut n) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Checks a path pattern: `/`-separated, relative, segments of literal text, `*`, `?`, or `**`.
pub fn check_path_pattern(pattern: &str) -> Result<Vec<&str>, FingerprintError> {
    let bad = |why: &str| FingerprintError::BadGlob {
        pattern: pattern.to_owned(),
        why: why.to_owned(),
    };
    if pattern.is_empty() {
        return Err(bad("is empty"));
    }
    if pattern.starts_with('/') {
        return Err(bad("must be relative to its base"));
    }
    let segs: Vec<&str> = pattern.split('/').collect();
    for s in &segs {
        if s.is_empty() || *s == "." || *s == ".." {
            return Err(bad("has an empty, `.` or `..` segment"));
        }
        if s.contains("**") && *s != "**" {
            return Err(bad("`**` must be a whole segment"));
        }
    }
    Ok(segs)
}

/// The sorted set of paths under `base` (relative to it, `/`-separated) matching `pattern`.
/// Symlinked directories are not followed; unreadable directories count as empty.
pub fn match_paths(base: &Path, pattern: &str) -> Result<BTreeSet<String>, FingerprintError> {
    let segs = check_path_pattern(pattern)?;
    let mut out = BTreeSet::new();
    walk(base, "", &segs, &mut out);
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, segs: &[&str], out: &mut BTreeSet<String>) {
    let Some((seg, rest)) = segs.split_first() else {
        return;
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(String, bool)> = Vec::new();
    for e in rd.flatten() {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        entries.push((name, is_dir));
    }
    if *seg == "**" {
        // Zero segments here, or one more directory level with `**` still pending.
        walk(dir, prefix, rest, out);
        if rest.is_empty() {
            for (name, _) in &entries {
                out.insert(join(prefix, name));
            }
        }
        for (name, is_dir) in &entries {
            if *is_dir {
                walk(&dir.join(name), &join(prefix, name), segs, out);
            }
        }
        return;
    }
    for (name, is_dir) in &entries {
        if !match_bytes(seg.as_bytes(), name.as_bytes()) {
            continue;
        }
        if rest.is_empty() {
            out.insert(join(prefix, name));
        } else if *is_dir {
            walk(&dir.join(name), &join(prefix, name), rest, out);
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_glob() {
        assert!(match_bytes(b"VITE_*", b"VITE_API"));
        assert!(match_bytes(b"VITE_*", b"VITE_"));
        assert!(!match_bytes(b"VITE_*", b"XVITE_A"));
        assert!(match_bytes(b"A?C*", b"ABCxx"));
        assert!(match_bytes(b"*_URL", b"VITE_API_URL"));
        assert!(!match_bytes(b"*_URL", b"VITE_API_URLS"));
    }

    #[test]
    fn path_glob() {
        let d = tempfile::tempdir().unwrap();
        for p in ["src/a.ts", "src/b.js", "src/x/c.ts", "other/d.ts"] {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let m = match_paths(d.path(), "src/**/*.ts").unwrap();
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            ["src/a.ts", "src/x/c.ts"]
        );
        let m = match_paths(d.path(), "*/*.ts").unwrap();
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            ["other/d.ts", "src/a.ts"]
        );
        assert!(match_paths(d.path(), "../x").is_err());
    }
}
