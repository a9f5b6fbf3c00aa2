"""The exception classes cover exactly the protocol's caller-error codes."""

from __future__ import annotations

import re

import runwire
from runwire import _native

from helpers import REPO_ROOT

PROTO = REPO_ROOT / "proto" / "runwire" / "v1" / "runwire.proto"


def proto_error_codes() -> list[tuple[str, int]]:
    """`ErrorCode` as the .proto declares it: (name without `ERROR_CODE_`, value)."""
    text = PROTO.read_text()
    enum = re.search(r"enum ErrorCode \{(.*?)\n\}", text, re.S)
    assert enum, f"no `enum ErrorCode` in {PROTO}"
    body = re.sub(r"//[^\n]*", "", enum.group(1))
    codes = [(name, int(value)) for name, value in re.findall(r"ERROR_CODE_(\w+)\s*=\s*(\d+)\s*;", body)]
    assert codes, "ErrorCode has no values"
    return sorted(codes, key=lambda code: code[1])


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | all_subclasses(sub)
    return found


def test_native_module_knows_the_protos_codes() -> None:
    assert list(_native.ERROR_CODES) == proto_error_codes()
    caller = [code for code in proto_error_codes() if 1 <= code[1] <= 99]
    assert list(_native.CALLER_ERROR_CODES) == caller


def test_one_class_per_caller_error_code_and_no_other() -> None:
    classes = [(cls.code_name, cls.code) for cls in runwire.ERROR_CLASSES]
    assert classes == list(_native.CALLER_ERROR_CODES)
    # Every RunwireError subclass the package defines is one of those, once.
    defined = {cls for cls in all_subclasses(runwire.RunwireError) if cls.__module__.startswith("runwire")}
    assert defined == set(runwire.ERROR_CLASSES)
    assert len(runwire.ERROR_CLASSES) == len(set(runwire.ERROR_CLASSES))


def test_class_names_follow_the_code_names() -> None:
    for cls in runwire.ERROR_CLASSES:
        expected = "".join(part.capitalize() for part in cls.code_name.split("_")) + "Error"
        assert cls.__name__ == expected
        assert getattr(runwire, cls.__name__) is cls
        assert issubclass(cls, runwire.RunwireError) and issubclass(cls, ValueError)
    assert issubclass(runwire.InvalidArgumentError, TypeError)
    assert issubclass(runwire.RunwireWarning, UserWarning)


def test_the_native_module_raises_these_classes() -> None:
    from runwire import _errors

    for name, value in _native.CALLER_ERROR_CODES:
        error = _errors._error_for(value, "why")
        assert (type(error).__name__, error.code, error.code_name, error.message) == (
            "".join(p.capitalize() for p in name.split("_")) + "Error",
            value,
            name,
            "why",
        )
