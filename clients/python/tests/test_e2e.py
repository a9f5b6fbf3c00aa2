"""End to end: the README's example code generator (examples/mygen.py) run by the real
`runwire` CLI: a second run is a hit, a changed MYGEN_MODE is a miss that names it, and the
generator's private `.mygen-cache/` is neither an input nor archived."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CLIENT_DIR, binary, child_env

SCHEMA = "name: str\nage: int\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(CLIENT_DIR / "examples" / "mygen.py", root / "mygen.py")
    (root / "schema.txt").write_text(SCHEMA)
    # The interpreter that has runwire installed, by absolute path (the task's PATH may
    # find another python3).
    package = {"name": "gen", "scripts": {"build": f"{sys.executable} mygen.py"}}
    (root / "package.json").write_text(json.dumps(package))
    return root


def runwire(root: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(binary("runwire")), "-C", str(root), *args],
        env=child_env(RUNWIRE_CACHE_DIR=None, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done


def summary(done: subprocess.CompletedProcess[str]) -> str:
    """The runner's verdict lines (stderr without the command echo and the run's summary line)."""
    assert done.returncode == 0, f"runwire failed:\n{done.stdout}\n{done.stderr}"
    return "\n".join(
        line
        for line in done.stderr.splitlines()
        if "$" not in line and not re.match(r"\d+ tasks?: ", line)
    )


def test_codegen_script_is_cached_precisely(workspace: Path) -> None:
    first = runwire(workspace, "run", "build", MYGEN_MODE="debug")
    verdict = summary(first)
    assert "cache miss" in verdict and "cached" in verdict, verdict
    assert "not cacheable" not in verdict, verdict
    assert "mygen: wrote generated/models.py in debug mode" in first.stdout
    debug_code = (workspace / "generated" / "models.py").read_text()
    assert "print('loaded name')" in debug_code
    assert any((workspace / ".mygen-cache").iterdir())

    # Same world: a hit, output replayed.
    second = runwire(workspace, "run", "build", MYGEN_MODE="debug")
    assert "cache hit" in summary(second), second.stderr
    assert "mygen: wrote generated/models.py in debug mode" in second.stdout

    # A variable the tool read through the runner changed: a miss naming it.
    third = runwire(workspace, "run", "build", MYGEN_MODE="release")
    verdict = summary(third)
    assert "cache miss" in verdict, verdict
    assert "env MYGEN_MODE changed" in verdict, verdict
    # This run read the memo and wrote it back: cacheable only thanks to the ignores.
    assert verdict.endswith("  cached"), verdict
    assert "in release mode" in third.stdout

    # `.mygen-cache/` is not part of the archive: remove it with the outputs, and a hit on
    # the debug variant restores generated/ but no memo files.
    shutil.rmtree(workspace / ".mygen-cache")
    shutil.rmtree(workspace / "generated")
    restored = runwire(workspace, "run", "build", MYGEN_MODE="debug")
    assert "cache hit" in summary(restored), restored.stderr
    assert (workspace / "generated" / "models.py").read_text() == debug_code
    assert not (workspace / ".mygen-cache").exists()


def test_without_the_ignores_the_memo_is_an_overlap_and_archived(workspace: Path) -> None:
    # The control for the test above: its assertions fail when the ignore calls are gone.
    script = workspace / "mygen.py"
    text = script.read_text()
    assert text.count("runwire.ignore_") == 2
    script.write_text(text.replace("    runwire.ignore_input(CACHE)\n", "").replace("    runwire.ignore_output(CACHE)\n", ""))
    assert "cached" in summary(runwire(workspace, "run", "build", MYGEN_MODE="debug"))
    verdict = summary(runwire(workspace, "run", "build", MYGEN_MODE="release"))
    assert "not cached" in verdict and "read and then written by the task: .mygen-cache/memo.json" in verdict, verdict
    shutil.rmtree(workspace / ".mygen-cache")
    shutil.rmtree(workspace / "generated")
    assert "cache hit" in summary(runwire(workspace, "run", "build", MYGEN_MODE="debug"))
    assert (workspace / ".mygen-cache" / "memo.json").is_file(), "the memo was not archived"


def test_values_that_are_not_utf8_round_trip(workspace: Path) -> None:
    (workspace / "show.py").write_text(
        "import json, runwire\n"
        "print(json.dumps([runwire.get_env('RAW').encode('utf-8', 'surrogateescape').hex(),"
        " runwire.get_env_bytes(b'RAW').hex(), list(runwire.get_envs_bytes(b'R*'))[0].hex()]))\n"
    )
    package = {"name": "gen", "scripts": {"show": f"{sys.executable} show.py"}}
    (workspace / "package.json").write_text(json.dumps(package))
    env = {k.encode(): v.encode() for k, v in child_env(RUNWIRE_CACHE_DIR=None).items()}
    env[b"RAW"] = b"caf\xe9\xff"
    done = subprocess.run(
        [str(binary("runwire")), "-C", str(workspace), "run", "show", "--log-prefix", "none"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.decode().strip().splitlines()[-1]) == ["636166e9ff", "636166e9ff", b"RAW".hex()]
    assert b"caf\xe9" not in done.stderr, "an env value was printed"
    assert os.environb.get(b"RAW") is None


def test_no_cache_runs_still_answer_the_tools_env_queries(workspace: Path) -> None:
    done = runwire(workspace, "run", "build", "--no-cache", MYGEN_MODE="release")
    assert "in release mode" in done.stdout, done.stdout + done.stderr
