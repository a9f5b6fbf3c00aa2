//! Path globs: match sets for `ReportGlob` and tool-state patterns. One segment is matched by
//! the env-name glob of `runwire-model`, the workspace's only byte-glob matcher.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::FingerprintError;
use crate::hash::Hash32;

/// Matches one name (an env name, or one path segment of a file glob) against the
/// env-name glob (`runwire_model::glob`, spec/protocol.md "Glob syntax"). A malformed pattern
/// matches nothing.
pub fn match_bytes(pattern: &[u8], name: &[u8]) -> bool {
    runwire_model::glob::matches(pattern, name)
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
    dirs: std::cell::RefCell<
        std::collections::HashMap<std::path::PathBuf, DirListing, PathHasherBuilder>,
    >,
}

/// FNV-1a over a path's bytes: the listings map is looked up once per glob segment (30,000
/// times for 10,000 globs), where `SipHash` showed in profiles; its keys are the directories
/// of one workspace, not attacker-chosen collisions worth defending against in one run.
#[derive(Debug, Default, Clone, Copy)]
struct PathHasherBuilder;

impl std::hash::BuildHasher for PathHasherBuilder {
    type Hasher = Fnv1a;
    fn build_hasher(&self) -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

/// The 64-bit FNV-1a hash.
struct Fnv1a(u64);

impl std::hash::Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// `None`: the directory could not be read (it counts as empty).
type DirListing = Option<std::rc::Rc<[(String, bool)]>>;

impl Listings {
    fn list(&self, dir: &Path) -> DirListing {
        if let Some(listing) = self.dirs.borrow().get(dir) {
            return listing.clone();
        }
        let listing: DirListing = std::fs::read_dir(dir).ok().map(|rd| {
            let mut entries: Vec<(String, bool)> = rd
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    Some((name, e.file_type().is_ok_and(|t| t.is_dir())))
                })
                .collect();
            // Sorted by name, so a segment finds the names starting with its literal prefix
            // by binary search.
            entries.sort_unstable();
            entries.into()
        });
        self.dirs
            .borrow_mut()
            .insert(dir.to_path_buf(), listing.clone());
        listing
    }

    /// The digest of what matching sees in `dir` (listing it unless listed already).
    pub fn digest(&self, dir: &Path) -> Hash32 {
        listing_digest(self.list(dir).as_deref())
    }

    /// Every directory listed so far, with the digest of what matching saw in it. Matching
    /// is a function of these listings alone: while each directory still lists the same,
    /// every match set computed from them is the same.
    pub fn digests(&self) -> Vec<(std::path::PathBuf, Hash32)> {
        self.dirs
            .borrow()
            .iter()
            .map(|(dir, listing)| (dir.clone(), listing_digest(listing.as_deref())))
            .collect()
    }
}

/// What matching sees in one directory: its names and which are directories, or that it
/// could not be read. Its own domain, so it never equals a file's content hash or another
/// kind of listing digest in the hash memo; every name is length-prefixed.
fn listing_digest(listing: Option<&[(String, bool)]>) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(b"runwire glob directory v1\0");
    match listing {
        None => {
            h.update(&[0]);
        }
        Some(entries) => {
            h.update(&[1]);
            h.update(&(entries.len() as u64).to_le_bytes());
            for (name, is_dir) in entries {
                h.update(&(name.len() as u64).to_le_bytes());
                h.update(name.as_bytes());
                h.update(&[u8::from(*is_dir)]);
            }
        }
    }
    h.finalize().into()
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
    // Parsed once for the whole listing; most segments are plain names (`src`, `d1`),
    // compared rather than matched.
    let Ok(glob) = runwire_model::glob::EnvGlob::new(seg.as_bytes()) else {
        return;
    };
    let literal = glob.literal();
    // Only names starting with the segment's literal prefix can match (`f01*.txt`: the
    // names from `f01`), found by binary search in the sorted listing.
    let lead = glob.literal_prefix();
    let from = entries.partition_point(|(name, _)| name.as_bytes() < lead.as_slice());
    let candidates = entries[from..]
        .iter()
        .take_while(|(name, _)| name.as_bytes().starts_with(&lead));
    for (name, is_dir) in candidates {
        let matched = match &literal {
            Some(literal) => name.as_bytes() == literal.as_slice(),
            None => glob.matches(name.as_bytes()),
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
        return name.to_owned();
    }
    let mut path = String::with_capacity(prefix.len() + 1 + name.len());
    path.push_str(prefix);
    path.push('/');
    path.push_str(name);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listing's binary search by literal prefix finds what matching every name finds.
    #[test]
    fn prefix_search_finds_what_a_full_scan_finds() {
        let tmp = tempfile::tempdir().unwrap();
        let names = [
            "a", "a.txt", "ab", "abc", "b", "f00.txt", "f01.txt", "f01a.txt", "f010.txt",
            "f02.txt", "F01.txt", "f*1", "f*10", "[x]", "é.txt", "z",
        ];
        for name in names {
            std::fs::write(tmp.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(tmp.path().join("f01dir")).unwrap();
        std::fs::write(tmp.path().join("f01dir/f01.txt"), b"").unwrap();
        let patterns = [
            "f01*.txt",
            "f01*",
            "f0?.txt",
            "a*",
            "a",
            "ab*c",
            "*",
            "?",
            "f\\*1*",
            "[ab]*",
            "[!a]*",
            "\\[x]",
            "é*",
            "F*",
            "f01dir/f01*",
            "**/f01*",
            "nothing*",
            "zz",
        ];
        for pattern in patterns {
            let found = match_paths(tmp.path(), pattern).unwrap();
            let mut scanned = BTreeSet::new();
            for name in names.iter().chain(["f01dir"].iter()) {
                if !pattern.contains('/') && match_bytes(pattern.as_bytes(), name.as_bytes()) {
                    scanned.insert((*name).to_owned());
                }
            }
            if pattern == "f01dir/f01*" {
                scanned.insert("f01dir/f01.txt".to_owned());
            }
            if pattern == "**/f01*" {
                for p in [
                    "f01.txt",
                    "f01a.txt",
                    "f010.txt",
                    "f01dir",
                    "f01dir/f01.txt",
                ] {
                    scanned.insert(p.to_owned());
                }
            }
            assert_eq!(found, scanned, "{pattern}");
        }
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
