"""The exceptions and the warning of the runwire client.

One exception class per caller-error code of the protocol (``ErrorCode`` values 1 to 99 in
``proto/runwire/v1/runwire.proto``); ``tests/test_errors.py`` checks that these classes cover
exactly the codes the native module reports, which the Rust side derives from the proto.
Runner-side faults are never exceptions: they become one ``RunwireWarning``.
"""


class RunwireWarning(UserWarning):
    """The runner could not be reached or refused a call; the call did nothing, and the runner
    will not cache this run. Issued at most once per process."""


class RunwireError(ValueError):
    """A bad argument: the caller's bug. ``code`` is the protocol's stable ``ErrorCode``
    value, ``code_name`` its name without the ``ERROR_CODE_`` prefix."""

    code: int = 0
    code_name: str = "UNSPECIFIED"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(RunwireError, TypeError):
    """An argument is malformed in a way no finer code names (a wrong type, both or neither
    of ``glob`` and ``prefix``)."""

    code = 1
    code_name = "INVALID_ARGUMENT"


class EmptyNameError(RunwireError):
    """An environment variable name is empty."""

    code = 2
    code_name = "EMPTY_NAME"


class InvalidNameError(RunwireError):
    """An environment variable name contains NUL or ``=``."""

    code = 3
    code_name = "INVALID_NAME"


class EmptyPatternError(RunwireError):
    """A glob or prefix is empty."""

    code = 4
    code_name = "EMPTY_PATTERN"


class InvalidPatternError(RunwireError):
    """A glob is malformed, or a glob or prefix contains NUL or ``=``."""

    code = 5
    code_name = "INVALID_PATTERN"


class EmptyPathError(RunwireError):
    """A path is empty."""

    code = 6
    code_name = "EMPTY_PATH"


class InvalidPathError(RunwireError):
    """A path contains NUL."""

    code = 7
    code_name = "INVALID_PATH"


class EmptyKeyError(RunwireError):
    """A salt key is empty."""

    code = 8
    code_name = "EMPTY_KEY"


ERROR_CLASSES: tuple[type[RunwireError], ...] = (
    InvalidArgumentError,
    EmptyNameError,
    InvalidNameError,
    EmptyPatternError,
    InvalidPatternError,
    EmptyPathError,
    InvalidPathError,
    EmptyKeyError,
)

_BY_CODE = {cls.code: cls for cls in ERROR_CLASSES}


def _error_for(code: int, message: str) -> RunwireError:
    """The exception for a caller-error code (called by the native module, which maps a code
    newer than this package to ``INVALID_ARGUMENT``)."""
    return _BY_CODE.get(code, InvalidArgumentError)(message)
