"""Argument conversion in the facade (the only logic a binding has): str, bytes and
os.PathLike become the bytes the wire carries, non-UTF-8 included."""

from __future__ import annotations

import os
import pathlib

import pytest

import runwire


class Custom:
    """An os.PathLike of the caller's own."""

    def __init__(self, path: bytes) -> None:
        self.path = path

    def __fspath__(self) -> bytes:
        return self.path


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("out/dir", b"out/dir"),
        (b"out/dir", b"out/dir"),
        (pathlib.Path("out") / "dir", b"out/dir"),
        (pathlib.PurePosixPath("/abs"), b"/abs"),
        (Custom(b"raw\xff"), b"raw\xff"),
        # os.fsdecode(b"caf\xe9") spells the undecodable byte as a lone surrogate.
        (os.fsdecode(b"caf\xe9"), b"caf\xe9"),
        ("caf\u00e9", "caf\u00e9".encode()),
    ],
    ids=["str", "bytes", "Path", "PurePosixPath", "custom PathLike", "surrogateescape", "unicode"],
)
def test_paths_become_their_filesystem_bytes(value: object, wire: bytes) -> None:
    assert runwire._encode_path(value, "path") == wire


@pytest.mark.parametrize("value", [None, 3, 1.5, ["a"], bytearray(b"a")])
def test_non_path_arguments_are_invalid(value: object) -> None:
    with pytest.raises(runwire.InvalidArgumentError, match="must be str, bytes or os.PathLike"):
        runwire._encode_path(value, "path")


def test_names_and_values_round_trip_like_fsencode() -> None:
    raw = b"N\xff\xfe\x80"
    name = os.fsdecode(raw)
    assert runwire._encode(name, "name") == raw
    assert runwire._encode(raw, "name") == raw
    with pytest.raises(runwire.InvalidArgumentError, match="cannot be encoded"):
        runwire._encode("\ud800", "name")


def test_reasons_are_prose_and_keys_are_exact() -> None:
    assert runwire._text("reads the network", "reason", lossy=True) == "reads the network"
    assert runwire._text(os.fsdecode(b"bad \xff"), "reason", lossy=True) == "bad \ufffd"
    with pytest.raises(runwire.InvalidArgumentError, match="not valid Unicode"):
        runwire._text(os.fsdecode(b"k\xff"), "key", lossy=False)
