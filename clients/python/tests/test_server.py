"""Every call against a real runwire protocol server (`runwire-test-server`), with what the
server recorded asserted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from helpers import run_under_server

HASH = re.compile(r"^blake3:[0-9a-f]{64}$")


def hashed(value: Any) -> bool:
    return isinstance(value, str) and bool(HASH.match(value))


def test_get_env_returns_values_and_records_tracked_names(tmp_path: Path) -> None:
    outcome = run_under_server(
        tmp_path,
        """
        import json, os, runwire
        before = dict(os.environ)
        out = {
            "mode": runwire.get_env("MYGEN_MODE"),
            "empty": runwire.get_env("EMPTY"),
            "unset": runwire.get_env("NOT_SET"),
            "untracked": runwire.get_env("BUILD_ID", tracked=False),
            "bytes": runwire.get_env_bytes(b"MYGEN_MODE").decode(),
            "bytes_type": type(runwire.get_env_bytes("MYGEN_MODE")).__name__,
            "active": runwire.active(),
        }
        # Values are returned, never written into the environment.
        assert dict(os.environ) == before
        assert "MYGEN_MODE" not in os.environ
        print(json.dumps(out))
        """,
        env={"MYGEN_MODE": "release", "EMPTY": "", "BUILD_ID": "7"},
    )
    assert outcome.result() == {
        "mode": "release",
        "empty": "",
        "unset": None,
        "untracked": "7",
        "bytes": "release",
        "bytes_type": "bytes",
        "active": True,
    }
    assert outcome.diagnostics == []
    names = {d["name"]: d["value"] for d in outcome.declarations}
    assert all(d["kind"] == "tracked_env" for d in outcome.declarations)
    # BUILD_ID was read untracked: not recorded. Unset is recorded as such (null).
    assert sorted(names) == ["EMPTY", "MYGEN_MODE", "NOT_SET"]
    assert names["NOT_SET"] is None
    assert hashed(names["MYGEN_MODE"]) and hashed(names["EMPTY"])
    assert names["MYGEN_MODE"] != names["EMPTY"]
    # Values never appear in plain text in the report.
    assert "release" not in str(outcome.declarations)


def test_get_envs_by_glob_and_prefix(tmp_path: Path) -> None:
    outcome = run_under_server(
        tmp_path,
        """
        import json, runwire
        print(json.dumps({
            "glob": runwire.get_envs("MYGEN_*"),
            "prefix": runwire.get_envs(prefix="MYGEN_O"),
            "class": runwire.get_envs("MYGEN_[MX]*", tracked=False),
            "star_is_literal_in_prefix": runwire.get_envs(prefix="MYGEN_*"),
            "bytes": {k.decode(): v.decode() for k, v in runwire.get_envs_bytes(b"MYGEN_M*").items()},
            "order": list(runwire.get_envs(glob="*")),
        }))
        """,
        env={"MYGEN_MODE": "release", "MYGEN_OUT": "gen", "OTHER": "x", "MYGEN_A": "1"},
    )
    assert outcome.result() == {
        "glob": {"MYGEN_A": "1", "MYGEN_MODE": "release", "MYGEN_OUT": "gen"},
        "prefix": {"MYGEN_OUT": "gen"},
        "class": {"MYGEN_MODE": "release"},
        "star_is_literal_in_prefix": {},
        "bytes": {"MYGEN_MODE": "release"},
        "order": ["MYGEN_A", "MYGEN_MODE", "MYGEN_OUT", "OTHER"],
    }
    sets = {
        next(iter(d["selector"].items())): [name for name, _ in d["matches"]]
        for d in outcome.declarations
    }
    assert all(d["kind"] == "tracked_env_set" for d in outcome.declarations)
    assert sets == {
        ("glob", "MYGEN_*"): ["MYGEN_A", "MYGEN_MODE", "MYGEN_OUT"],
        ("prefix", "MYGEN_O"): ["MYGEN_OUT"],
        ("prefix", "MYGEN_*"): [],
        ("glob", "MYGEN_M*"): ["MYGEN_MODE"],
        ("glob", "*"): ["MYGEN_A", "MYGEN_MODE", "MYGEN_OUT", "OTHER"],
    }
    assert outcome.diagnostics == []


def test_reports_are_recorded_with_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    outcome = run_under_server(
        tmp_path,
        """
        import os, pathlib, runwire
        runwire.ignore_input(".mygen-cache")
        runwire.ignore_output(pathlib.Path(".mygen-cache") / "tmp")
        runwire.report_input(b"schema/./a.txt")
        runwire.report_output(os.path.abspath("generated//models.py"))
        runwire.report_glob("src/**/*.txt")
        runwire.salt("generator", "mygen 1.0")
        runwire.salt("raw", b"\\x00\\x01")
        runwire.disable_cache("reads the network")
        os.chdir("sub")
        runwire.ignore_input("../other/..")
        runwire.report_glob(b"*.py")
        """,
    )
    assert outcome.exit_code == 0, outcome.stderr
    root = str(tmp_path)
    assert sorted(outcome.declarations, key=repr) == sorted(
        [
            {"kind": "ignore_input", "path": f"{root}/.mygen-cache"},
            {"kind": "ignore_input", "path": root},
            {"kind": "ignore_output", "path": f"{root}/.mygen-cache/tmp"},
            {"kind": "report_input", "path": f"{root}/schema/a.txt"},
            {"kind": "report_output", "path": f"{root}/generated/models.py"},
            {"kind": "report_glob", "base": root, "pattern": "src/**/*.txt"},
            {"kind": "report_glob", "base": f"{root}/sub", "pattern": "*.py"},
            {"kind": "salt", "key": "generator", "value": "mygen 1.0"},
            {"kind": "salt", "key": "raw", "value": "\x00\x01"},
            {"kind": "disable_cache", "reason": "reads the network", "client": "runwire (Python)"},
        ],
        key=repr,
    )
    assert outcome.diagnostics == []


def test_user_untracked_policy_wins_over_the_tool(tmp_path: Path) -> None:
    outcome = run_under_server(
        tmp_path,
        """
        import json, runwire
        print(json.dumps([runwire.get_env("CI_TOKEN"), runwire.get_envs("CI_*")]))
        """,
        env={"CI_TOKEN": "t", "CI_NAME": "n"},
        untracked=("CI_TOKEN",),
    )
    assert outcome.result() == ["t", {"CI_NAME": "n", "CI_TOKEN": "t"}]
    assert [d["kind"] for d in outcome.declarations] == ["tracked_env_set"]
    assert [name for name, _ in outcome.declarations[0]["matches"]] == ["CI_NAME"]


def test_names_that_are_not_utf8_go_to_the_server_as_their_bytes(tmp_path: Path) -> None:
    # "\udcff" is how os.fsdecode spells the byte 0xff: it must reach the server as that one
    # byte (the report shows it as one U+FFFD), not as the 3-byte UTF-8 of a surrogate.
    outcome = run_under_server(
        tmp_path,
        """
        import json, runwire
        print(json.dumps([runwire.get_env("NAME_\\udcff"), runwire.get_env_bytes(b"BYTES_\\xfe")]))
        """,
    )
    assert outcome.result() == [None, None]
    assert sorted(d["name"] for d in outcome.declarations) == ["BYTES_\ufffd", "NAME_\ufffd"]


CALLER_ERRORS = [
    ("runwire.get_env('')", "EmptyNameError", 2),
    ("runwire.get_env('A=B')", "InvalidNameError", 3),
    ("runwire.get_env('A\\0')", "InvalidNameError", 3),
    ("runwire.get_env(None)", "InvalidArgumentError", 1),
    ("runwire.get_env('A', tracked='yes')", "InvalidArgumentError", 1),
    ("runwire.get_env('\\ud800')", "InvalidArgumentError", 1),
    ("runwire.get_envs('')", "EmptyPatternError", 4),
    ("runwire.get_envs('A[')", "InvalidPatternError", 5),
    ("runwire.get_envs(prefix='')", "EmptyPatternError", 4),
    ("runwire.get_envs(prefix='A=')", "InvalidPatternError", 5),
    ("runwire.get_envs()", "InvalidArgumentError", 1),
    ("runwire.get_envs('A*', prefix='A')", "InvalidArgumentError", 1),
    ("runwire.get_envs_bytes(glob=3)", "InvalidArgumentError", 1),
    ("runwire.ignore_input('')", "EmptyPathError", 6),
    ("runwire.ignore_input('a\\0b')", "InvalidPathError", 7),
    ("runwire.ignore_input(3)", "InvalidArgumentError", 1),
    ("runwire.ignore_output(b'')", "EmptyPathError", 6),
    ("runwire.report_input('')", "EmptyPathError", 6),
    ("runwire.report_output(pathlib.Path('x\\0'))", "InvalidPathError", 7),
    ("runwire.report_glob('')", "EmptyPatternError", 4),
    ("runwire.report_glob(None)", "InvalidArgumentError", 1),
    ("runwire.salt('', 'v')", "EmptyKeyError", 8),
    ("runwire.salt('k\\udcff', 'v')", "InvalidArgumentError", 1),
    ("runwire.salt('k', 1)", "InvalidArgumentError", 1),
    ("runwire.disable_cache(None)", "InvalidArgumentError", 1),
]


def test_caller_errors_raise_the_class_of_their_code(tmp_path: Path) -> None:
    outcome = run_under_server(
        tmp_path,
        f"""
        import json, pathlib, runwire
        out = []
        for call in {[call for call, _, _ in CALLER_ERRORS]!r}:
            try:
                eval(call)
            except runwire.RunwireError as error:
                assert isinstance(error, ValueError)
                assert str(error) == error.message and error.message
                out.append([call, type(error).__name__, error.code, error.code_name])
            else:
                out.append([call, "no error", 0, ""])
        # The connection is still healthy after all those errors.
        out.append(runwire.get_env("OK"))
        print(json.dumps(out))
        """,
        env={"OK": "yes"},
    )
    result = outcome.result()
    assert result[-1] == "yes"
    got = [(call, name, code) for call, name, code, _ in result[:-1]]
    assert got == CALLER_ERRORS
    # Caller errors are not faults and send nothing: only the final get_env is recorded.
    assert outcome.diagnostics == []
    assert [d["name"] for d in outcome.declarations] == ["OK"]


def test_wrong_types_are_also_type_errors(tmp_path: Path) -> None:
    outcome = run_under_server(
        tmp_path,
        """
        import json, runwire
        try:
            runwire.get_env(1)
        except TypeError as error:
            print(json.dumps([type(error).__name__, str(error)]))
        """,
    )
    assert outcome.result() == ["InvalidArgumentError", "get_env name must be str or bytes, not int"]


def test_calls_from_many_threads_at_once(tmp_path: Path) -> None:
    outcome = run_under_server(
        tmp_path,
        """
        import json, threading, runwire
        THREADS, ROUNDS = 8, 40
        start = threading.Barrier(THREADS)
        errors = []

        def work(t):
            try:
                start.wait()
                for r in range(ROUNDS):
                    assert runwire.get_env(f"VAR_{t}") == f"value {t}"
                    assert runwire.get_env(f"UNSET_{t}_{r % 4}", tracked=False) is None
                    assert runwire.get_envs(prefix=f"VAR_{t}") == {f"VAR_{t}": f"value {t}"}
                    runwire.ignore_input(f"cache/{t}/{r % 5}")
                    runwire.salt(f"thread {t}", str(r % 3))
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(repr(error))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps(errors))
        """,
        env={f"VAR_{t}": f"value {t}" for t in range(8)},
    )
    assert outcome.result() == []
    assert outcome.diagnostics == []
    kinds: dict[str, set[str]] = {}
    for d in outcome.declarations:
        key = d.get("name") or d.get("path") or d.get("key") or str(d.get("selector"))
        kinds.setdefault(d["kind"], set()).add(key)
    assert kinds["tracked_env"] == {f"VAR_{t}" for t in range(8)}
    assert kinds["tracked_env_set"] == {str({"prefix": f"VAR_{t}"}) for t in range(8)}
    assert kinds["ignore_input"] == {f"{tmp_path}/cache/{t}/{r}" for t in range(8) for r in range(5)}
    assert kinds["salt"] == {f"thread {t}" for t in range(8)}
    salts = {(d["key"], d["value"]) for d in outcome.declarations if d["kind"] == "salt"}
    assert salts == {(f"thread {t}", str(r)) for t in range(8) for r in range(3)}


def test_a_forked_child_uses_its_own_connection(tmp_path: Path) -> None:
    outcome = run_under_server(
        tmp_path,
        """
        import json, os, runwire
        parent = runwire.get_env("A")
        pid = os.fork()
        if pid == 0:
            ok = runwire.get_env("B") == "b" and runwire.get_env("A") == "a"
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(json.dumps([parent, os.waitstatus_to_exitcode(status), runwire.get_env("C")]))
        """,
        env={"A": "a", "B": "b", "C": "c"},
    )
    assert outcome.result() == ["a", 0, "c"]
    assert sorted(d["name"] for d in outcome.declarations) == ["A", "B", "C"]
    assert outcome.diagnostics == []


@pytest.mark.parametrize("kind", ["missing socket", "not a runwire server"])
def test_runner_faults_never_raise_and_warn_once(tmp_path: Path, kind: str) -> None:
    from helpers import child_env, run_script

    code = """
    import json, os, socket, threading, warnings, runwire

    path = os.environ["RUNWIRE_SOCKET"]
    if os.environ["KIND"] == "not a runwire server":
        # A real socket whose peer closes every connection without answering.
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen()
        def serve():
            while True:
                conn, _ = listener.accept()
                conn.close()
        threading.Thread(target=serve, daemon=True).start()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [
            runwire.get_env("A"),
            runwire.get_envs("A*"),
            runwire.ignore_input("x"),
            runwire.ignore_output("x"),
            runwire.report_input("x"),
            runwire.report_output("x"),
            runwire.report_glob("*"),
            runwire.salt("k", "v"),
            runwire.disable_cache("r"),
            runwire.get_env("B"),
        ]
    print(json.dumps({
        "results": results,
        "warnings": [[w.category.__name__, str(w.message), os.path.basename(w.filename)] for w in caught],
    }))
    """
    env = child_env(RUNWIRE_SOCKET=str(tmp_path / "runner.sock"), KIND=kind)
    done = run_script(tmp_path, code, env=env)
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads(done.stdout)
    assert result["results"] == [None, {}, None, None, None, None, None, None, None, None]
    [(category, message, filename)] = result["warnings"]
    assert category == "RunwireWarning"
    assert message.startswith("runwire: lost contact with the task runner at ")
    assert "not cache this run" in message
    # Attributed to the tool's own line, not to the runwire package.
    assert filename == "tool.py"
    assert done.stderr == ""


def test_a_fault_under_warnings_as_errors_raises_the_warning(tmp_path: Path) -> None:
    from helpers import child_env, run_script

    done = run_script(
        tmp_path,
        """
        import runwire
        try:
            runwire.get_env("A")
        except runwire.RunwireWarning as warning:
            print("raised", type(warning).__name__)
        """,
        env=child_env(RUNWIRE_SOCKET=str(tmp_path / "absent.sock")),
    )
    # Python's -W error applies to this warning like to any other: the caller asked for it.
    assert done.stdout.strip() == "raised RunwireWarning"


def test_a_waiting_call_lets_other_python_threads_run(tmp_path: Path) -> None:
    # A call blocked on the runner must not hold the GIL. Here the "runner" is this script's
    # main thread, which must run (accept, read the Hello, hang up) for the call in the other
    # thread to finish: with the GIL held this deadlocks and the run times out.
    from helpers import child_env, run_script

    done = run_script(
        tmp_path,
        """
        import json, os, socket, threading, warnings, runwire

        listener = socket.socket(socket.AF_UNIX)
        listener.bind(os.environ["RUNWIRE_SOCKET"])
        listener.listen()
        warnings.simplefilter("ignore", runwire.RunwireWarning)
        result = {}
        caller = threading.Thread(target=lambda: result.update(value=runwire.get_env("A")))
        caller.start()
        conn, _ = listener.accept()
        hello_length = int.from_bytes(conn.recv(4), "little")
        conn.close()  # the runner goes away mid-handshake: a fault, not an exception
        caller.join()
        print(json.dumps([result, hello_length > 0]))
        """,
        env=child_env(RUNWIRE_SOCKET=str(tmp_path / "runner.sock")),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[{"value": null}, true]'
