//! The `inputs` / `outputs` globs of a task, relative to its package directory, with
//! `!negations`. They become declarations, exactly as if a tool had sent them: positive
//! input globs are fingerprinted (match set and contents), negated ones drop traced inputs,
//! positive output globs add outputs, negated ones drop traced outputs.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::Error;

/// Compiled positive and negated patterns of one list.
#[derive(Debug, Clone)]
pub struct Patterns {
    pub include: GlobSet,
    pub exclude: GlobSet,
    /// The positive patterns as written, for `ReportGlob`.
    pub include_sources: Vec<String>,
}

impl Patterns {
    /// Compiles a list; `what` names the list in errors (`tasks.build.inputs`).
    pub fn new(patterns: &[String], what: &str) -> Result<Self, Error> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        let mut include_sources = Vec::new();
        for pattern in patterns {
            let (negated, glob) = match pattern.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, pattern.as_str()),
            };
            let glob = glob.trim_start_matches("./");
            let compiled = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| Error::TaskSettings(format!("{what}: `{pattern}`: {}", e.kind())))?;
            if negated {
                exclude.add(compiled);
            } else {
                include.add(compiled);
                include_sources.push(glob.to_owned());
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| Error::TaskSettings(format!("{what}: {e}")))
        };
        Ok(Self {
            include: build(include)?,
            exclude: build(exclude)?,
            include_sources,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether an absolute path under `base` matches a negated pattern.
    pub fn excludes(&self, base: &Path, path: &Path) -> bool {
        !self.exclude.is_empty()
            && path
                .strip_prefix(base)
                .is_ok_and(|rel| self.exclude.is_match(rel))
    }

    /// Files and directories under `base` matching a positive pattern and no negated one,
    /// sorted. `skip` directories (the runner's cache) are not entered.
    pub fn walk(&self, base: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
        let mut found = Vec::new();
        if self.include.is_empty() {
            return found;
        }
        let mut stack = vec![base.to_owned()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if skip.iter().any(|s| path.starts_with(s)) {
                    continue;
                }
                let Ok(rel) = path.strip_prefix(base) else {
                    continue;
                };
                if self.include.is_match(rel) && !self.exclude.is_match(rel) {
                    found.push(path.clone());
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path);
                }
            }
        }
        found.sort();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negations_and_walk() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        for f in ["src/a.ts", "src/b.test.ts", "src/deep/c.ts", "README.md"] {
            std::fs::create_dir_all(base.join(f).parent().unwrap()).unwrap();
            std::fs::write(base.join(f), "x").unwrap();
        }
        let p = Patterns::new(&["src/**/*.ts".into(), "!**/*.test.ts".into()], "inputs").unwrap();
        let found: Vec<_> = p
            .walk(base, &[])
            .into_iter()
            .map(|f| f.strip_prefix(base).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["src/a.ts", "src/deep/c.ts"]);
        assert!(p.excludes(base, &base.join("src/b.test.ts")));
        assert!(!p.excludes(base, &base.join("src/a.ts")));
    }
}
