//! Protocol steps, each one call of `runwire-client`:
//!
//! | step                          | call                                                  |
//! |-------------------------------|-------------------------------------------------------|
//! | `get-env NAME [--untracked]`  | `get_env`, prints `NAME=value` or `NAME unset`        |
//! | `get-envs GLOB [--untracked]` | `get_envs(Glob)`, prints each `NAME=value`            |
//! | `get-envs-prefix P [--untracked]` | `get_envs(Prefix)`, prints each `NAME=value`      |
//! | `ignore-input PATH`           | `ignore_input`                                        |
//! | `ignore-output PATH`          | `ignore_output`                                       |
//! | `disable-cache REASON`        | `disable_cache`                                       |
//! | `report-input PATH`           | `report_input`                                        |
//! | `report-output PATH`          | `report_output`                                       |
//! | `report-glob PATTERN`         | `report_glob` (relative to the current directory)     |
//! | `salt KEY VALUE`              | `salt`                                                |
//!
//! Outside a runner (`RUNWIRE_SOCKET` unset) every call is a no-op, like in a real tool, and
//! queries print `(no runner)`.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use runwire_client::{Client, EnvSelector};

use crate::steps::StepError;

/// One protocol call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    GetEnv {
        name: Vec<u8>,
        tracked: bool,
    },
    GetEnvs {
        selector: EnvSelector,
        tracked: bool,
    },
    IgnoreInput(PathBuf),
    IgnoreOutput(PathBuf),
    DisableCache(String),
    ReportInput(PathBuf),
    ReportOutput(PathBuf),
    ReportGlob(Vec<u8>),
    Salt(String, Vec<u8>),
}

/// Parses one protocol step from its verb and the arguments after it; returns the number
/// of arguments used.
pub fn parse(verb: &str, rest: &[OsString]) -> Result<(Op, usize), StepError> {
    let need = |n: usize| -> Result<&[OsString], StepError> {
        rest.get(..n).ok_or_else(|| StepError::MissingArgs {
            step: verb.to_owned(),
            needed: n,
        })
    };
    let untracked = rest.get(1).is_some_and(|a| a == "--untracked");
    let bytes = |a: &OsString| a.as_bytes().to_vec();
    Ok(match verb {
        "get-env" => (
            Op::GetEnv {
                name: bytes(&need(1)?[0]),
                tracked: !untracked,
            },
            1 + usize::from(untracked),
        ),
        "get-envs" | "get-envs-prefix" => {
            let arg = bytes(&need(1)?[0]);
            let selector = if verb == "get-envs" {
                EnvSelector::Glob(arg)
            } else {
                EnvSelector::Prefix(arg)
            };
            (
                Op::GetEnvs {
                    selector,
                    tracked: !untracked,
                },
                1 + usize::from(untracked),
            )
        }
        "ignore-input" => (Op::IgnoreInput(need(1)?[0].clone().into()), 1),
        "ignore-output" => (Op::IgnoreOutput(need(1)?[0].clone().into()), 1),
        "disable-cache" => (
            Op::DisableCache(need(1)?[0].to_string_lossy().into_owned()),
            1,
        ),
        "report-input" => (Op::ReportInput(need(1)?[0].clone().into()), 1),
        "report-output" => (Op::ReportOutput(need(1)?[0].clone().into()), 1),
        "report-glob" => (Op::ReportGlob(bytes(&need(1)?[0])), 1),
        "salt" => {
            let a = need(2)?;
            (
                Op::Salt(a[0].to_string_lossy().into_owned(), bytes(&a[1])),
                2,
            )
        }
        _ => return Err(StepError::Unknown(verb.to_owned())),
    })
}

/// The connection to the runner, looked up on first use (`None` inside: no runner).
#[derive(Default)]
pub struct Session {
    client: std::cell::OnceCell<Option<Client>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

fn show(name: &[u8], value: Option<&[u8]>) -> String {
    let name = String::from_utf8_lossy(name);
    match value {
        Some(v) => format!("{name}={}", String::from_utf8_lossy(v)),
        None => format!("{name} unset"),
    }
}

impl Session {
    /// Runs one call; caller errors (bad arguments) are step failures.
    pub fn run(&self, op: &Op) -> Result<(), StepError> {
        let client = self.client.get_or_init(Client::from_env);
        let mut out = std::io::stdout().lock();
        let Some(client) = client else {
            if matches!(op, Op::GetEnv { .. } | Op::GetEnvs { .. }) {
                let _ = writeln!(out, "(no runner)");
            }
            return Ok(());
        };
        let fail = |e: runwire_client::ClientError| StepError::Protocol(format!("{op:?}: {e}"));
        match op {
            Op::GetEnv { name, tracked } => {
                let value = client.get_env(name, *tracked).map_err(fail)?;
                let _ = writeln!(out, "{}", show(name, value.as_deref()));
            }
            Op::GetEnvs { selector, tracked } => {
                let vars = client.get_envs(selector.clone(), *tracked).map_err(fail)?;
                if vars.is_empty() {
                    let _ = writeln!(out, "(no match)");
                }
                for (n, v) in &vars {
                    let _ = writeln!(out, "{}", show(n, Some(v)));
                }
            }
            Op::IgnoreInput(p) => client.ignore_input(p).map_err(fail)?,
            Op::IgnoreOutput(p) => client.ignore_output(p).map_err(fail)?,
            Op::DisableCache(reason) => client.disable_cache(reason).map_err(fail)?,
            Op::ReportInput(p) => client.report_input(p).map_err(fail)?,
            Op::ReportOutput(p) => client.report_output(p).map_err(fail)?,
            Op::ReportGlob(pattern) => client.report_glob(pattern).map_err(fail)?,
            Op::Salt(key, value) => client.salt(key, value).map_err(fail)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untracked_flag_is_consumed() {
        let args: Vec<OsString> = ["NODE_ENV", "--untracked", "exit"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            parse("get-env", &args).unwrap(),
            (
                Op::GetEnv {
                    name: b"NODE_ENV".to_vec(),
                    tracked: false
                },
                2
            )
        );
        let args: Vec<OsString> = ["P_"].iter().map(OsString::from).collect();
        assert_eq!(
            parse("get-envs-prefix", &args).unwrap(),
            (
                Op::GetEnvs {
                    selector: EnvSelector::Prefix(b"P_".to_vec()),
                    tracked: true
                },
                1
            )
        );
    }
}
