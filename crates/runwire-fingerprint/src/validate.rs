//! Validation of a stored fingerprint against the current world: every difference, as data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::env::{EnvMap, EnvName};
use crate::fingerprint::{Existence, ListingFact, PathFact, PostRunFingerprint};
use crate::glob::Listings;
use crate::hash::{EnvKey, Hash32, Hasher, StatKey};
use crate::path::RelPath;
use crate::stat;

/// One way the world (or the spawn description) differs from a stored entry.
/// Env differences carry names only, never values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    // Spawn description (from history).
    FormatVersionChanged {
        was: u32,
        now: u32,
    },
    CommandChanged,
    CwdChanged {
        was: RelPath,
        now: RelPath,
    },
    DeclaredEnvChanged(EnvName),
    DeclaredEnvSet(EnvName),
    DeclaredEnvUnset(EnvName),
    DeclaredEnvAdded(EnvName),
    DeclaredEnvRemoved(EnvName),
    /// A runwire.json field of the task that shapes its run or fingerprint.
    ConfigChanged(String),
    // Files.
    FileChanged(RelPath),
    /// The execute bit was set or cleared.
    ModeChanged {
        path: RelPath,
        executable: bool,
    },
    /// An empty file observed by stat alone (a stamp) was touched.
    StampTouched(RelPath),
    /// A file the run created where it found nothing now exists and differs from that
    /// output: a tool that writes only what is missing would keep it.
    ExistingOutputDiffers(RelPath),
    FileAppeared(RelPath),
    FileDisappeared(RelPath),
    KindChanged {
        path: RelPath,
        was: Existence,
        now: Existence,
    },
    ListingChanged {
        path: RelPath,
        added: Vec<String>,
        removed: Vec<String>,
    },
    Unreadable {
        path: RelPath,
        error: String,
    },
    // Envs and tool facts.
    EnvChanged(EnvName),
    EnvSet(EnvName),
    EnvUnset(EnvName),
    GlobChanged {
        base: RelPath,
        pattern: String,
        added: Vec<String>,
        removed: Vec<String>,
    },
    SaltChanged(String),
}

fn list(v: &[String]) -> String {
    const MAX: usize = 5;
    let mut s = v.iter().take(MAX).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > MAX {
        use fmt::Write as _;
        let _ = write!(s, " and {} more", v.len() - MAX);
    }
    s
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FormatVersionChanged { was, now } => {
                write!(f, "fingerprint format changed ({was} -> {now})")
            }
            Self::CommandChanged => f.write_str("command changed"),
            Self::CwdChanged { was, now } => {
                write!(f, "working directory changed ({was} -> {now})")
            }
            Self::DeclaredEnvChanged(n) => write!(f, "declared env {n} changed"),
            Self::DeclaredEnvSet(n) => write!(f, "declared env {n} is now set"),
            Self::DeclaredEnvUnset(n) => write!(f, "declared env {n} is now unset"),
            Self::DeclaredEnvAdded(n) => write!(f, "env {n} newly declared in config"),
            Self::DeclaredEnvRemoved(n) => write!(f, "env {n} no longer declared in config"),
            Self::ConfigChanged(field) => write!(f, "runwire.json: {field} of the task changed"),
            Self::FileChanged(p) => write!(f, "{p} changed"),
            Self::ModeChanged { path, executable } => write!(
                f,
                "{path} is {} executable",
                if *executable { "now" } else { "no longer" }
            ),
            Self::StampTouched(p) => write!(f, "{p} (an empty stamp file) was touched"),
            Self::ExistingOutputDiffers(p) => write!(
                f,
                "{p} exists and differs from the cached output (the cached run created it)"
            ),
            Self::FileAppeared(p) => write!(f, "{p} appeared"),
            Self::FileDisappeared(p) => write!(f, "{p} disappeared"),
            Self::KindChanged { path, was, now } => {
                write!(f, "{path} changed kind ({was:?} -> {now:?})")
            }
            Self::ListingChanged {
                path,
                added,
                removed,
            } => {
                write!(f, "listing of {path} changed")?;
                if !added.is_empty() {
                    write!(f, "; added: {}", list(added))?;
                }
                if !removed.is_empty() {
                    write!(f, "; removed: {}", list(removed))?;
                }
                Ok(())
            }
            Self::Unreadable { path, error } => write!(f, "{path} could not be read ({error})"),
            Self::EnvChanged(n) => write!(f, "env {n} changed"),
            Self::EnvSet(n) => write!(f, "env {n} is now set"),
            Self::EnvUnset(n) => write!(f, "env {n} is now unset"),
            Self::GlobChanged {
                base,
                pattern,
                added,
                removed,
            } => {
                write!(f, "matches of {pattern} in {base} changed")?;
                if !added.is_empty() {
                    write!(f, "; added: {}", list(added))?;
                }
                if !removed.is_empty() {
                    write!(f, "; removed: {}", list(removed))?;
                }
                Ok(())
            }
            Self::SaltChanged(k) => write!(f, "tool salt {k} changed"),
        }
    }
}

/// The current world an entry is validated against.
#[derive(Debug)]
pub struct World<'a> {
    pub workspace_root: &'a Path,
    /// The runner's full environment.
    pub env: &'a EnvMap,
    pub env_key: &'a EnvKey,
    /// Current values of tool salts, when the runner knows them (e.g. from config). A salt
    /// the runner cannot know before running is not checked here: it only separates variants.
    pub salts: &'a BTreeMap<String, Vec<u8>>,
    /// Env-name globs the user declares untracked now (`ClassifyOptions::untracked_env_patterns`):
    /// a variable matching one is left out when a tracked selector is re-evaluated, so one
    /// that appeared since the run is not a difference.
    pub untracked_env_patterns: &'a [Vec<u8>],
}

/// How many path facts make validating on several threads worth starting them (a thread
/// costs ~60-100 us to start and join, a stat-only fact ~1-2 us).
const PARALLEL_FROM_PATHS: usize = 256;

impl PostRunFingerprint {
    /// Every difference between this fingerprint and `world`, sorted; empty means valid.
    pub fn validate(&self, world: &World<'_>, hasher: &Hasher<'_>) -> Vec<Difference> {
        // Siblings are stat'ed relative to one open directory: the kernel then walks one
        // component per file instead of the whole absolute path.
        let mut groups: BTreeMap<Option<RelPath>, Vec<(&RelPath, &PathFact)>> = BTreeMap::new();
        for (p, f) in &self.paths {
            let parent = if p.is_external() { None } else { p.parent() };
            groups.entry(parent).or_default().push((p, f));
        }
        let groups: Vec<SiblingGroup<'_>> = groups.into_iter().collect();
        let root = world.workspace_root;
        // Most facts cost one stat; a thread costs more to start and join than a few hundred
        // of those, so a small fingerprint is checked on this thread alone.
        let parallel = self.paths.len() >= PARALLEL_FROM_PATHS;
        let per_path = hasher.map_parallel_if(parallel, &groups, |(parent, items), buf| {
            let observed = parent.as_ref().and_then(|d| {
                stat::observe_siblings(&d.to_abs(root), items.iter().map(|(p, _)| p.file_name()))
            });
            let mut out = Vec::new();
            for (i, (p, fact)) in items.iter().enumerate() {
                let obs = match &observed {
                    Some(o) => o[i],
                    None => stat::observe(&p.to_abs(root)),
                };
                out.extend(check_path(root, p, fact, obs, hasher, buf));
            }
            out
        });
        let mut out: Vec<Difference> = per_path.into_iter().flatten().collect();

        for (name, stored) in &self.envs {
            let now = world
                .env
                .get(name.as_bytes())
                .map(|v| world.env_key.hash_env(name.as_bytes(), v));
            if let Some(d) = env_diff(name, stored.as_ref(), now.as_ref()) {
                out.push(d);
            }
        }
        for set in &self.env_sets {
            let now: BTreeMap<EnvName, _> = world
                .env
                .iter()
                .filter(|(n, _)| {
                    set.selector.matches(n)
                        && !set.excluded.contains(&EnvName((*n).clone()))
                        && !crate::model::matches_any(world.untracked_env_patterns, n)
                })
                .map(|(n, v)| (EnvName(n.clone()), world.env_key.hash_env(n, v)))
                .collect();
            let names: BTreeSet<&EnvName> = now.keys().chain(set.matches.keys()).collect();
            for n in names {
                // Untracked by the user's config now: no longer part of the comparison.
                if crate::model::matches_any(world.untracked_env_patterns, n.as_bytes()) {
                    continue;
                }
                if let Some(d) = env_diff(n, set.matches.get(n), now.get(n)) {
                    out.push(d);
                }
            }
        }
        let listings = Listings::default();
        let globs_unchanged = self.glob_dirs_unchanged(world.workspace_root, &listings, hasher);
        for g in self.globs.iter().filter(|_| !globs_unchanged) {
            let base = g.base.to_abs(world.workspace_root);
            let now = crate::glob::match_paths_in(&base, &g.pattern, &listings).unwrap_or_default();
            if now != g.matches {
                out.push(Difference::GlobChanged {
                    base: g.base.clone(),
                    pattern: g.pattern.clone(),
                    added: now.difference(&g.matches).cloned().collect(),
                    removed: g.matches.difference(&now).cloned().collect(),
                });
            }
        }
        for (k, stored) in &self.salts {
            if let Some(v) = world.salts.get(k) {
                if world.env_key.hash_salt(k, v) != *stored {
                    out.push(Difference::SaltChanged(k.clone()));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

impl PostRunFingerprint {
    /// Whether every directory the globs were matched against still lists what matching saw
    /// in it then: every match set is then as stored. A directory whose stat is what it was
    /// when its listing last matched, and old enough for the racy rule, is not read again
    /// (the reasons of [`check_listing`]).
    fn glob_dirs_unchanged(&self, root: &Path, listings: &Listings, hasher: &Hasher<'_>) -> bool {
        !self.glob_dirs.is_empty()
            && self.glob_dirs.iter().all(|(dir, expected)| {
                let abs = dir.to_abs(root);
                let stat = std::fs::metadata(&abs)
                    .ok()
                    .map(|m| StatKey::from_metadata(&m));
                // Its own memo slot: a directory a tool listed (`check_listing`) keeps its
                // digest at its own path, and two digests sharing one slot would replace
                // each other at every hit. No path holds a NUL, so this one is free.
                let slot = abs.join("\0glob listing");
                if stat.and_then(|key| hasher.remembered(&slot, &key)) == Some(*expected) {
                    return true;
                }
                let same = listings.digest(&abs) == *expected;
                if let (true, Some(key)) = (same, stat) {
                    hasher.remember(&slot, key, *expected);
                }
                same
            })
    }
}

/// Facts whose paths share one parent directory (`None`: paths outside the workspace).
type SiblingGroup<'a> = (Option<RelPath>, Vec<(&'a RelPath, &'a PathFact)>);

fn env_diff(
    name: &EnvName,
    was: Option<&crate::Hash32>,
    now: Option<&crate::Hash32>,
) -> Option<Difference> {
    match (was, now) {
        (None, None) => None,
        (Some(a), Some(b)) if a == b => None,
        (Some(_), Some(_)) => Some(Difference::EnvChanged(name.clone())),
        (None, Some(_)) => Some(Difference::EnvSet(name.clone())),
        (Some(_), None) => Some(Difference::EnvUnset(name.clone())),
    }
}

/// Facts that allow one of two states: "absent, or ..." (rules 3 and 4) and tool state
/// "as the run found it, or as it left it" (rule 9). `None`: not such a fact.
fn check_alternatives(
    root: &Path,
    path: &RelPath,
    fact: &PathFact,
    obs: &stat::Observed,
    hasher: &Hasher<'_>,
    buf: &mut [u8],
) -> Option<Vec<Difference>> {
    let now = obs.existence;
    let differs = |ok: bool| {
        if ok {
            Vec::new()
        } else {
            vec![Difference::ExistingOutputDiffers(path.clone())]
        }
    };
    let content_is = |buf: &mut [u8], hash: &Hash32, executable: bool| {
        now == Existence::File
            && obs.executable == executable
            && hasher
                .hash_file(&path.to_abs(root), buf)
                .is_ok_and(|h| h.hash == *hash)
    };
    // "Absent, or holding exactly these names" (rule 4): a directory the run created.
    if fact.existence == Existence::Absent
        && let Some(listing) = &fact.listing
    {
        let same = now == Existence::Dir
            && read_names(&path.to_abs(root)).is_ok_and(|names| names == listing.names);
        return Some(differs(now == Existence::Absent || same));
    }
    let content = fact.content.as_ref()?;
    // "Absent, or this output" (rule 3): absent, or already equal to what restore writes.
    if fact.existence == Existence::Absent {
        let equal = content_is(buf, &content.hash, content.executable);
        return Some(differs(now == Existence::Absent || equal));
    }
    // Rule 9: tool state as the run found it, or as it left it.
    let output = content.or_output.as_ref()?;
    let either = content_is(buf, &content.hash, content.executable)
        || content_is(buf, &output.hash, output.executable);
    Some(if either {
        Vec::new()
    } else if now == Existence::File {
        vec![Difference::FileChanged(path.clone())]
    } else {
        vec![Difference::FileDisappeared(path.clone())]
    })
}

fn check_path(
    root: &Path,
    path: &RelPath,
    fact: &PathFact,
    obs: stat::Observed,
    hasher: &Hasher<'_>,
    buf: &mut [u8],
) -> Vec<Difference> {
    if let Some(out) = check_alternatives(root, path, fact, &obs, hasher, buf) {
        return out;
    }
    let now = obs.existence;
    let mut out = Vec::new();
    if now != fact.existence {
        out.push(match (fact.existence, now) {
            (Existence::Absent, _) => Difference::FileAppeared(path.clone()),
            (_, Existence::Absent) => Difference::FileDisappeared(path.clone()),
            (was, now) => Difference::KindChanged {
                path: path.clone(),
                was,
                now,
            },
        });
        return out;
    }
    if let Some(content) = &fact.content {
        if content.executable != obs.executable {
            out.push(Difference::ModeChanged {
                path: path.clone(),
                executable: obs.executable,
            });
        }
        if let Some(was) = content.stamp_mtime_ns {
            if obs.stat.is_none_or(|s| s.mtime_ns != was) {
                out.push(Difference::StampTouched(path.clone()));
            }
        }
        let same_stat = content.stat.is_some() && content.stat == obs.stat;
        if !same_stat {
            match hasher.hash_file(&path.to_abs(root), buf) {
                Ok(h) if h.hash == content.hash => {}
                Ok(_) => out.push(Difference::FileChanged(path.clone())),
                Err(e) => out.push(Difference::Unreadable {
                    path: path.clone(),
                    error: e.kind().to_string(),
                }),
            }
        }
    }
    if let Some(was) = fact.mode_only {
        if was != obs.executable {
            out.push(Difference::ModeChanged {
                path: path.clone(),
                executable: obs.executable,
            });
        }
    }
    if let Some(listing) = &fact.listing {
        // Taken before the names are read, as `check_listing` needs.
        let stat = obs.stat.filter(|_| now == Existence::Dir);
        out.extend(check_listing(root, path, listing, stat, hasher));
    }
    out
}

/// Whether the directory at `path` still holds exactly the names of `listing`. A directory
/// whose stat is what it was when this listing last matched, and old enough for the racy
/// rule, is not read again: creating, removing or renaming an entry changes the
/// directory's mtime and ctime, and ctime cannot be set back. `stat` (the directory's, if
/// it is one) must be taken before the names are read, so a change during the read leaves
/// a stat that never comes back.
fn check_listing(
    root: &Path,
    path: &RelPath,
    listing: &ListingFact,
    stat: Option<StatKey>,
    hasher: &Hasher<'_>,
) -> Vec<Difference> {
    let abs = path.to_abs(root);
    let expected = listing_digest(listing);
    if stat.and_then(|key| hasher.remembered(&abs, &key)) == Some(expected) {
        return Vec::new();
    }
    match read_names(&abs) {
        Ok(mut names) => {
            names.retain(|n| !listing.skip.contains(n));
            if names == listing.names {
                if let Some(key) = stat {
                    hasher.remember(&abs, key, expected);
                }
                Vec::new()
            } else {
                vec![Difference::ListingChanged {
                    path: path.clone(),
                    added: names.difference(&listing.names).cloned().collect(),
                    removed: listing.names.difference(&names).cloned().collect(),
                }]
            }
        }
        Err(e) => vec![Difference::Unreadable {
            path: path.clone(),
            error: e.kind().to_string(),
        }],
    }
}

/// What the hash memo remembers for a directory whose listing matched: a digest of the
/// expected names and skipped names, in its own domain so it never equals a file's content
/// hash. Each set and each name is length-prefixed, so no two listings share an encoding
/// (a name may hold any byte but `/` and NUL, separators included).
fn listing_digest(listing: &ListingFact) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(b"runwire directory listing v2\0");
    for set in [&listing.names, &listing.skip] {
        h.update(&(set.len() as u64).to_le_bytes());
        for name in set {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
    }
    h.finalize().into()
}

/// The names in a directory (non-UTF-8 names lossily converted: they only need to compare).
pub(crate) fn read_names(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(dir)? {
        names.insert(e?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::fingerprint::ContentFact;
    use crate::hash::Hash32;

    /// A world with no env, no salts and a zero key, around a workspace root.
    struct Empty {
        env: EnvMap,
        salts: BTreeMap<String, Vec<u8>>,
        key: EnvKey,
    }

    impl Default for Empty {
        fn default() -> Self {
            Self {
                env: EnvMap::new(),
                salts: BTreeMap::new(),
                key: EnvKey([0; 32]),
            }
        }
    }

    impl Empty {
        fn world<'a>(&'a self, root: &'a Path) -> World<'a> {
            World {
                workspace_root: root,
                env: &self.env,
                env_key: &self.key,
                salts: &self.salts,
                untracked_env_patterns: &[],
            }
        }
    }

    #[test]
    fn an_unchanged_remembered_stat_skips_rehashing_and_a_changed_one_does_not() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.txt"), b"abc").unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        let h = Hasher::new(None, later)
            .hash_file(&d.path().join("a.txt"), &mut [0u8; 4096])
            .unwrap();
        let mut fp = PostRunFingerprint::default();
        // A planted hash with the real stat: valid only if the stat is trusted.
        fp.paths.insert(
            RelPath::parse("a.txt").unwrap(),
            PathFact {
                existence: Existence::File,
                content: Some(ContentFact {
                    hash: Hash32::of(b"planted"),
                    executable: false,
                    stamp_mtime_ns: None,
                    or_output: None,
                    stat: h.stable,
                }),
                listing: None,
                mode_only: None,
            },
        );
        let empty = Empty::default();
        let world = empty.world(d.path());
        assert!(
            fp.validate(&world, &Hasher::new(None, SystemTime::now()))
                .is_empty()
        );
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(d.path().join("a.txt"), b"abd").unwrap();
        assert_eq!(
            fp.validate(&world, &Hasher::new(None, SystemTime::now())),
            vec![Difference::FileChanged(RelPath::parse("a.txt").unwrap())]
        );
    }

    /// A fingerprint holding one fact: the directory `dir` lists exactly `names`.
    fn listing_of(dir: &str, names: &[&str]) -> PostRunFingerprint {
        let mut fp = PostRunFingerprint::default();
        fp.paths.insert(
            RelPath::parse(dir).unwrap(),
            PathFact {
                existence: Existence::Dir,
                content: None,
                listing: Some(ListingFact {
                    names: names.iter().map(|n| (*n).to_owned()).collect(),
                    skip: BTreeSet::new(),
                }),
                mode_only: None,
            },
        );
        fp
    }

    fn only_listing(fp: &PostRunFingerprint) -> &ListingFact {
        fp.paths.values().next().unwrap().listing.as_ref().unwrap()
    }

    /// A listing that matched is remembered under the directory's stat and not read again
    /// while that stat holds; any entry created or removed changes the stat, and the
    /// listing is compared again.
    #[test]
    fn a_remembered_listing_is_trusted_only_while_the_directory_stat_holds() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("src");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.ts"), b"").unwrap();
        let empty = Empty::default();
        let world = empty.world(d.path());
        let memo = crate::hash::HashMemo::new();
        // Validation "started" later than every change here: the racy rule trusts them.
        let later = SystemTime::now() + Duration::from_secs(5);
        let hasher = Hasher::new(Some(&memo), later);
        let fp = listing_of("src", &["a.ts"]);
        assert!(fp.validate(&world, &hasher).is_empty());
        let stat = StatKey::from_metadata(&std::fs::metadata(&dir).unwrap());
        let digest = listing_digest(only_listing(&fp));
        assert_eq!(
            memo.get(&dir, &stat),
            Some(digest),
            "the match is remembered"
        );

        // Trusted while the stat holds: a planted memo entry for another listing with the
        // directory's real stat is believed (what makes the second look cheap).
        let other = listing_of("src", &["a.ts", "b.ts"]);
        let other_digest = listing_digest(only_listing(&other));
        memo.put(&dir, stat, other_digest);
        assert!(other.validate(&world, &hasher).is_empty());

        // A new entry changes the directory's stat: the listing is read and differs.
        std::fs::write(dir.join("c.ts"), b"").unwrap();
        assert_eq!(
            fp.validate(&world, &hasher),
            vec![Difference::ListingChanged {
                path: RelPath::parse("src").unwrap(),
                added: vec!["c.ts".to_owned()],
                removed: Vec::new(),
            }]
        );
        // So does a removal (the planted entry is no longer consulted either).
        std::fs::remove_file(dir.join("c.ts")).unwrap();
        std::fs::remove_file(dir.join("a.ts")).unwrap();
        assert_eq!(fp.validate(&world, &hasher).len(), 1);
        assert_eq!(other.validate(&world, &hasher).len(), 1);
    }

    /// A fingerprint holding one glob under the root, matched now, with the directories its
    /// match set was computed from (as classification records them).
    fn globbed(root: &Path, pattern: &str) -> PostRunFingerprint {
        let listings = Listings::default();
        let matches = crate::glob::match_paths_in(root, pattern, &listings).unwrap();
        PostRunFingerprint {
            globs: vec![crate::fingerprint::GlobFact {
                base: RelPath::root(),
                pattern: pattern.to_owned(),
                matches,
            }],
            glob_dirs: crate::classify::glob_dirs(root, &listings),
            ..PostRunFingerprint::default()
        }
    }

    fn with_matches(fp: &PostRunFingerprint, matches: &[&str]) -> PostRunFingerprint {
        let mut fp = fp.clone();
        fp.globs[0].matches = matches.iter().map(|m| (*m).to_owned()).collect();
        fp
    }

    /// While every directory a glob walked lists as it did, its stored match set is
    /// believed without matching (a planted set shows it); a directory that changed makes
    /// every glob match again, so a new match is seen and an unrelated name is not a
    /// difference; a fingerprint without the directories (stored before them) always matches.
    #[test]
    fn globs_are_matched_again_only_when_a_directory_they_walked_changed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for (path, body) in [("src/a.ts", ""), ("src/b.js", ""), ("src/sub/c.ts", "")] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), body).unwrap();
        }
        let fp = globbed(root, "src/**/*.ts");
        let walked: Vec<&str> = fp.glob_dirs.keys().map(RelPath::as_str).collect();
        assert_eq!(walked, ["", "src", "src/sub"]);
        let empty = Empty::default();
        let world = empty.world(root);
        let memo = crate::hash::HashMemo::new();
        let later = SystemTime::now() + Duration::from_secs(5);
        let hasher = Hasher::new(Some(&memo), later);
        assert!(fp.validate(&world, &hasher).is_empty());
        assert_eq!(memo.len(), 3, "each walked directory is remembered");

        let planted = with_matches(&fp, &["src/planted.ts"]);
        assert!(planted.validate(&world, &hasher).is_empty());
        let mut unhinted = planted.clone();
        unhinted.glob_dirs.clear();
        assert_eq!(unhinted.validate(&world, &hasher).len(), 1);

        std::fs::write(root.join("src/sub/notes.md"), "").unwrap();
        assert!(fp.validate(&world, &hasher).is_empty());
        assert_eq!(planted.validate(&world, &hasher).len(), 1);

        std::fs::write(root.join("src/sub/d.ts"), "").unwrap();
        assert_eq!(
            fp.validate(&world, &hasher),
            vec![Difference::GlobChanged {
                base: RelPath::root(),
                pattern: "src/**/*.ts".to_owned(),
                added: vec!["src/sub/d.ts".to_owned()],
                removed: Vec::new(),
            }]
        );
        // A directory the walk found and that is gone now is a change too.
        std::fs::remove_dir_all(root.join("src/sub")).unwrap();
        assert_eq!(
            globbed(root, "src/**/*.ts").validate(&world, &hasher),
            vec![]
        );
        assert_eq!(fp.validate(&world, &hasher).len(), 1);
    }

    /// A directory changed in the second validation started is compared but never
    /// remembered (git's racy rule, as for file hashes).
    #[test]
    fn a_listing_changed_since_validation_started_is_not_remembered() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("src")).unwrap();
        let empty = Empty::default();
        let world = empty.world(d.path());
        let memo = crate::hash::HashMemo::new();
        let earlier = SystemTime::now() - Duration::from_secs(5);
        let fp = listing_of("src", &[]);
        assert!(
            fp.validate(&world, &Hasher::new(Some(&memo), earlier))
                .is_empty()
        );
        assert!(memo.is_empty());
    }

    /// Two listings never share a digest, even when a name holds what would otherwise be a
    /// separator (found in review: names `\x01\x01a` + skip `b` against skip `\x01a`, `\x01b`).
    #[test]
    fn listing_digests_do_not_collide_across_names_and_skips() {
        let fact = |names: &[&str], skip: &[&str]| ListingFact {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            skip: skip.iter().map(|n| (*n).to_owned()).collect(),
        };
        let cases = [
            fact(&["\x01\x01a"], &["b"]),
            fact(&[], &["\x01a", "\x01b"]),
            fact(&["ab"], &[]),
            fact(&["a", "b"], &[]),
            fact(&["a"], &["b"]),
            fact(&[], &["a", "b"]),
            fact(&[], &[]),
        ];
        for (i, a) in cases.iter().enumerate() {
            for b in &cases[i + 1..] {
                assert_ne!(listing_digest(a), listing_digest(b), "{a:?} / {b:?}");
            }
        }
    }
}
