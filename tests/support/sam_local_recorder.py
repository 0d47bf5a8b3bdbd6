"""`sam local invoke` up to the container, run by aws-sam-cli's own Python (`.venv-sam/bin/python`).

Docker cannot run here, so this script runs SAM's real CLI (`samcli.cli.main.cli`, the command a
user's `sam` runs) with the two container calls replaced: the Docker client check, and
`LambdaRuntime.invoke`, which would start the container. Everything before that is SAM's own
code: reading `.aws-sam/build/template.yaml`, the default stack name, parameter defaults and
`--parameter-overrides`, pseudo parameters, `--env-vars`, `-e -` from stdin, `--add-host`. What the
container would have been given is written as JSON to $SAM_LOCAL_RECORD:

    {"handler", "runtime", "architecture", "code", "layers": [dirs], "environment": {...},
     "event": {...}, "extra_hosts": {...}, "memory", "timeout"}

The tests then run that handler on that event, with that environment, in a Python 3.12 whose
path is only the function and layer directories: what the container would have done.

    SAM_LOCAL_RECORD=out.json .venv-sam/bin/python tests/support/sam_local_recorder.py local invoke ...
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from unittest import mock


def _record(config: Any, event: str, extra_hosts: Any) -> None:
    layers = []
    for layer in config.layers or []:
        layers.append({"name": layer.name, "arn": getattr(layer, "arn", None),
                       "codeuri": layer.codeuri, "in_template": layer.is_defined_within_template})
    record = {
        "function": config.name,
        "handler": config.handler,
        "runtime": config.runtime,
        "architecture": config.architecture,
        "code": config.code_abs_path,
        "layers": layers,
        "environment": config.env_vars.resolve(),
        "event": json.loads(event),
        "extra_hosts": extra_hosts or {},
        "memory": config.memory,
        "timeout": config.timeout,
    }
    with open(os.environ["SAM_LOCAL_RECORD"], "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2)


def main() -> None:
    from samcli.cli.main import cli
    from samcli.local.lambdafn.runtime import LambdaRuntime

    def invoke(self: Any, function_config: Any, event: str, *args: Any, **kwargs: Any) -> None:
        _record(function_config, event, kwargs.get("extra_hosts"))
        stdout = kwargs.get("stdout")
        if stdout is not None:
            stdout.write_str('{"recorded": true}')
            stdout.flush()

    from samcli.local.docker.container_client_factory import ContainerClientFactory

    with mock.patch.object(ContainerClientFactory, "create_client", return_value=mock.MagicMock()), \
            mock.patch.object(LambdaRuntime, "invoke", invoke):
        cli.main(args=sys.argv[1:], prog_name="sam")


if __name__ == "__main__":
    main()
