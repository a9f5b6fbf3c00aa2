//! `runwire.json`: the user's task configuration at the workspace root.
//!
//! The shape is pinned by `schema/runwire.schema.json` (shipped in the repo for editors).
//! Parsing is strict: an unknown key is an error that names the key, its path, the file,
//! the line and the column, because a misspelt `dependsOn` silently ignored is worse than
//! a refusal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// File name of the configuration at the workspace root.
pub const CONFIG_FILE: &str = "runwire.json";

/// The whole `runwire.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Editors use it to find the schema; runwire ignores it.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Tasks by name: `build` applies to every package, `app#build` to package `app` only.
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskConfig>,
    /// A shared remote cache (README "Remote cache").
    #[serde(default)]
    pub remote_cache: Option<crate::remote::RemoteCacheConfig>,
}

/// Settings of one task entry. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TaskConfig {
    /// Shell command (run with `sh -c`). Without it the package.json script of the same
    /// name is used.
    #[serde(default)]
    pub command: Option<String>,
    /// Tasks to run first: `lint` (same package), `^build` (the task in every workspace
    /// dependency of the package), `pkg#task` (one task of one package).
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Whether results may be cached (default true).
    #[serde(default)]
    pub cache: Option<bool>,
    /// Environment variable names or globs (`VITE_*`) passed to the task and tracked: a
    /// change of value is a cache miss.
    #[serde(default)]
    pub env: Vec<String>,
    /// Names or globs passed to the task but never tracked.
    #[serde(default)]
    pub pass_through_env: Vec<String>,
    /// Extra input globs relative to the package (`!glob` removes matches).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Extra output globs relative to the package (`!glob` removes matches).
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Working directory relative to the package directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Tool-state globs beyond the built-in ones (spec/fingerprint.md rule 9).
    #[serde(default)]
    pub tool_state: Vec<String>,
    /// Scratch locations outside the workspace: absolute, or `~/` for the home directory
    /// (spec/fingerprint.md rule 12).
    #[serde(default)]
    pub outside_writes: Vec<String>,
}

impl TaskConfig {
    pub fn cache_enabled(&self) -> bool {
        self.cache.unwrap_or(true)
    }
}

/// A parsed `dependsOn` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependsOn {
    /// `task`: the task in the same package.
    SamePackage(String),
    /// `^task`: the task in each workspace dependency of the package that defines it.
    Dependencies(String),
    /// `pkg#task`: one task of one named package.
    Package { package: String, task: String },
}

impl DependsOn {
    /// Parses one entry; `None` when it is malformed (empty parts).
    pub fn parse(entry: &str) -> Option<Self> {
        if let Some(task) = entry.strip_prefix('^') {
            return (!task.is_empty() && !task.contains('#'))
                .then(|| Self::Dependencies(task.to_owned()));
        }
        if let Some((package, task)) = entry.rsplit_once('#') {
            return (!package.is_empty() && !task.is_empty()).then(|| Self::Package {
                package: package.to_owned(),
                task: task.to_owned(),
            });
        }
        (!entry.is_empty()).then(|| Self::SamePackage(entry.to_owned()))
    }
}

impl Config {
    /// Reads and validates `runwire.json` in `root`; `Ok(None)` when there is none.
    pub fn load(root: &Path) -> Result<Option<(PathBuf, Self)>, Error> {
        let path = root.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let config = Self::parse(&path, &text)?;
        Ok(Some((path, config)))
    }

    /// Parses and validates the text of a config file; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let config: Self = parse_json(path, text)?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), Error> {
        let invalid = |key: String, message: String| Error::ConfigInvalid {
            path: path.to_owned(),
            key,
            message,
        };
        for (name, task) in &self.tasks {
            let valid_name = match name.rsplit_once('#') {
                Some((pkg, task)) => !pkg.is_empty() && !task.is_empty(),
                None => !name.is_empty(),
            };
            if !valid_name {
                return Err(invalid(
                    format!("tasks.{name}"),
                    "a task name is `task` or `package#task`, neither part empty".into(),
                ));
            }
            for (i, dep) in task.depends_on.iter().enumerate() {
                if DependsOn::parse(dep).is_none() {
                    return Err(invalid(
                        format!("tasks.{name}.dependsOn[{i}]"),
                        format!("`{dep}` is not `task`, `^task` or `package#task`"),
                    ));
                }
            }
            for (field, list) in [
                ("env", &task.env),
                ("passThroughEnv", &task.pass_through_env),
            ] {
                for (i, pattern) in list.iter().enumerate() {
                    if pattern.is_empty() || pattern.contains('=') {
                        return Err(invalid(
                            format!("tasks.{name}.{field}[{i}]"),
                            format!("`{pattern}` is not an environment variable name or glob"),
                        ));
                    }
                }
            }
            for (field, list) in [("inputs", &task.inputs), ("outputs", &task.outputs)] {
                for (i, pattern) in list.iter().enumerate() {
                    let glob = pattern.strip_prefix('!').unwrap_or(pattern);
                    if let Err(e) = globset::Glob::new(glob) {
                        return Err(invalid(
                            format!("tasks.{name}.{field}[{i}]"),
                            format!("`{pattern}` is not a valid glob: {}", e.kind()),
                        ));
                    }
                }
            }
            for (i, pattern) in task.tool_state.iter().enumerate() {
                if let Err(e) = runwire_fingerprint::PathGlob::new(pattern) {
                    return Err(invalid(
                        format!("tasks.{name}.toolState[{i}]"),
                        e.to_string(),
                    ));
                }
            }
            for (i, p) in task.outside_writes.iter().enumerate() {
                if !(p.starts_with('/') || p.starts_with("~/")) {
                    return Err(invalid(
                        format!("tasks.{name}.outsideWrites[{i}]"),
                        format!("`{p}` must be an absolute path or start with `~/`"),
                    ));
                }
            }
            if let Some(cwd) = &task.cwd
                && Path::new(cwd).is_absolute()
            {
                return Err(invalid(
                    format!("tasks.{name}.cwd"),
                    format!("`{cwd}` must be relative to the package directory"),
                ));
            }
            if task.command.as_deref() == Some("") {
                return Err(invalid(
                    format!("tasks.{name}.command"),
                    "the command is empty".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Deserializes JSON text with errors that name the file, line, column and key path.
pub fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let result = match serde_path_to_error::deserialize(&mut de) {
        // Trailing garbage after the top-level value is an error too.
        Ok(value) => de.end().map(|()| value).map_err(|e| (None, e)),
        Err(e) => {
            // A syntax error ends the path with an unknown segment `?`: drop it.
            let key = e.path().to_string();
            let key = key.strip_suffix(".?").unwrap_or(&key).to_owned();
            Err(((key != "." && key != "?").then_some(key), e.into_inner()))
        }
    };
    result.map_err(|(key, inner)| {
        let (line, column) = (inner.line(), inner.column());
        // serde_json appends " at line L column C"; the position is printed separately.
        let full = inner.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = reword(full.strip_suffix(&suffix).unwrap_or(&full));
        // serde_json points after an unknown key; the caret is clearer at its start.
        let column = unknown_key_column(text, line, &message).unwrap_or(column);
        Error::ConfigSyntax {
            path: path.to_owned(),
            line,
            column,
            key,
            message,
            excerpt: excerpt(text, line, column),
        }
    })
}

/// Column (1-based) of the quoted key named by an "unknown key `k`" message on `line`.
fn unknown_key_column(text: &str, line: usize, message: &str) -> Option<usize> {
    let key = message.strip_prefix("unknown key `")?.split('`').next()?;
    let source = text.lines().nth(line.checked_sub(1)?)?;
    let byte = source.find(&format!("\"{key}\""))?;
    Some(source[..byte].chars().count() + 1)
}

/// The offending line with a caret under the column, for the error message.
fn excerpt(text: &str, line: usize, column: usize) -> String {
    let Some(source) = line.checked_sub(1).and_then(|i| text.lines().nth(i)) else {
        return String::new();
    };
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let caret_at: String = source
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("\n {number} | {source}\n {pad} | {caret_at}^")
}

/// serde's "unknown field" wording is about Rust; the user edits JSON keys.
fn reword(message: &str) -> String {
    message
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_forms() {
        assert_eq!(
            DependsOn::parse("build"),
            Some(DependsOn::SamePackage("build".into()))
        );
        assert_eq!(
            DependsOn::parse("^build"),
            Some(DependsOn::Dependencies("build".into()))
        );
        assert_eq!(
            DependsOn::parse("@s/a#build"),
            Some(DependsOn::Package {
                package: "@s/a".into(),
                task: "build".into()
            })
        );
        assert_eq!(DependsOn::parse("^"), None);
        assert_eq!(DependsOn::parse("#x"), None);
        assert_eq!(DependsOn::parse(""), None);
    }

    #[test]
    fn unknown_key_is_named_with_position() {
        let text = "{\n  \"tasks\": {\n    \"build\": { \"comand\": \"x\" }\n  }\n}\n";
        let err = Config::parse(Path::new("runwire.json"), text).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("runwire.json:3:"), "{shown}");
        assert!(shown.contains("`comand`"), "{shown}");
        assert!(shown.contains("tasks.build"), "{shown}");
    }

    #[test]
    fn bad_depends_on_is_named() {
        let text = r#"{"tasks": {"build": {"dependsOn": ["^"]}}}"#;
        let err = Config::parse(Path::new("runwire.json"), text).unwrap_err();
        assert!(
            err.to_string().contains("tasks.build.dependsOn[0]"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// The shipped schema and the parser accept the same task keys.
    #[test]
    fn schema_lists_exactly_the_accepted_keys() {
        let schema_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/runwire.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
        let mut in_schema: Vec<String> = schema["$defs"]["task"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        in_schema.sort();
        // The parser names every accepted key when it refuses an unknown one.
        let err = Config::parse(Path::new("x"), r#"{"tasks":{"t":{"zzz":1}}}"#).unwrap_err();
        let shown = err.to_string();
        let expected = shown.split("expected one of ").nth(1).unwrap();
        let expected = expected.split(" (at").next().unwrap();
        let mut accepted: Vec<String> = expected
            .split(", ")
            .map(|s| s.trim_matches('`').to_owned())
            .collect();
        accepted.sort();
        assert_eq!(in_schema, accepted);
    }
}
