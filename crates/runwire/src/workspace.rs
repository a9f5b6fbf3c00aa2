//! Finding the workspace root and its packages.
//!
//! The root is the nearest directory, from the current one upwards, holding `runwire.json`,
//! `pnpm-workspace.yaml` or a `package.json` with `workspaces`; without any of those, the
//! nearest directory with a `package.json` is a one-package workspace. Packages come from
//! npm/yarn `workspaces` (array or `{ "packages": [...] }`) or pnpm's `packages:` list, with
//! `!negations`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{self, Config};
use crate::error::Error;

/// One package: a directory with a package.json (the root is one too).
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Absolute directory.
    pub dir: PathBuf,
    /// Directory relative to the workspace root, `/`-separated; `.` for the root.
    pub rel: String,
    pub scripts: BTreeMap<String, String>,
    /// Indexes (into `Workspace::packages`) of the workspace packages it depends on.
    pub deps: Vec<usize>,
}

/// The loaded workspace: root, config and packages (root first).
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub packages: Vec<Package>,
    /// Whether the root lists member packages (then `-r` leaves the root package out).
    pub has_members: bool,
}

#[derive(Debug, Default, Deserialize)]
struct PackageJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scripts: BTreeMap<String, String>,
    #[serde(default)]
    workspaces: Option<Workspaces>,
    #[serde(default)]
    dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default, rename = "devDependencies")]
    dev_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default, rename = "peerDependencies")]
    peer_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default, rename = "optionalDependencies")]
    optional_dependencies: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Workspaces {
    List(Vec<String>),
    Object {
        #[serde(default)]
        packages: Vec<String>,
    },
}

impl PackageJson {
    fn read(path: &Path) -> Result<Option<Self>, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => config::parse_json(path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn dependency_names(&self) -> impl Iterator<Item = &String> {
        self.dependencies
            .keys()
            .chain(self.dev_dependencies.keys())
            .chain(self.peer_dependencies.keys())
            .chain(self.optional_dependencies.keys())
    }
}

/// Finds the root from `start` upwards.
pub fn find_root(start: &Path) -> Result<PathBuf, Error> {
    let mut nearest_package = None;
    for dir in start.ancestors() {
        if dir.join(config::CONFIG_FILE).is_file() || dir.join("pnpm-workspace.yaml").is_file() {
            return Ok(dir.to_owned());
        }
        let manifest = dir.join("package.json");
        if manifest.is_file() {
            if PackageJson::read(&manifest)?.is_some_and(|p| p.workspaces.is_some()) {
                return Ok(dir.to_owned());
            }
            nearest_package.get_or_insert_with(|| dir.to_owned());
        }
    }
    nearest_package.ok_or_else(|| Error::NoWorkspace {
        start: start.to_owned(),
    })
}

impl Workspace {
    /// Loads the workspace that contains `start`.
    pub fn load(start: &Path) -> Result<Self, Error> {
        let root = find_root(start)?;
        let loaded = Config::load(&root)?;
        let (config_path, config) = match loaded {
            Some((path, config)) => (Some(path), config),
            None => (None, Config::default()),
        };
        let root_manifest = PackageJson::read(&root.join("package.json"))?.unwrap_or_default();
        let patterns = member_patterns(&root, &root_manifest)?;
        let mut manifests = vec![(root.clone(), ".".to_owned(), root_manifest)];
        if !patterns.is_empty() {
            for rel in expand_members(&root, &patterns)? {
                let dir = root.join(&rel);
                if let Some(manifest) = PackageJson::read(&dir.join("package.json"))? {
                    manifests.push((dir, rel, manifest));
                }
            }
        }
        let has_members = manifests.len() > 1;
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut packages = Vec::with_capacity(manifests.len());
        for (index, (dir, rel, manifest)) in manifests.iter().enumerate() {
            let name = manifest.name.clone().unwrap_or_else(|| {
                if rel == "." {
                    dir.file_name()
                        .map_or_else(|| "root".into(), |n| n.to_string_lossy().into_owned())
                } else {
                    rel.clone()
                }
            });
            if let Some(&other) = by_name.get(&name) {
                let other: &Package = &packages[other];
                return Err(Error::Workspace {
                    path: dir.join("package.json"),
                    message: format!(
                        "package name `{name}` is also used by {}",
                        other.dir.join("package.json").display()
                    ),
                });
            }
            by_name.insert(name.clone(), index);
            packages.push(Package {
                name,
                dir: dir.clone(),
                rel: rel.clone(),
                scripts: manifest.scripts.clone(),
                deps: Vec::new(),
            });
        }
        for (index, (_, _, manifest)) in manifests.iter().enumerate() {
            let mut deps: Vec<usize> = manifest
                .dependency_names()
                .filter_map(|n| by_name.get(n).copied())
                .filter(|&d| d != index)
                .collect();
            deps.sort_unstable();
            deps.dedup();
            packages[index].deps = deps;
        }
        Ok(Self {
            root,
            config,
            config_path,
            packages,
            has_members,
        })
    }

    /// The package whose directory is the deepest one containing `dir`.
    pub fn package_at(&self, dir: &Path) -> usize {
        self.packages
            .iter()
            .enumerate()
            .filter(|(_, p)| dir.starts_with(&p.dir))
            .max_by_key(|(_, p)| p.dir.components().count())
            .map_or(0, |(i, _)| i)
    }

    pub fn package_by_name(&self, name: &str) -> Option<usize> {
        self.packages.iter().position(|p| p.name == name)
    }
}

fn member_patterns(root: &Path, manifest: &PackageJson) -> Result<Vec<String>, Error> {
    let pnpm = root.join("pnpm-workspace.yaml");
    match std::fs::read_to_string(&pnpm) {
        Ok(text) => {
            return crate::pnpm::parse_packages(&text).map_err(|(line, message)| {
                Error::Workspace {
                    path: pnpm,
                    message: format!("line {line}: {message}"),
                }
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(Error::Io { path: pnpm, source }),
    }
    Ok(match &manifest.workspaces {
        Some(Workspaces::List(list) | Workspaces::Object { packages: list }) => list.clone(),
        None => Vec::new(),
    })
}

/// Directories (relative, sorted) that match the member globs and hold a package.json.
fn expand_members(root: &Path, patterns: &[String]) -> Result<Vec<String>, Error> {
    let mut include = globset::GlobSetBuilder::new();
    let mut exclude = globset::GlobSetBuilder::new();
    for pattern in patterns {
        let (negated, glob) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        let glob = glob.trim_start_matches("./").trim_end_matches('/');
        let compiled = globset::GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Workspace {
                path: root.to_owned(),
                message: format!("workspace pattern `{pattern}`: {}", e.kind()),
            })?;
        if negated {
            exclude.add(compiled);
        } else {
            include.add(compiled);
        }
    }
    let build = |b: globset::GlobSetBuilder| {
        b.build().map_err(|e| Error::Workspace {
            path: root.to_owned(),
            message: e.to_string(),
        })
    };
    let (include, exclude) = (build(include)?, build(exclude)?);
    // Without `**` a pattern cannot match deeper than its own number of parts, so the walk
    // stops there instead of visiting every directory of a large repo.
    let max_depth = patterns
        .iter()
        .filter(|p| !p.starts_with('!'))
        .map(|p| {
            if p.contains("**") {
                usize::MAX
            } else {
                p.trim_start_matches("./")
                    .trim_end_matches('/')
                    .split('/')
                    .count()
            }
        })
        .max()
        .unwrap_or(0);
    let mut found = Vec::new();
    let mut stack = vec![(root.to_owned(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        if depth >= max_depth {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(source) => return Err(Error::Io { path: dir, source }),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Installed packages and hidden directories are never workspace members.
            if name == "node_modules" || name.starts_with('.') {
                continue;
            }
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let child_rel = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            if include.is_match(&child_rel)
                && !exclude.is_match(&child_rel)
                && entry.path().join("package.json").is_file()
            {
                found.push(child_rel.clone());
            }
            stack.push((entry.path(), child_rel, depth + 1));
        }
    }
    found.sort();
    Ok(found)
}
