"""Outside a runner every function is a silent no-op: neutral values, nothing printed, no
warning, no exception, even for arguments that would be caller errors under a runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import child_env, run_script

EVERY_CALL = """
import json, os, pathlib, runwire

before = dict(os.environ)
results = {
    "active": runwire.active(),
    "get_env": runwire.get_env("HOME"),
    "get_env_bytes": runwire.get_env_bytes(b"HOME", tracked=False),
    "get_envs_glob": runwire.get_envs("*"),
    "get_envs_prefix": runwire.get_envs(prefix="H"),
    "get_envs_bytes": runwire.get_envs_bytes(b"H*"),
    "ignore_input": runwire.ignore_input("."),
    "ignore_output": runwire.ignore_output(pathlib.Path("out")),
    "report_input": runwire.report_input(b"in"),
    "report_output": runwire.report_output("out/x"),
    "report_glob": runwire.report_glob("src/*.py"),
    "salt": runwire.salt("compiler", "1.0"),
    "disable_cache": runwire.disable_cache("reads the network"),
    # Caller errors under a runner; without one nothing is checked (spec/protocol.md).
    "empty_name": runwire.get_env(""),
    "both_selectors": runwire.get_envs("A*", prefix="A"),
    "wrong_type": runwire.ignore_input(42),
}
assert dict(os.environ) == before, "os.environ changed"
print(json.dumps(results))
"""

NEUTRAL = {
    "active": False,
    "get_env": None,
    "get_env_bytes": None,
    "get_envs_glob": {},
    "get_envs_prefix": {},
    "get_envs_bytes": {},
    "ignore_input": None,
    "ignore_output": None,
    "report_input": None,
    "report_output": None,
    "report_glob": None,
    "salt": None,
    "disable_cache": None,
    "empty_name": None,
    "both_selectors": {},
    "wrong_type": None,
}


@pytest.mark.parametrize("socket", [None, ""], ids=["unset", "empty"])
def test_every_call_is_a_silent_no_op_without_a_runner(tmp_path: Path, socket: str | None) -> None:
    done = run_script(tmp_path, EVERY_CALL, env=child_env(RUNWIRE_SOCKET=socket))
    assert done.stderr == ""
    assert done.returncode == 0
    assert json.loads(done.stdout) == NEUTRAL
    assert list(tmp_path.iterdir()) == [tmp_path / "tool.py"], "a no-op created files"


def test_importing_has_no_side_effects_in_this_process() -> None:
    before = dict(os.environ)
    import runwire

    assert dict(os.environ) == before
    assert isinstance(runwire.__version__, str)
