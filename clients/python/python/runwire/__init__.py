"""Tell the runwire task runner what your tool really depends on.

When a tool runs under ``runwire run``, the runner caches its outputs. It sees which files the
tool reads and writes by itself; these calls correct what it cannot see: the environment
variables the tool reads (the values come from the user's shell, through the runner),
private cache directories that are neither inputs nor outputs, and runs that must not be
cached at all::

    import runwire

    mode = runwire.get_env("MYGEN_MODE") or "debug"     # a change of MYGEN_MODE is a miss
    options = runwire.get_envs(prefix="MYGEN_")          # every MYGEN_* variable
    runwire.ignore_input(".mygen-cache")                 # our own cache: not an input...
    runwire.ignore_output(".mygen-cache")                # ...and not an output to archive

Outside a runner every function is a silent no-op: ``get_env`` returns ``None``,
``get_envs`` an empty dict, the others nothing, and no argument is checked. Under a runner,
a bad argument raises a :class:`RunwireError` subclass carrying the protocol's error
``code``; a problem on the runner's side never raises: the call does nothing, one
:class:`RunwireWarning` is issued, and the runner does not cache the run.

Values are returned, never written to ``os.environ``. Names, values and paths are bytes on
the wire: ``str`` arguments are encoded and values decoded like ``os.fsencode`` /
``os.fsdecode`` (surrogateescape), so names and values that are not UTF-8 round-trip; the
``*_bytes`` functions take and return ``bytes`` as they are.
"""

import os

from runwire import _native
from runwire._errors import (
    ERROR_CLASSES,
    EmptyKeyError,
    EmptyNameError,
    EmptyPathError,
    EmptyPatternError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidPathError,
    InvalidPatternError,
    RunwireError,
    RunwireWarning,
)

# Start-up matters (every tool run pays it): no `typing` import (milliseconds), and no
# `from __future__ import annotations` (another module load); annotations that Python 3.9
# cannot evaluate are quoted instead.

__version__: str = _native.__version__

__all__ = [
    "ERROR_CLASSES",
    "EmptyKeyError",
    "EmptyNameError",
    "EmptyPathError",
    "EmptyPatternError",
    "InvalidArgumentError",
    "InvalidNameError",
    "InvalidPathError",
    "InvalidPatternError",
    "RunwireError",
    "RunwireWarning",
    "__version__",
    "active",
    "disable_cache",
    "get_env",
    "get_env_bytes",
    "get_envs",
    "get_envs_bytes",
    "ignore_input",
    "ignore_output",
    "report_glob",
    "report_input",
    "report_output",
    "salt",
]


def _encode(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return os.fsencode(value)
        except UnicodeEncodeError as error:
            # A lone surrogate that surrogateescape did not produce has no bytes.
            raise InvalidArgumentError(f"{what} {value!r} cannot be encoded: {error.reason}") from None
    raise InvalidArgumentError(f"{what} must be str or bytes, not {type(value).__name__}")


def _encode_path(value: object, what: str) -> bytes:
    try:
        path = os.fspath(value)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidArgumentError(
            f"{what} must be str, bytes or os.PathLike, not {type(value).__name__}"
        ) from None
    return _encode(path, what)


def _text(value: object, what: str, *, lossy: bool) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be str, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        if not lossy:
            raise InvalidArgumentError(f"{what} {value!r} is not valid Unicode text") from None
        # Prose for a person: escaped undecodable bytes become U+FFFD.
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def active() -> bool:
    """Whether this process runs under a runner (``RUNWIRE_SOCKET`` is set and non-empty)."""
    return _native.active()


def get_env_bytes(name: "str | bytes", *, tracked: bool = True) -> "bytes | None":
    """The runner's value of the variable ``name`` as bytes; ``None`` when it is unset or
    there is no runner. ``tracked``: the run depends on it, so a change of the value (set or
    unset included) is a cache miss; ``tracked=False`` only reads it."""
    if not _native.active():
        return None
    return _native.get_env(_encode(name, "get_env name"), _flag(tracked, "tracked"))


def get_env(name: "str | bytes", *, tracked: bool = True) -> "str | None":
    """The runner's value of the variable ``name`` (``None``: unset, or no runner). See
    :func:`get_env_bytes`; the value is decoded like ``os.fsdecode``."""
    # Each public function calls _native itself: a fault warning points two frames up.
    if not _native.active():
        return None
    value = _native.get_env(_encode(name, "get_env name"), _flag(tracked, "tracked"))
    return None if value is None else os.fsdecode(value)


def get_envs_bytes(
    glob: "str | bytes | None" = None,
    *,
    prefix: "str | bytes | None" = None,
    tracked: bool = True,
) -> "dict[bytes, bytes]":
    """Every variable of the runner whose name matches ``glob`` (``*``, ``?``, ``[...]``,
    ``\\`` over the whole name: ``"VITE_*"``) or starts with ``prefix`` (literally), as bytes,
    sorted by name. Give exactly one of the two. ``tracked``: the run depends on the whole
    set, so a variable appearing, disappearing or changing is a cache miss."""
    if not _native.active():
        return {}
    return dict(_native.get_envs(*_selector(glob, prefix), _flag(tracked, "tracked")))


def get_envs(
    glob: "str | bytes | None" = None,
    *,
    prefix: "str | bytes | None" = None,
    tracked: bool = True,
) -> "dict[str, str]":
    """As :func:`get_envs_bytes`, names and values decoded like ``os.fsdecode``."""
    if not _native.active():
        return {}
    pairs = _native.get_envs(*_selector(glob, prefix), _flag(tracked, "tracked"))
    return {os.fsdecode(name): os.fsdecode(value) for name, value in pairs}


def _selector(glob: object, prefix: object) -> "tuple[bytes | None, bytes | None]":
    return (
        None if glob is None else _encode(glob, "get_envs glob"),
        None if prefix is None else _encode(prefix, "get_envs prefix"),
    )


def ignore_input(path: "str | bytes | os.PathLike[str] | os.PathLike[bytes]") -> None:
    """Nothing at or under ``path`` is an input of this run (a private cache the tool reads).
    A relative path is resolved against the current directory now."""
    if _native.active():
        _native.ignore_input(_encode_path(path, "ignore_input path"))


def ignore_output(path: "str | bytes | os.PathLike[str] | os.PathLike[bytes]") -> None:
    """Nothing at or under ``path`` is an output of this run: the runner neither archives nor
    restores it."""
    if _native.active():
        _native.ignore_output(_encode_path(path, "ignore_output path"))


def report_input(path: "str | bytes | os.PathLike[str] | os.PathLike[bytes]") -> None:
    """``path`` is an input even if the runner did not see it read (read by a daemon)."""
    if _native.active():
        _native.report_input(_encode_path(path, "report_input path"))


def report_output(path: "str | bytes | os.PathLike[str] | os.PathLike[bytes]") -> None:
    """``path`` is an output of this run."""
    if _native.active():
        _native.report_output(_encode_path(path, "report_output path"))


def report_glob(pattern: "str | bytes") -> None:
    """The run depends on the set of paths matching ``pattern`` (relative to the current
    directory): a file appearing or disappearing there is a cache miss."""
    if _native.active():
        _native.report_glob(_encode(pattern, "report_glob pattern"))


def disable_cache(reason: str) -> None:
    """This run must not be cached; ``reason`` is shown to the user."""
    if _native.active():
        _native.disable_cache(_text(reason, "disable_cache reason", lossy=True))


def salt(key: str, value: "str | bytes") -> None:
    """A fact the outputs depend on that the runner cannot observe (a compiler version): a
    different value is a different cache entry."""
    if _native.active():
        _native.salt(_text(key, "salt key", lossy=False), _encode(value, "salt value"))


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be a bool, not {type(value).__name__}")
    return value
