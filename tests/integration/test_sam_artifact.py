"""What `sam build` makes is what runs: docs/local.md's `sam local invoke` lines as written, and the
built x86_64 function and layer under Python 3.12, against a real `catdog local up` stack.

Docker cannot run here, so `sam local invoke` runs as SAM's own code up to the container
(tests/support/sam_local_recorder.py: the template SAM built, its default stack name, parameter
defaults and overrides, pseudo parameters, `--env-vars`, the event from stdin, `--add-host`), which
records what it would hand the container; then that function dir and layer dir, and nothing else,
run the handler under Python 3.12 (tests/support/lambda_artifact.py) with that environment on that
event. The only stand-ins are the container's: its network (`host.docker.internal`, mapped as
`--add-host ...:host-gateway` maps it, to the stack's port), its private /tmp, and the runtime's
boto3 (constraints.txt's). Each documented line runs verbatim in bash, in a checkout-shaped folder,
with the README's shell: .venv/bin first on the PATH (so `sam` is the one `make install` links).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import boto3
import pytest

from catdog_local.events import to_event
from catdog_local.moto_server import DEFAULT_PORT
from catdog_local.state import LocalState
from tests.support.images import jpeg_bytes
from tests.support.lambda_artifact import require_python312, run_artifact, runtime_stand_in
from tests.support.model_factory import build_tiny_model_dir
from tests.support.paths import REPO
from tests.support.processes import CATDOG, local_up, user_env

pytestmark = pytest.mark.slow

MARKER = "<!-- sam-local: tests/integration/test_sam_artifact.py runs these lines as written -->"
RECORDER = REPO / "tests" / "support" / "sam_local_recorder.py"
#: What a checkout holds that `sam build` / `sam local invoke` read, relative to the repository.
CHECKOUT = ("template.yaml", "samconfig.toml", "functions", "layers", "events")
#: The only variables events/env.json may set differently from `catdog local up`'s function
#: environment: where the container finds the stack, and a chattier log for local debugging.
CONTAINER_ONLY = {"AWS_ENDPOINT_URL", "POWERTOOLS_LOG_LEVEL"}
RED = (220, 30, 30)


def sam_local_lines() -> dict[str, list[str]]:
    """{"x86_64": [sam build..., ... | sam local invoke ...], "arm64": [...]} from docs/local.md."""
    text = (REPO / "docs" / "local.md").read_text(encoding="utf-8")
    assert MARKER in text, "docs/local.md lost the sam-local marker"
    block = re.search(r"```sh\n(.*?)```", text[text.index(MARKER):], flags=re.S)
    assert block is not None
    lines: dict[str, list[str]] = {}
    arch = None
    for line in block.group(1).splitlines():
        if heading := re.match(r"# an (x86_64|arm64) host", line):
            arch = heading[1]
            lines[arch] = []
        elif line.strip() and arch is not None:
            lines[arch].append(line.strip())
    return lines


def test_the_docs_give_one_build_and_invoke_per_architecture_that_differ_only_in_it() -> None:
    lines = sam_local_lines()
    assert set(lines) == {"x86_64", "arm64"}
    override = " --parameter-overrides Architecture=x86_64"
    assert lines["x86_64"][0] == "sam build" + override and lines["arm64"][0] == "sam build"
    x86_invoke, arm_invoke = lines["x86_64"][1], lines["arm64"][1]
    assert x86_invoke.replace(override, "") == arm_invoke, "arm64's line is x86_64's without the override"
    words = shlex.split(arm_invoke.split("|", 1)[1])
    assert words[:3] == ["sam", "local", "invoke"] and "--env-vars" in words and "-e" in words


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def python312() -> str:
    return require_python312()


@pytest.fixture(scope="module")
def runtime(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_stand_in(tmp_path_factory.mktemp("runtime"), python312)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    photo = home / "Pictures" / "pets" / "cat.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(jpeg_bytes((96, 72), RED))  # the tiny model's "cat" colour
    return home


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam` on the PATH: `sam local invoke` is SAM's code with the container recorded; any other
    command is .venv/bin/sam, the link `make install` puts in the README's shell."""
    bin_dir = tmp_path_factory.mktemp("bin")
    sam = bin_dir / "sam"
    sam.write_text("#!/bin/sh\n"
                   'if [ "$1" = local ] && [ "$2" = invoke ]; then\n'
                   f'  exec "{REPO / ".venv-sam" / "bin" / "python"}" "{RECORDER}" "$@"\n'
                   "fi\n"
                   f'exec "{REPO / ".venv" / "bin" / "sam"}" "$@"\n')
    sam.chmod(0o755)
    return bin_dir


@pytest.fixture(scope="module")
def env(home: Path, shim: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = user_env(tmp_path_factory.mktemp("stacks"))
    env.update(HOME=str(home), SAM_CLI_TELEMETRY="0",
               PATH=os.pathsep.join([str(shim), str(REPO / ".venv" / "bin"), "/usr/bin", "/bin"]),
               PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")))
    return env


@pytest.fixture(scope="module")
def stack(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    with local_up(env) as state:
        model = build_tiny_model_dir(tmp_path_factory.mktemp("model"), version="sam-artifact-v1")
        run = subprocess.run([*CATDOG, "publish", str(model)], env=env, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        yield state


def _bash(line: str, cwd: Path, env: dict[str, str], record: Path | None = None) -> str:
    run = subprocess.run(["bash", "-c", line], cwd=cwd, env={**env, "SAM_LOCAL_RECORD": str(record or "")},
                         capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"`{line}` exited {run.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def invoked(stack: LocalState, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Each architecture's two lines run in a checkout-shaped folder of its own, after the docs'
    upload: {arch: (that folder, what `sam local invoke` would have handed the container)}."""
    _bash("catdog upload ~/Pictures/pets/cat.jpg", Path(env["HOME"]), env)
    out = {}
    for arch, (build, invoke) in sam_local_lines().items():
        project = tmp_path_factory.mktemp(f"checkout-{arch}")
        for name in CHECKOUT:
            (project / name).symlink_to(REPO / name)
        _bash(build, project, env)
        record = project / "sam-local-record.json"
        _bash(invoke, project, env, record)
        out[arch] = (project, json.loads(record.read_text()))
    return out


def _client(stack: LocalState, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.endpoint, region_name=stack.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _item(stack: LocalState, key: str) -> dict[str, Any]:
    key_value = {"image": {"S": f"s3://{stack.bucket}/{key}"}}
    item = _client(stack, "dynamodb").get_item(TableName=stack.table, Key=key_value).get("Item", {})
    return {k: next(iter(v.values())) for k, v in item.items()}


# -------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_sam_resolves_the_function_to_the_local_stack(invoked: dict[str, tuple[Path, dict[str, Any]]],
                                                      stack: LocalState, arch: str) -> None:
    """SAM's own resolution (stack name `local`, its account and region, parameter defaults, then
    `--env-vars`) must give the function the environment `catdog local up` gives it, variable for
    variable, apart from the container's endpoint and log level; the built layer and this CPU."""
    project, record = invoked[arch]
    lambda_own = {k for k in record["environment"] if k.startswith(("AWS_", "_"))} - {"AWS_ENDPOINT_URL"}
    function_env = {k: v for k, v in record["environment"].items() if k not in lambda_own}
    expected = dict(stack.function_environment)
    differ = {k: (function_env.get(k), expected.get(k)) for k in set(function_env) | set(expected)
              if k not in CONTAINER_ONLY and function_env.get(k) != expected.get(k)}
    assert differ == {}, f"sam local invoke's environment vs the local stack's: {differ}"
    assert urlsplit(function_env["AWS_ENDPOINT_URL"]).port == DEFAULT_PORT, "where `catdog local up` listens"
    assert record["architecture"] == arch and record["runtime"] == "python3.12"
    assert record["handler"] == "app.handler"
    assert Path(record["code"]) == project / ".aws-sam" / "build" / "ClassifyFunction"
    assert [(layer["name"], Path(layer["codeuri"])) for layer in record["layers"]] == [
        ("CatdogLayer", project / ".aws-sam" / "build" / "CatdogLayer")]
    assert record["extra_hosts"] == {"host.docker.internal": "host-gateway"}
    assert record["event"]["Records"][0]["s3"]["bucket"]["name"] == stack.bucket


def _container_endpoint(record: dict[str, Any], stack: LocalState) -> str:
    """The container's AWS_ENDPOINT_URL as the host sees it: `--add-host NAME:host-gateway` makes
    NAME this machine, where the test's stack listens on its own port instead of 5000."""
    url = urlsplit(record["environment"]["AWS_ENDPOINT_URL"])
    assert record["extra_hosts"].get(url.hostname) == "host-gateway", "the container could not reach it"
    return stack.endpoint


def test_sam_local_invoke_as_documented_classifies_the_photo(
        invoked: dict[str, tuple[Path, dict[str, Any]]], stack: LocalState, python312: str,
        runtime: Path) -> None:
    _, record = invoked["x86_64"]
    environment = {**record["environment"], "AWS_ENDPOINT_URL": _container_endpoint(record, stack)}
    layers = [Path(layer["codeuri"]) for layer in record["layers"]]
    run = run_artifact(python312, Path(record["code"]), layers,
                       runtime, environment, [record["event"]],
                       handler=record["handler"], timeout_s=record["timeout"], memory_mb=record["memory"])
    (response,) = run.responses
    assert response == {"model_version": "sam-artifact-v1", "classified": 1}, run.stderr[-3000:]
    item = _item(stack, "uploads/cat.jpg")
    assert (item["status"], item["label"], item["model_version"]) == ("classified", "cat", "sam-artifact-v1")


def test_the_built_x86_64_artifact_classifies_an_sqs_batch_under_python_312(
        invoked: dict[str, tuple[Path, dict[str, Any]]], stack: LocalState, python312: str,
        runtime: Path) -> None:
    """The deployed shape: the function dir and the layer dir of `sam build`, Lambda's environment
    for the stack (as `catdog local up` resolves the template), the SQS batch the event source
    mapping builds from the queue's real messages, and ReportBatchItemFailures."""
    project, _ = invoked["x86_64"]
    build = project / ".aws-sam" / "build"
    _client(stack, "s3").put_object(Bucket=stack.bucket, Key="uploads/queued/cat.jpg",
                                    Body=jpeg_bytes((64, 64), RED))
    sqs = _client(stack, "sqs")
    messages: list[dict[str, Any]] = []
    while got := sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageSystemAttributeNames=["All"]).get("Messages", []):
        messages += got
    keys = [unquote_plus(k) for m in messages for k in re.findall(r'"key": "([^"]*)"', m["Body"])]
    assert "uploads/queued/cat.jpg" in keys, keys
    environment = {**stack.function_environment, "AWS_ENDPOINT_URL": stack.endpoint,
                   "AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_LAMBDA_FUNCTION_NAME": f"{stack.name}-classify"}
    run = run_artifact(python312, build / "ClassifyFunction", [build / "CatdogLayer"],
                       runtime, environment,
                       [to_event(messages, stack.queue_arn)])
    (response,) = run.responses
    assert response == {"batchItemFailures": []}, run.stderr[-3000:]
    item = _item(stack, "uploads/queued/cat.jpg")
    assert (item["status"], item["label"]) == ("classified", "cat")
    result = run.result
    assert result["python"].startswith("3.12.")
    assert result["flags"] == {"isolated": 1, "no_site": 1, "dont_write_bytecode": 1}
    assert result["outside"] == [], f"imported from outside the build, runtime, stdlib: {result['outside']}"
    assert result["heavy"] == [], "no TensorFlow, and no X-Ray SDK with the default Tracing"
    assert str(REPO / ".venv") not in json.dumps(result["sys_path"]) and sys.prefix not in result["sys_path"]
    assert '"ImagesClassified"' in run.stdout, "the function's EMF metrics, as CloudWatch would read them"
