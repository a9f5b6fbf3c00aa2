//! Small glob matchers: env names (`*`, `?` over bytes) and path match sets for `ReportGlob`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::FingerprintError;

/// One element of a parsed env-name glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    One,
    Run,
    Set {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Tok {
    fn accepts(&self, b: u8) -> bool {
        match self {
            Self::Lit(l) => *l == b,
            Self::One => true,
            Self::Run => false,
            Self::Set { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&b)) != *negated
            }
        }
    }
}

/// Parses the protocol's env-name glob (spec/protocol.md, `GetEnvs.glob`): `*` any run of
/// bytes, `?` one byte, `[...]` a byte class (`!` or `^` first negates, `a-z` ranges, a `]`
/// right after the opening is literal), `\` escapes the next byte, inside classes too.
/// `None` for a pattern the protocol refuses: empty, a NUL or `=` byte, an unclosed class, a
/// trailing `\`, a reversed range.
fn parse_env_glob(p: &[u8]) -> Option<Vec<Tok>> {
    if p.is_empty() || p.iter().any(|&b| b == 0 || b == b'=') {
        return None;
    }
    let mut toks = Vec::new();
    let mut i = 0;
    // One possibly escaped byte at `j`, and the index after it.
    let byte_at = |j: usize| -> Option<(u8, usize)> {
        match *p.get(j)? {
            b'\\' => p.get(j + 1).map(|&b| (b, j + 2)),
            b => Some((b, j + 1)),
        }
    };
    while i < p.len() {
        match p[i] {
            b'*' => {
                if toks.last() != Some(&Tok::Run) {
                    toks.push(Tok::Run);
                }
                i += 1;
            }
            b'?' => {
                toks.push(Tok::One);
                i += 1;
            }
            b'[' => {
                i += 1;
                let negated = matches!(p.get(i), Some(b'!' | b'^'));
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    if *p.get(i)? == b']' && !first {
                        i += 1;
                        break;
                    }
                    first = false;
                    let (lo, next) = byte_at(i)?;
                    i = next;
                    if p.get(i) == Some(&b'-') && p.get(i + 1).is_some_and(|&b| b != b']') {
                        let (hi, next) = byte_at(i + 1)?;
                        if hi < lo {
                            return None;
                        }
                        ranges.push((lo, hi));
                        i = next;
                    } else {
                        ranges.push((lo, lo));
                    }
                }
                toks.push(Tok::Set { negated, ranges });
            }
            _ => {
                let (b, next) = byte_at(i)?;
                toks.push(Tok::Lit(b));
                i = next;
            }
        }
    }
    Some(toks)
}

/// Matches an env name against the protocol's env-name glob. A malformed pattern (the server
/// rejects those, so it never reaches here from a tool) matches nothing.
pub fn match_bytes(pattern: &[u8], name: &[u8]) -> bool {
    parse_env_glob(pattern).is_some_and(|toks| match_tokens(&toks, name))
}

/// Matches `name` against a parsed glob. Iterative, remembering only the last `*`: linear in
/// practice, no recursion.
fn match_tokens(toks: &[Tok], name: &[u8]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match toks.get(t) {
            Some(Tok::Run) => {
                star = Some((t, n));
                t += 1;
            }
            Some(tok) if tok.accepts(name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    star = Some((st, sn + 1));
                    t = st + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    toks[t..].iter().all(|tok| *tok == Tok::Run)
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
    match_paths_in(base, pattern, &Listings::default())
}

/// [`match_paths`] reading each directory once per `listings`: a tool that reports 10,000
/// globs over the same tree costs 10,000 matches against one listing per directory, not
/// 10,000 walks.
pub fn match_paths_in(
    base: &Path,
    pattern: &str,
    listings: &Listings,
) -> Result<BTreeSet<String>, FingerprintError> {
    let segs = check_path_pattern(pattern)?;
    let mut out = BTreeSet::new();
    walk(base, "", &segs, &mut out, listings);
    Ok(out)
}

/// Directory listings (name, is a directory) shared by the glob matches of one
/// classification or validation, which thereby also see one consistent tree.
#[derive(Debug, Default)]
pub struct Listings {
    dirs: std::cell::RefCell<std::collections::HashMap<std::path::PathBuf, DirListing>>,
}

/// `None`: the directory could not be read (it counts as empty).
type DirListing = Option<std::rc::Rc<[(String, bool)]>>;

impl Listings {
    fn list(&self, dir: &Path) -> DirListing {
        if let Some(listing) = self.dirs.borrow().get(dir) {
            return listing.clone();
        }
        let listing: DirListing = std::fs::read_dir(dir).ok().map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    Some((name, e.file_type().is_ok_and(|t| t.is_dir())))
                })
                .collect()
        });
        self.dirs
            .borrow_mut()
            .insert(dir.to_path_buf(), listing.clone());
        listing
    }
}

fn walk(dir: &Path, prefix: &str, segs: &[&str], out: &mut BTreeSet<String>, listings: &Listings) {
    let Some((seg, rest)) = segs.split_first() else {
        return;
    };
    let Some(entries) = listings.list(dir) else {
        return;
    };
    if *seg == "**" {
        // Zero segments here, or one more directory level with `**` still pending.
        walk(dir, prefix, rest, out, listings);
        if rest.is_empty() {
            for (name, _) in entries.iter() {
                out.insert(join(prefix, name));
            }
        }
        for (name, is_dir) in entries.iter() {
            if *is_dir {
                walk(&dir.join(name), &join(prefix, name), segs, out, listings);
            }
        }
        return;
    }
    // Most segments are plain names (`src`, `d1`): compared, not matched as a glob. A glob
    // segment is parsed once for the whole listing.
    let literal = !seg.bytes().any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'));
    let toks = if literal {
        None
    } else {
        match parse_env_glob(seg.as_bytes()) {
            Some(toks) => Some(toks),
            None => return,
        }
    };
    for (name, is_dir) in entries.iter() {
        let matched = match &toks {
            None => name == seg,
            Some(toks) => match_tokens(toks, name.as_bytes()),
        };
        if !matched {
            continue;
        }
        if rest.is_empty() {
            out.insert(join(prefix, name));
        } else if *is_dir {
            walk(&dir.join(name), &join(prefix, name), rest, out, listings);
        }
    }
}

/// A path glob matched against one workspace-relative path at any depth: `*`, `?` and
/// classes within a segment, `**` for any number of segments (zero included). Used for the
/// tool-state rule (spec/fingerprint.md rule 9), where `.eslintcache` must match in every
/// package: a pattern is tried at every directory level, as if it began with `**/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathGlob {
    pattern: String,
    segs: Vec<String>,
}

impl PathGlob {
    pub fn new(pattern: &str) -> Result<Self, FingerprintError> {
        let segs = check_path_pattern(pattern)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        Ok(Self {
            pattern: pattern.to_owned(),
            segs,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// True when `path` (`/`-separated, relative) or a suffix of it starting at a segment
    /// boundary matches.
    pub fn matches(&self, path: &str) -> bool {
        if path.is_empty() {
            return false;
        }
        let parts: Vec<&str> = path.split('/').collect();
        (0..parts.len()).any(|start| match_segments(&self.segs, &parts[start..]))
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((seg, rest)) if seg == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((seg, rest)) => path.split_first().is_some_and(|(name, tail)| {
            match_bytes(seg.as_bytes(), name.as_bytes()) && match_segments(rest, tail)
        }),
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

    /// A glob or name of the shared vectors: a UTF-8 string, or an array of byte values.
    fn vector_bytes(value: &serde_json::Value) -> Vec<u8> {
        match value {
            serde_json::Value::String(text) => text.as_bytes().to_vec(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|b| u8::try_from(b.as_u64().expect("a byte value")).expect("0 to 255"))
                .collect(),
            other => panic!("not a string or byte array: {other}"),
        }
    }

    /// `spec/test_vectors/glob/env_glob.jsonl` (spec/protocol.md, "Glob syntax"): this
    /// matcher re-evaluates recorded selectors, so it must agree with the protocol's.
    #[test]
    fn env_glob_runs_the_shared_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../spec/test_vectors/glob/env_glob.jsonl"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut rows = 0;
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let glob = vector_bytes(&row["glob"]);
            rows += 1;
            if row.get("invalid").is_some() {
                assert!(parse_env_glob(&glob).is_none(), "{row}: must be invalid");
                assert!(
                    !match_bytes(&glob, &glob),
                    "{row}: an invalid glob matches nothing"
                );
                continue;
            }
            assert!(parse_env_glob(&glob).is_some(), "{row}: must be valid");
            for name in row["matches"].as_array().unwrap() {
                assert!(
                    match_bytes(&glob, &vector_bytes(name)),
                    "{row}: must match {name}"
                );
            }
            for name in row["rejects"].as_array().unwrap() {
                assert!(
                    !match_bytes(&glob, &vector_bytes(name)),
                    "{row}: must not match {name}"
                );
            }
        }
        assert!(rows >= 40, "the vectors file lost rows");
    }

    #[test]
    fn path_glob_matches_at_any_depth() {
        let g = |p: &str| PathGlob::new(p).unwrap();
        assert!(g("**/__pycache__/**").matches("gen/__pycache__/helper.cpython-311.pyc"));
        assert!(g("**/__pycache__/**").matches("__pycache__"));
        assert!(!g("**/__pycache__/**").matches("gen/__pycache"));
        assert!(g("**/*.tsbuildinfo").matches("packages/a/tsconfig.tsbuildinfo"));
        assert!(g(".eslintcache").matches(".eslintcache"));
        assert!(g(".eslintcache").matches("packages/web/.eslintcache"));
        assert!(!g(".eslintcache").matches("packages/web/.eslintcache.bak"));
        assert!(g("node_modules/.cache/**").matches("pkg/node_modules/.cache/babel/x.json"));
        assert!(!g("node_modules/.cache/**").matches("node_modules/.cachex/y"));
        assert!(g(".next/cache/**").matches(".next/cache/images/a"));
        assert!(!g(".next/cache/**").matches(".next/server/page.js"));
        assert!(!g("a").matches(""));
    }

    #[test]
    fn byte_glob() {
        assert!(match_bytes(b"VITE_*", b"VITE_API"));
        assert!(match_bytes(b"VITE_*", b"VITE_"));
        assert!(!match_bytes(b"VITE_*", b"XVITE_A"));
        assert!(match_bytes(b"A?C*", b"ABCxx"));
        assert!(match_bytes(b"*_URL", b"VITE_API_URL"));
        assert!(!match_bytes(b"*_URL", b"VITE_API_URLS"));
        assert!(match_bytes(b"A*B*C", b"AxxBxxBxxC"));
        assert!(!match_bytes(b"A*B*C", b"AxxBxxC_"));
    }

    #[test]
    fn byte_glob_classes_and_escapes() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"[AB]X", b"BX", true),
            (b"[AB]X", b"CX", false),
            (b"[!AB]X", b"BX", false),
            (b"[^AB]X", b"CX", true),
            (b"V[A-C]_*", b"VB_x", true),
            (b"V[A-C]_*", b"VD_x", false),
            (b"[]]", b"]", true),
            (b"[!]]", b"]", false),
            (b"[a-]", b"-", true),
            (b"[\\]]", b"]", true),
            (b"\\*", b"*", true),
            (b"\\*", b"A", false),
            (b"\\?X", b"?X", true),
            (b"**", b"anything", true),
            (b"[\xff]", b"\xff", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(
                match_bytes(p, n),
                *want,
                "{:?} vs {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(n)
            );
        }
        for bad in [&b"[AB"[..], b"X\\", b"[z-a]"] {
            assert!(
                !match_bytes(bad, b"A"),
                "malformed {:?} matches nothing",
                String::from_utf8_lossy(bad)
            );
        }
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
