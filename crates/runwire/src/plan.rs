//! Resolving `runwire run <task>` into an ordered list of task runs.
//!
//! A task exists in a package when `runwire.json` has `pkg#task` or `task` with a
//! `command`, or the package.json has a script of that name (runwire.json settings without
//! a command then apply to the script). `dependsOn` edges are followed; the result is in
//! dependency order (every task after all of its dependencies), deterministic for a given
//! workspace.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::config::{DependsOn, TaskConfig};
use crate::error::Error;
use crate::workspace::Workspace;

/// Where a task's command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandSource {
    RunwireJson,
    PackageJsonScript,
}

/// One task run in the plan.
#[derive(Debug, Clone)]
pub struct PlannedTask {
    pub package: usize,
    pub package_name: String,
    /// Package directory relative to the workspace root (`.` for the root).
    pub package_rel: String,
    pub task: String,
    /// `package:task`, used as the output prefix and in messages.
    pub label: String,
    /// The shell command, with extra `--` arguments appended (quoted).
    pub command: String,
    pub source: CommandSource,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// Working directory relative to the workspace root, `/`-separated.
    pub cwd_rel: String,
    /// The effective settings (defaults for a plain script).
    pub config: TaskConfig,
    /// Indexes into `Plan::tasks` of the tasks that must succeed first.
    pub deps: Vec<usize>,
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Selection {
    pub task: String,
    /// Packages to run the task in.
    pub packages: Vec<usize>,
    /// Missing task in a selected package: error (true) or skip the package (false).
    pub strict: bool,
    /// Arguments after `--`, appended to the selected tasks (not to their dependencies).
    pub extra_args: Vec<String>,
}

/// The ordered task runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tasks: Vec<PlannedTask>,
}

impl Selection {
    /// Builds the selection from the command-line flags.
    pub fn new(
        ws: &Workspace,
        cwd: &Path,
        task: &str,
        recursive: bool,
        filters: &[String],
        extra_args: Vec<String>,
    ) -> Result<Self, Error> {
        let packages = if !filters.is_empty() {
            let matched = filter_packages(ws, filters)?;
            if matched.is_empty() {
                return Err(Error::Task(format!(
                    "no package matches --filter {}",
                    filters.join(", ")
                )));
            }
            matched
        } else if recursive {
            let start = usize::from(ws.has_members);
            (start..ws.packages.len()).collect()
        } else {
            vec![ws.package_at(cwd)]
        };
        Ok(Self {
            task: task.to_owned(),
            packages,
            strict: filters.is_empty() && !recursive,
            extra_args,
        })
    }
}

fn filter_packages(ws: &Workspace, filters: &[String]) -> Result<Vec<usize>, Error> {
    let mut by_name = globset::GlobSetBuilder::new();
    let mut by_path = globset::GlobSetBuilder::new();
    for filter in filters {
        let bad = |e: globset::Error| Error::Task(format!("--filter `{filter}`: {}", e.kind()));
        if let Some(path) = filter.strip_prefix("./") {
            let glob = globset::GlobBuilder::new(path.trim_end_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(bad)?;
            by_path.add(glob);
        } else {
            by_name.add(globset::Glob::new(filter).map_err(bad)?);
        }
    }
    let by_name = by_name
        .build()
        .map_err(|e| Error::Task(format!("--filter: {e}")))?;
    let by_path = by_path
        .build()
        .map_err(|e| Error::Task(format!("--filter: {e}")))?;
    Ok(ws
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| by_name.is_match(&p.name) || by_path.is_match(&p.rel))
        .map(|(i, _)| i)
        .collect())
}

/// The command and settings of `task` in package `pkg`, if the package defines it.
fn definition(
    ws: &Workspace,
    pkg: usize,
    task: &str,
) -> Option<(String, CommandSource, TaskConfig)> {
    let package = &ws.packages[pkg];
    let entry = ws
        .config
        .tasks
        .get(&format!("{}#{task}", package.name))
        .or_else(|| ws.config.tasks.get(task));
    if let Some(command) = entry.and_then(|e| e.command.clone()) {
        return Some((
            command,
            CommandSource::RunwireJson,
            entry.cloned().unwrap_or_default(),
        ));
    }
    let script = package.scripts.get(task)?;
    Some((
        script.clone(),
        CommandSource::PackageJsonScript,
        entry.cloned().unwrap_or_default(),
    ))
}

/// Quotes one argument for `sh` unless it is made only of safe characters.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Joins `base` and a relative path lexically (no filesystem access, `..` folded).
fn join_lexical(base: &Path, rel: &str) -> PathBuf {
    let mut out = base.to_owned();
    for part in Path::new(rel).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

fn relative_to(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

struct Builder<'a> {
    ws: &'a Workspace,
    index: HashMap<(usize, String), usize>,
    tasks: Vec<PlannedTask>,
    /// Tasks being visited, for cycle detection and its message.
    stack: Vec<(usize, String)>,
}

impl Builder<'_> {
    fn visit(&mut self, pkg: usize, task: &str, extra: &[String]) -> Result<usize, Error> {
        let key = (pkg, task.to_owned());
        if let Some(&done) = self.index.get(&key) {
            return Ok(done);
        }
        if let Some(pos) = self.stack.iter().position(|k| *k == key) {
            let mut cycle: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(p, t)| format!("{}:{t}", self.ws.packages[*p].name))
                .collect();
            cycle.push(format!("{}:{task}", self.ws.packages[pkg].name));
            return Err(Error::Cycle(cycle.join(" -> ")));
        }
        let package = &self.ws.packages[pkg];
        let (mut command, source, config) = definition(self.ws, pkg, task).ok_or_else(|| {
            Error::Task(format!(
                "package `{}` ({}) has no task `{task}`: no runwire.json entry with a command and no package.json script",
                package.name, package.rel
            ))
        })?;
        for arg in extra {
            command.push(' ');
            command.push_str(&shell_quote(arg));
        }
        self.stack.push(key.clone());
        let mut deps = Vec::new();
        for entry in &config.depends_on {
            // Validated when the config was loaded.
            let Some(dep) = DependsOn::parse(entry) else {
                continue;
            };
            match dep {
                DependsOn::SamePackage(name) => {
                    if definition(self.ws, pkg, &name).is_none() {
                        return Err(Error::Task(format!(
                            "task `{}:{task}` depends on `{name}`, which package `{}` does not define",
                            package.name, package.name
                        )));
                    }
                    deps.push(self.visit(pkg, &name, &[])?);
                }
                DependsOn::Dependencies(name) => {
                    for &d in &package.deps {
                        if definition(self.ws, d, &name).is_some() {
                            deps.push(self.visit(d, &name, &[])?);
                        }
                    }
                }
                DependsOn::Package {
                    package: other,
                    task: name,
                } => {
                    let d = self.ws.package_by_name(&other).ok_or_else(|| {
                        Error::Task(format!(
                            "task `{}:{task}` depends on `{other}#{name}`, but there is no package `{other}`",
                            package.name
                        ))
                    })?;
                    deps.push(self.visit(d, &name, &[])?);
                }
            }
        }
        self.stack.pop();
        deps.sort_unstable();
        deps.dedup();
        let cwd = match &config.cwd {
            Some(rel) => join_lexical(&package.dir, rel),
            None => package.dir.clone(),
        };
        let index = self.tasks.len();
        self.tasks.push(PlannedTask {
            package: pkg,
            package_name: package.name.clone(),
            package_rel: package.rel.clone(),
            task: task.to_owned(),
            label: format!("{}:{task}", package.name),
            command,
            source,
            cwd_rel: relative_to(&self.ws.root, &cwd),
            cwd,
            config,
            deps,
        });
        self.index.insert(key, index);
        Ok(index)
    }
}

impl Plan {
    /// Resolves the selection and every dependency into dependency order.
    pub fn build(ws: &Workspace, selection: &Selection) -> Result<Self, Error> {
        let mut builder = Builder {
            ws,
            index: HashMap::new(),
            tasks: Vec::new(),
            stack: Vec::new(),
        };
        let mut any = false;
        for &pkg in &selection.packages {
            if !selection.strict && definition(ws, pkg, &selection.task).is_none() {
                continue;
            }
            builder.visit(pkg, &selection.task, &selection.extra_args)?;
            any = true;
        }
        if !any {
            return Err(Error::Task(format!(
                "no selected package defines task `{}`",
                selection.task
            )));
        }
        Ok(Self {
            tasks: builder.tasks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--mode=prod"), "--mode=prod");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn lexical_join() {
        assert_eq!(
            join_lexical(Path::new("/w/p"), "../q/./r"),
            PathBuf::from("/w/q/r")
        );
    }
}
