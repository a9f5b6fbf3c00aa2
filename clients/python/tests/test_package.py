"""Typing and packaging: the `_native` stub matches the module (stubtest), the package and
the example type-check strictly, the installed package is this source, `__version__`."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import runwire

from helpers import CLIENT_DIR, REPO_ROOT

SOURCE = CLIENT_DIR / "python" / "runwire"
INSTALLED = Path(runwire.__file__).parent


def test_installed_package_is_this_source() -> None:
    # The tests import the installed wheel; a stale install would test old code.
    for source in sorted(SOURCE.iterdir()):
        if source.is_file():
            installed = INSTALLED / source.name
            assert installed.is_file() and installed.read_bytes() == source.read_bytes(), (
                f"{installed} differs from {source}: reinstall with "
                "`python3 -m pip install --no-build-isolation ./clients/python`"
            )
    assert (INSTALLED / "py.typed").is_file()


def test_version_matches_the_crate_and_the_distribution() -> None:
    cargo = (REPO_ROOT / "Cargo.toml").read_text()
    version = re.search(r'\[workspace\.package\][^\[]*?version = "([^"]+)"', cargo, re.S)
    assert version
    assert runwire.__version__ == version.group(1)
    assert importlib.metadata.version("runwire") == runwire.__version__


def test_native_stub_matches_the_module(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "runwire._native"],
        cwd=tmp_path,  # mypy's cache goes there, not into the checkout
        env={**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "mypy-cache")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_package_and_example_type_check_strictly(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            str(SOURCE),
            str(CLIENT_DIR / "examples" / "mygen.py"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
