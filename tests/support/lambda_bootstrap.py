"""Lambda's python3.12 runtime, minus the container: run a built function on events, nothing else.

Run by a Python 3.12 as `python3.12 -I -S -B lambda_bootstrap.py SPEC.json` (isolated: no
PYTHON* variables, no user or system site-packages, not even this file's folder on the path; no
bytecode written, as Lambda's code dirs are read-only), with
the environment Lambda would give the function and nothing else. Standard library only: it must
not import one module the function does not bring itself.

SPEC: {"task_root": function dir, "layers": [layer dirs], "runtime": dir standing in for the
runtime's boto3, "handler": "app.handler", "events": [event, ...], "timeout_s": 60,
"memory_mb": 1024, "out": result file, "paths": [more dirs, for a baseline run from a checkout]}.
As on Lambda the path is the function, then each layer's
`python/`, then the runtime's packages, then the standard library; the working directory is the
function's. The handler module is imported once (the cold start) and called on each event in turn
(the first call cold, the rest warm). The result file gets each response, the import and
invocation times, the interpreter's version and every imported module's file that lies outside
the function, the layers, the runtime dir and the standard library (there must be none).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
import time
import traceback
import uuid
from typing import Any


class Context:
    """The attributes of Lambda's context object that Powertools and the handler read."""

    def __init__(self, name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        region = os.environ.get("AWS_REGION", "us-east-1")
        account = os.environ.get("AWS_ACCOUNT_ID", "123456789012")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _outside(allowed: list[str]) -> list[str]:
    """Imported modules whose file is in none of `allowed` and not in the standard library (the
    interpreter's own site-packages counts as outside: -S keeps it off the path)."""
    paths = sysconfig.get_paths()
    stdlib = tuple(os.path.realpath(paths[k]) + os.sep for k in ("stdlib", "platstdlib"))
    site = tuple(os.path.realpath(paths[k]) + os.sep for k in ("purelib", "platlib"))
    roots = tuple(os.path.realpath(p) + os.sep for p in allowed)
    found = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or module is sys.modules["__main__"]:  # this bootstrap: Lambda's runtime itself
            continue
        real = os.path.realpath(path)
        if not (real.startswith(roots) or (real.startswith(stdlib) and not real.startswith(site))):
            found.append(f"{name}: {path}")
    return sorted(found)


def main() -> None:
    started = time.perf_counter()
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    layers = [os.path.join(d, "python") for d in spec["layers"]] + spec.get("paths", [])
    sys.path[:0] = [spec["task_root"], *layers, spec["runtime"]]
    os.chdir(spec["task_root"])
    module_name, _, function = spec["handler"].rpartition(".")
    result: dict[str, Any] = {"python": ".".join(map(str, sys.version_info[:3])),
                              "executable": sys.executable,
                              "flags": {"isolated": sys.flags.isolated, "no_site": sys.flags.no_site,
                                        "dont_write_bytecode": sys.flags.dont_write_bytecode},
                              "sys_path": list(sys.path), "responses": [], "invoke_s": []}
    try:
        handler = getattr(importlib.import_module(module_name), function)
        result["init_s"] = time.perf_counter() - started
        for event in spec["events"]:
            t = time.perf_counter()
            context = Context(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function"), spec["memory_mb"],
                              spec["timeout_s"])
            result["responses"].append(handler(event, context))
            result["invoke_s"].append(time.perf_counter() - t)
    except BaseException:
        result["error"] = traceback.format_exc()
    result["outside"] = _outside([spec["task_root"], *layers, spec["runtime"]])
    heavy = ("tensorflow", "keras", "aws_xray_sdk")
    result["heavy"] = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
    with open(spec["out"], "w", encoding="utf-8") as fh:
        json.dump(result, fh, default=str)


if __name__ == "__main__":
    main()
