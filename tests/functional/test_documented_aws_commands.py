"""The `aws` command lines the docs show work as written: docs/results.md's `get-item` named a
literal `BUCKET`, and docs/local.md promised that every `aws` command reaches the local stack,
which AWS CLI v1 does not do for `aws sqs`.

Each marked line is run by bash (so its quoting and `$CATDOG_...` variables are the shell's), with
`aws` a function that hands back the arguments it got; they are then made into the boto3 call the
AWS CLI makes of them, names and types from botocore's own model of the operation, against the
template's stack in moto.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import boto3
import pytest
from botocore import xform_name

from catdog.s3uri import S3Uri
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.paths import REPO

MARKER = "<!-- aws-cli: tests/functional/test_documented_aws_commands.py runs these lines -->"
DOCS = ("docs/local.md", "docs/results.md")
ENDPOINT = "http://127.0.0.1:49999"  # what `catdog local env` would export; moto in-process ignores it


def documented_aws_lines(doc: str) -> list[str]:
    text = (REPO / doc).read_text(encoding="utf-8")
    assert MARKER in text, f"{doc} lost its marker"
    lines: list[str] = []
    for chunk in text.split(MARKER)[1:]:
        block = re.search(r"```sh\n(.*?)```", chunk, flags=re.S)
        assert block is not None
        joined = block.group(1).replace("\\\n", " ")
        lines += [line.strip() for line in joined.splitlines() if line.strip().startswith("aws ")]
    return lines


def as_the_shell_passes_it(line: str, env: dict[str, str]) -> list[str]:
    script = 'aws() { printf "%s\\0" "$@"; }\n' + line
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True,
                         timeout=30).stdout
    return out.split("\0")[:-1]


def call(argv: list[str]) -> Any:
    """What the AWS CLI does with `aws ARGV` (the high-level `s3 ls` included), through boto3."""
    argv = list(argv)
    if "--endpoint-url" in argv:
        i = argv.index("--endpoint-url")
        assert argv[i + 1] == ENDPOINT, "the variable reached the command"
        del argv[i:i + 2]
    service, operation, *args = argv
    if (service, operation) == ("s3", "ls"):
        uri = S3Uri.parse(args[0])
        return boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=uri.bucket, Prefix=uri.key)
    client = boto3.client(service, region_name=REGION)
    name = xform_name(operation.replace("-", "_"))
    shape = client.meta.service_model.operation_model(
        client.meta.method_to_api_mapping[name]).input_shape
    members = {xform_name(m, "-"): (m, s) for m, s in shape.members.items()}
    params: dict[str, Any] = {}
    while args:
        flag = args.pop(0)
        assert flag.startswith("--"), f"unexpected {flag!r} in {argv}"
        if flag.startswith("--no-") and flag[5:] in members:
            params[members[flag[5:]][0]] = False
            continue
        member, member_shape = members[flag[2:]]
        if member_shape.type_name == "boolean":
            params[member] = True
        elif member_shape.type_name == "list":
            params[member] = []
            while args and not args[0].startswith("--"):
                params[member].append(args.pop(0))
        elif member_shape.type_name in ("structure", "map"):
            params[member] = json.loads(args.pop(0))
        else:
            params[member] = args.pop(0)
    return getattr(client, name)(**params)


@pytest.fixture
def env(stack: Stack) -> dict[str, str]:
    """The shell after `eval "$(catdog local env)"`, and what the docs' lines look for in it."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=stack.bucket, Key="uploads/my cat.jpg", Body=b"jpeg")
    ddb = boto3.client("dynamodb", region_name=REGION)
    for key, label in (("uploads/my cat.jpg", "cat"), ("uploads/rex.jpg", "dog")):
        ddb.put_item(TableName=stack.table, Item={
            "image": {"S": f"s3://{stack.bucket}/{key}"}, "label": {"S": label},
            "status": {"S": "classified"}, "processed_at": {"S": "2026-12-01T10:00:00.000000Z"}})
    return {"PATH": "/usr/bin:/bin", "AWS_ENDPOINT_URL": ENDPOINT, "CATDOG_TABLE": stack.table,
            "CATDOG_BUCKET": stack.bucket, "CATDOG_QUEUE_URL": stack.queue_url}


def test_the_docs_show_aws_lines_for_each_service() -> None:
    lines = [line for doc in DOCS for line in documented_aws_lines(doc)]
    assert {line.split()[1] for line in lines} == {"sqs", "s3", "dynamodb"}, lines
    assert all("--endpoint-url" in line for line in lines if line.split()[1] == "sqs"), \
        "AWS CLI v1 ignores AWS_ENDPOINT_URL for sqs: its lines must carry the endpoint"


def test_the_results_docs_queries_find_the_items(env: dict[str, str]) -> None:
    query, get_item = (call(as_the_shell_passes_it(line, env)) for line in documented_aws_lines(DOCS[1]))
    assert [i["image"]["S"].rsplit("/", 1)[-1] for i in query["Items"]] == ["rex.jpg"]
    assert get_item["Item"]["label"] == {"S": "cat"}, "the key names a real item, not s3://BUCKET/..."


def test_the_local_docs_aws_lines_reach_the_queue_and_the_bucket(env: dict[str, str]) -> None:
    attributes, listing = (call(as_the_shell_passes_it(line, env)) for line in documented_aws_lines(DOCS[0]))
    assert set(attributes["Attributes"]) == {"ApproximateNumberOfMessages"}
    assert [o["Key"] for o in listing["Contents"]] == ["uploads/my cat.jpg"]
