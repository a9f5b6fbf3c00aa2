"""The Python testee of the runwire conformance suite: a tool that uses the public API of the
``runwire`` package and nothing else. The harness sends one JSON operation per stdin line and
reads one JSON result per stdout line (conformance/README.md, "Writing a testee"). Byte
strings are canonical base64 (any other spelling is ``{"failed"}``); the ``*_bytes``
functions and bytes arguments carry them unchanged."""

import base64
import json
import os
import sys
import threading

import runwire

PATH_REPORTS = ("ignore_input", "ignore_output", "report_input", "report_output")


class NotBase64(ValueError):
    pass


def arg(request, field):
    """A byte-string argument. Only the canonical spelling is taken, the harness's rule: the
    standard library's strict decoding (``validate=True``: the alphabet and padding only),
    and for the bits past the data, the text must be what encoding its bytes again gives."""
    text = request.get(field, "")
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError as error:  # binascii.Error, or a str that is not ASCII
        raise NotBase64(f"{field}: not base64: {error}: {text!r}") from None
    canonical = encode(data)
    if text != canonical:
        at = next(i for i, (a, b) in enumerate(zip(text + "\0", canonical + "\0")) if a != b)
        where = f"{text[at]!r} at character {at}" if at < len(text) else f"ends at character {at}"
        raise NotBase64(f"{field}: not base64: {where} (not the canonical spelling)")
    return data


def encode(data):
    return base64.b64encode(data).decode("ascii")


def perform(request):
    op = request.get("op")
    tracked = bool(request.get("tracked", False))
    try:
        if op == "get_env":
            value = runwire.get_env_bytes(arg(request, "name"), tracked=tracked)
            return {"value": None if value is None else encode(value)}
        if op == "get_envs":
            if "glob" in request:
                found = runwire.get_envs_bytes(arg(request, "glob"), tracked=tracked)
            else:
                found = runwire.get_envs_bytes(prefix=arg(request, "prefix"), tracked=tracked)
            return {"vars": [[encode(name), encode(value)] for name, value in found.items()]}
        if op in PATH_REPORTS:
            getattr(runwire, op)(arg(request, "path"))
        elif op == "report_glob":
            runwire.report_glob(arg(request, "pattern"))
        elif op == "disable_cache":
            runwire.disable_cache(request["reason"])
        elif op == "salt":
            runwire.salt(request["key"], arg(request, "value"))
        elif op == "chdir":
            os.chdir(arg(request, "path"))
        elif op == "own_env":
            value = os.environb.get(arg(request, "name"))
            return {"value": None if value is None else encode(value)}
        elif op == "threads":
            return {"results": threads(request)}
        elif op == "fork":
            return {"child": fork(request["do"])}
        else:
            return {"unsupported": f"unknown op {op!r}"}
    except runwire.RunwireError as error:
        return {"error": {"code": error.code}}
    except NotBase64 as error:
        return {"failed": str(error)}
    except OSError as error:
        return {"failed": str(error)}
    return {"ok": True}


def threads(request):
    """Runs the inner operation `repeat` times on each of `threads` threads, sharing the
    client (the module's), and returns the results thread by thread."""
    count, repeat, inner = request["threads"], request["repeat"], request["do"]
    results = [None] * count

    def work(index):
        results[index] = [perform(inner) for _ in range(repeat)]

    workers = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [result for per_thread in results for result in per_thread]


def fork(inner):
    """Runs the inner operation in a forked child (which inherits the module's client and
    its connection) and returns the child's answer, sent back through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        with os.fdopen(write, "wb") as pipe:
            pipe.write(json.dumps(perform(inner)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(answer)


def main():
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "exit":
            # Leave at once, closing nothing: reports already sent must survive.
            os._exit(0)
        sys.stdout.write(json.dumps(perform(request)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
