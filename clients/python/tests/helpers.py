"""Helpers shared by the tests: finding the Rust binaries and running Python code under a
real runwire protocol server (`runwire-test-server`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLIENT_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = CLIENT_DIR.parent.parent


def binary(name: str) -> Path:
    """A binary of this workspace: `$CARGO_TARGET_DIR/debug/NAME`, else `target/debug/NAME`
    (scripts/install.sh builds both the CLI and the test server there)."""
    dirs = []
    if os.environ.get("CARGO_TARGET_DIR"):
        dirs.append(Path(os.environ["CARGO_TARGET_DIR"]))
    dirs.append(REPO_ROOT / "target")
    for target in dirs:
        candidate = target / "debug" / name
        if candidate.is_file():
            return candidate
    pytest.fail(
        f"{name} is not built (looked in {', '.join(str(d / 'debug') for d in dirs)}); "
        f"run `cargo build -p {name}` or scripts/install.sh first"
    )


def child_env(**changes: str | None) -> dict[str, str]:
    """This process's environment without any runner of our own, with `changes` applied
    (`None` removes a variable)."""
    env = dict(os.environ)
    env.pop("RUNWIRE_SOCKET", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@dataclass
class Outcome:
    """What a script run under the test server did and what the server recorded."""

    exit_code: int
    stdout: str
    stderr: str
    declarations: list[dict[str, Any]]
    diagnostics: list[dict[str, Any]]

    def result(self) -> Any:
        """The JSON the script printed as its last stdout line."""
        assert self.exit_code == 0, f"script failed:\n{self.stderr}"
        return json.loads(self.stdout.strip().splitlines()[-1])


def script_file(tmp_path: Path, code: str) -> Path:
    script = tmp_path / "tool.py"
    script.write_text(textwrap.dedent(code))
    return script


def run_script(tmp_path: Path, code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter with `-W error`, cwd `tmp_path`, no runner."""
    script = script_file(tmp_path, code)
    return subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=child_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_under_server(
    tmp_path: Path,
    code: str,
    *,
    env: dict[str, str] | None = None,
    untracked: tuple[str, ...] = (),
) -> Outcome:
    """Runs `code` as a script under a real protocol server that answers from exactly `env`,
    cwd `tmp_path`, warnings as errors."""
    script = script_file(tmp_path, code)
    report = tmp_path / "report.json"
    command = [str(binary("runwire-test-server")), "--report", str(report)]
    for name, value in (env or {}).items():
        command += ["--env", f"{name}={value}"]
    for pattern in untracked:
        command += ["--untracked", pattern]
    command += ["--", sys.executable, "-W", "error", str(script)]
    done = subprocess.run(command, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120)
    assert report.is_file(), f"the test server wrote no report:\n{done.stderr}"
    data = json.loads(report.read_text())
    return Outcome(done.returncode, done.stdout, done.stderr, data["declarations"], data["diagnostics"])
