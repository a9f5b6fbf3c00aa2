//! Resolving `runwire run <task>...` into an ordered list of task runs.
//!
//! A task exists in a package when `runwire.json` has `pkg#task` or `task` with a
//! `command`, or the package.json has a script of that name (runwire.json settings without
//! a command then apply to the script). Several tasks make one graph: the union of the
//! selected tasks and their dependencies, each task once. `dependsOn` edges are followed;
//! an edge to a task the package does not define is skipped (as Turborepo skips it), but a
//! name no package defines and runwire.json does not name is an error with "did you mean",
//! so a typo never passes silently. The result is in dependency order (every task after all
//! of its dependencies), deterministic for a given workspace.

use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// Task names (`build`), or one task of one package (`app#build`), in the order given.
    pub tasks: Vec<String>,
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
        tasks: &[String],
        recursive: bool,
        filters: &[String],
        extra_args: Vec<String>,
    ) -> Result<Self, Error> {
        let packages = if !filters.is_empty() {
            let matched = filter_packages(ws, filters)?;
            if matched.is_empty() {
                let mut message = format!("no package matches --filter {}", filters.join(", "));
                let names = || ws.packages.iter().map(|p| p.name.as_str());
                for filter in filters {
                    message.push_str(&crate::suggest::did_you_mean(filter, names()));
                }
                message.push_str(&package_list(ws));
                return Err(Error::Filter(message));
            }
            matched
        } else if recursive {
            let start = usize::from(ws.has_members);
            (start..ws.packages.len()).collect()
        } else {
            vec![ws.package_at(cwd)]
        };
        Ok(Self {
            tasks: tasks.to_vec(),
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
        let bad = |e: globset::Error| Error::Filter(format!("--filter `{filter}`: {}", e.kind()));
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
        .map_err(|e| Error::Filter(format!("--filter: {e}")))?;
    let by_path = by_path
        .build()
        .map_err(|e| Error::Filter(format!("--filter: {e}")))?;
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

/// The runwire.json entry that applies to `task` in package `pkg` (`pkg#task`, else
/// `task`), by its key.
pub fn config_entry<'w>(ws: &'w Workspace, pkg: usize, task: &str) -> Option<&'w str> {
    let own = format!("{}#{task}", ws.packages[pkg].name);
    ws.config
        .tasks
        .get_key_value(&own)
        .or_else(|| ws.config.tasks.get_key_value(task))
        .map(|(k, _)| k.as_str())
}

/// What `runwire tasks` shows of one task.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    pub name: String,
    pub command: String,
    pub command_source: CommandSource,
    /// The runwire.json `tasks` key whose settings apply, if any.
    pub config_entry: Option<String>,
    pub depends_on: Vec<String>,
}

/// Every task of package `pkg` with where it is defined, sorted by name.
pub fn describe_tasks(ws: &Workspace, pkg: usize) -> Vec<TaskInfo> {
    package_tasks(ws, pkg)
        .into_iter()
        .filter_map(|name| {
            let (command, source, config) = definition(ws, pkg, &name)?;
            Some(TaskInfo {
                config_entry: config_entry(ws, pkg, &name).map(str::to_owned),
                name,
                command,
                command_source: source,
                depends_on: config.depends_on,
            })
        })
        .collect()
}

/// Every task package `pkg` defines, sorted.
pub fn package_tasks(ws: &Workspace, pkg: usize) -> Vec<String> {
    let package = &ws.packages[pkg];
    let own = format!("{}#", package.name);
    let mut names: BTreeSet<&str> = package.scripts.keys().map(String::as_str).collect();
    for (key, entry) in &ws.config.tasks {
        if entry.command.is_none() {
            continue;
        }
        match key.strip_prefix(&own) {
            Some(task) => {
                names.insert(task);
            }
            None if !key.contains('#') => {
                names.insert(key);
            }
            None => {}
        }
    }
    names.into_iter().map(str::to_owned).collect()
}

/// Every task name the workspace knows: defined by some package, or named by a runwire.json
/// entry (`task` or `pkg#task`, with or without a command).
pub fn known_tasks(ws: &Workspace) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ws
        .packages
        .iter()
        .flat_map(|p| p.scripts.keys().cloned())
        .collect();
    for key in ws.config.tasks.keys() {
        names.insert(
            key.rsplit_once('#')
                .map_or(key.as_str(), |(_, t)| t)
                .to_owned(),
        );
    }
    names
}

/// `\n  tasks in `pkg` (dir): a, b, c`: what a newcomer can run there.
fn task_list(ws: &Workspace, pkg: usize) -> String {
    let package = &ws.packages[pkg];
    let tasks = package_tasks(ws, pkg);
    if tasks.is_empty() {
        format!(
            "\n  package `{}` ({}) defines no tasks (runwire tasks lists every package's)",
            package.name, package.rel
        )
    } else {
        format!(
            "\n  tasks in `{}` ({}): {}",
            package.name,
            package.rel,
            tasks.join(", ")
        )
    }
}

/// `\n  packages: a, b, c`.
fn package_list(ws: &Workspace) -> String {
    let names: Vec<&str> = ws.packages.iter().map(|p| p.name.as_str()).collect();
    format!("\n  packages: {}", names.join(", "))
}

/// The package named `name`, or an error with "did you mean" and the package list.
fn find_package(ws: &Workspace, name: &str, context: &str) -> Result<usize, Error> {
    ws.package_by_name(name).ok_or_else(|| {
        Error::UnknownTask(format!(
            "{context}there is no package `{name}`{}{}",
            crate::suggest::did_you_mean(name, ws.packages.iter().map(|p| p.name.as_str())),
            package_list(ws)
        ))
    })
}

/// The error for `task`, which package `pkg` does not define: "did you mean" among every
/// task the workspace knows, then the package's own tasks.
fn missing_task(ws: &Workspace, pkg: usize, task: &str, known: &BTreeSet<String>) -> Error {
    let package = &ws.packages[pkg];
    let anywhere = if known.contains(task) {
        ""
    } else {
        " (no package defines it)"
    };
    Error::UnknownTask(format!(
        "package `{}` ({}) has no task `{task}`{anywhere}: no runwire.json entry with a command and no package.json script{}{}",
        package.name,
        package.rel,
        crate::suggest::did_you_mean(task, known.iter().map(String::as_str)),
        task_list(ws, pkg)
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
    /// The tasks asked for: they get the extra `--` arguments, wherever they are reached.
    selected: HashSet<(usize, String)>,
    extra: &'a [String],
    /// Every task name the workspace knows ([`known_tasks`]).
    known: BTreeSet<String>,
}

impl Builder<'_> {
    /// The error for a `dependsOn` entry naming a task no package defines.
    fn unknown_dependency(&self, pkg: usize, task: &str, entry: &str, name: &str) -> Error {
        let package = &self.ws.packages[pkg];
        Error::UnknownTask(format!(
            "task `{}:{task}` depends on `{entry}`, but no package defines a task `{name}` and runwire.json does not name it{}{}",
            package.name,
            crate::suggest::did_you_mean(name, self.known.iter().map(String::as_str)),
            task_list(self.ws, pkg)
        ))
    }

    fn visit(&mut self, pkg: usize, task: &str) -> Result<usize, Error> {
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
        let (mut command, source, config) = definition(self.ws, pkg, task)
            .ok_or_else(|| missing_task(self.ws, pkg, task, &self.known))?;
        if self.selected.contains(&key) {
            for arg in self.extra {
                command.push(' ');
                command.push_str(&shell_quote(arg));
            }
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
                    if !self.known.contains(&name) {
                        return Err(self.unknown_dependency(pkg, task, entry, &name));
                    }
                    // A task this package does not define is skipped, as Turborepo does.
                    if definition(self.ws, pkg, &name).is_some() {
                        deps.push(self.visit(pkg, &name)?);
                    }
                }
                DependsOn::Dependencies(name) => {
                    if !self.known.contains(&name) {
                        return Err(self.unknown_dependency(pkg, task, entry, &name));
                    }
                    for &d in &package.deps {
                        if definition(self.ws, d, &name).is_some() {
                            deps.push(self.visit(d, &name)?);
                        }
                    }
                }
                DependsOn::Package {
                    package: other,
                    task: name,
                } => {
                    let context =
                        format!("task `{}:{task}` depends on `{entry}`, but ", package.name);
                    let d = find_package(self.ws, &other, &context)?;
                    // Named explicitly: a missing task is an error, not a skip.
                    if definition(self.ws, d, &name).is_none() {
                        return Err(Error::UnknownTask(format!(
                            "task `{}:{task}` depends on `{entry}`, which package `{other}` does not define{}{}",
                            package.name,
                            crate::suggest::did_you_mean(
                                &name,
                                package_tasks(self.ws, d).iter().map(String::as_str)
                            ),
                            task_list(self.ws, d)
                        )));
                    }
                    deps.push(self.visit(d, &name)?);
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
    /// Resolves the selection and every dependency into dependency order: one graph for
    /// all the selected tasks, each task once.
    pub fn build(ws: &Workspace, selection: &Selection) -> Result<Self, Error> {
        let known = known_tasks(ws);
        let mut roots: Vec<(usize, String)> = Vec::new();
        for name in &selection.tasks {
            // `app#build`: that package only, whatever the selection; it must exist.
            if let Some((package, task)) = name.rsplit_once('#')
                && !package.is_empty()
                && !task.is_empty()
            {
                let pkg = find_package(ws, package, &format!("`{name}`: "))?;
                if definition(ws, pkg, task).is_none() {
                    return Err(missing_task(ws, pkg, task, &known));
                }
                roots.push((pkg, task.to_owned()));
                continue;
            }
            let mut any = false;
            for &pkg in &selection.packages {
                if definition(ws, pkg, name).is_some() {
                    roots.push((pkg, name.clone()));
                    any = true;
                } else if selection.strict {
                    return Err(missing_task(ws, pkg, name, &known));
                }
            }
            if !any {
                let defining: Vec<&str> = (0..ws.packages.len())
                    .filter(|&p| definition(ws, p, name).is_some())
                    .map(|p| ws.packages[p].name.as_str())
                    .collect();
                let message = if defining.is_empty() {
                    let all: BTreeSet<String> = (0..ws.packages.len())
                        .flat_map(|p| package_tasks(ws, p))
                        .collect();
                    format!(
                        "no package defines task `{name}`: no runwire.json entry with a command and no package.json script{}\n  tasks in this workspace: {}",
                        crate::suggest::did_you_mean(name, known.iter().map(String::as_str)),
                        all.into_iter().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    format!(
                        "no selected package defines task `{name}`\n  defined in: {}",
                        defining.join(", ")
                    )
                };
                return Err(Error::UnknownTask(message));
            }
        }
        let mut builder = Builder {
            ws,
            index: HashMap::new(),
            tasks: Vec::new(),
            stack: Vec::new(),
            selected: roots.iter().cloned().collect(),
            extra: &selection.extra_args,
            known,
        };
        for (pkg, task) in &roots {
            builder.visit(*pkg, task)?;
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
