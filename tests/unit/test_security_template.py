"""Least privilege, no public data, encryption and TLS everywhere: asserted on the parsed templates.

checkov (`make security`) scans the same files with its generic rules; these tests hold the
project-specific promises it cannot know (which prefixes the function may read, which DynamoDB
calls the code actually makes) and the facts the skips in `.checkov.yaml` rely on.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catdog_local.cfn import DEFAULT_TEMPLATE, load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = [DEFAULT_TEMPLATE, *sorted((REPO / "infra").glob("*.yaml"))]
SERVING_CODE = [REPO / "layers" / "catdog" / "catdog", REPO / "functions"]

#: Write actions AWS does not let you scope to a resource (the service authorization reference
#: lists no resource type for them), so `Resource: "*"` is the only possible value.
UNSCOPABLE = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData",
    "ecr:GetAuthorizationToken",
}
_READ_VERBS = ("Get", "List", "Describe", "Head", "BatchGet", "Query", "Scan")


def _is_read(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return verb.startswith(_READ_VERBS) and "*" not in verb


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """An ARN as written: the string inside `!Sub`, or the plain string."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return str(value)


def _resources(template: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in (template.get("Resources") or {}).items():
        if res.get("Type") == kind:
            yield name, res.get("Properties") or {}


def _policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity policy: role inline policies, standalone policies, SAM function statements."""
    for name, props in _resources(template, "AWS::IAM::Role"):
        for pol in props.get("Policies") or []:
            yield f"{name}/{pol.get('PolicyName')}", pol["PolicyDocument"]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, props in _resources(template, kind):
            yield name, props["PolicyDocument"]
    for name, props in _resources(template, "AWS::Serverless::Function"):
        for pol in _as_list(props.get("Policies") or []):
            if isinstance(pol, dict) and "Statement" in pol:
                yield name, pol


def _statements(statements: Any) -> Iterator[dict[str, Any]]:
    """Every statement a policy can have: both branches of a conditional (`!If`) one."""
    for st in _as_list(statements or []):
        if isinstance(st, dict) and set(st) == {"Fn::If"}:
            yield from _statements([b for b in st["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"}])
        else:
            yield st


def _allow_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, doc in _policy_documents(template):
        for st in _statements(doc.get("Statement")):
            if st.get("Effect") == "Allow":
                yield where, st


@pytest.fixture(scope="module", params=TEMPLATES, ids=[p.name for p in TEMPLATES])
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_template(request.param)


@pytest.fixture(scope="module")
def app_template() -> dict[str, Any]:
    return load_template(DEFAULT_TEMPLATE)


def test_no_wildcard_resource_or_action_on_writes(template: dict[str, Any]) -> None:
    offenders = []
    for where, st in _allow_statements(template):
        actions = [str(a) for a in _as_list(st.get("Action", []))]
        assert "NotAction" not in st and "NotResource" not in st, f"{where}: Not* grants are unbounded"
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{where}: grants {action}"
        writes = [a for a in actions if not _is_read(a) and a not in UNSCOPABLE]
        if writes and "*" in _as_list(st.get("Resource")):
            offenders.append((where, writes))
    assert offenders == [], f"write actions on Resource '*': {offenders}"


def test_the_unscopable_exceptions_are_only_telemetry(app_template: dict[str, Any]) -> None:
    """The exception list must not become a loophole: on '*' we allow tracing and nothing else."""
    on_star = {a for _, st in _allow_statements(app_template) if "*" in _as_list(st.get("Resource"))
               for a in _as_list(st["Action"])}
    assert on_star == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "(the Tracing=Active grant)"


def test_buckets_are_private_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    buckets = dict(_resources(template, "AWS::S3::Bucket"))
    policies = [p for _, p in _resources(template, "AWS::S3::BucketPolicy")]
    for name, props in buckets.items():
        block = props.get("PublicAccessBlockConfiguration") or {}
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            assert block.get(flag) is True, f"{name}: {flag} must be true"
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert "AccessControl" not in props, f"{name}: canned ACLs (e.g. PublicRead) are not used"
        mine = [p for p in policies if p["Bucket"] == {"Ref": name}]
        assert mine, f"{name} has no bucket policy, so nothing denies plain-HTTP access"
        denies = [st for p in mine for st in _as_list(p["PolicyDocument"]["Statement"])
                  if st.get("Effect") == "Deny"
                  and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)]
        assert denies, f"{name}: no Deny on aws:SecureTransport=false"
        covered = {str(r) for st in denies for r in _as_list(st["Resource"])}
        assert any("/*" in r for r in covered) and any("/*" not in r for r in covered), (
            f"{name}: the TLS deny must cover both the bucket and its objects: {covered}")
        for st in (s for p in mine for s in _as_list(p["PolicyDocument"]["Statement"])):
            if st.get("Effect") == "Allow":
                assert st.get("Principal") not in ("*", {"AWS": "*"}), f"{name}: public Allow"


def test_tables_and_queues_are_encrypted(template: dict[str, Any]) -> None:
    for name, props in _resources(template, "AWS::DynamoDB::Table"):
        assert props.get("SSESpecification", {}).get("SSEEnabled") is True, name
    for name, props in _resources(template, "AWS::SQS::Queue"):
        assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), (
            f"{name}: .checkov.yaml skips CKV_AWS_27 because every queue sets SqsManagedSseEnabled")


def test_queue_policies_deny_plain_http(template: dict[str, Any]) -> None:
    for name, props in _resources(template, "AWS::SQS::QueuePolicy"):
        statements = _as_list(props["PolicyDocument"]["Statement"])
        assert any(st.get("Effect") == "Deny" and st.get("Condition", {}).get("Bool", {}).get(
            "aws:SecureTransport") in ("false", False) for st in statements), name
        for st in statements:
            if st.get("Effect") == "Allow" and st.get("Principal") == {"Service": "s3.amazonaws.com"}:
                cond = st.get("Condition", {})
                assert "aws:SourceArn" in str(cond) and "aws:SourceAccount" in str(cond), (
                    f"{name}: S3 may send only from our bucket in our account (confused deputy)")


def _function_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [st for where, st in _allow_statements(template) if where.startswith("ClassifyFunctionRole/")]


def test_function_reads_only_uploads_and_models_and_writes_no_object(app_template: dict[str, Any]) -> None:
    statements = _function_statements(app_template)
    s3_actions = {a for st in statements for a in _as_list(st["Action"]) if a.startswith("s3:")}
    assert s3_actions <= {"s3:GetObject", "s3:ListBucket"}, f"the function must not write to S3: {s3_actions}"
    for st in statements:
        if "s3:GetObject" in _as_list(st["Action"]):
            # the part after the bucket: `arn:…:::name/uploads/*` or `${ImagesBucket.Arn}/uploads/*`
            keys = [re.sub(r"^(.*:::[^/]*|\$\{\w+\.Arn\})", "", _text(r)) for r in _as_list(st["Resource"])]
            assert sorted(keys) == ["/models/*", "/uploads/*"], keys
        if "s3:ListBucket" in _as_list(st["Action"]):
            assert st["Condition"]["StringLike"]["s3:prefix"] == ["uploads/*", "models/*"]


def _boto_calls(roots: list[Path]) -> set[str]:
    """Method names called anywhere in the code, e.g. {'put_item', 'get_object', ...}."""
    names: set[str] = set()
    for root in roots:
        paths = list(root.rglob("*.py"))
        assert paths, f"{root}: no Python files to scan (moved?)"
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    names.add(node.func.attr)
    return names


#: boto3 method names of DynamoDB data-plane calls a handler could make.
DYNAMODB_OPERATIONS = {"put_item", "update_item", "delete_item", "get_item", "batch_write_item",
                       "batch_get_item", "query", "scan", "transact_write_items", "transact_get_items"}


def _snake(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action.split(":", 1)[1]).lower()


def test_function_is_granted_only_the_dynamodb_calls_its_code_makes(app_template: dict[str, Any]) -> None:
    """An unused write grant (say DeleteItem) is what turns a code-injection bug into data loss."""
    granted = {a for st in _function_statements(app_template) for a in _as_list(st["Action"])
               if a.startswith("dynamodb:")}
    called = _boto_calls(SERVING_CODE)
    unused = sorted(a for a in granted if _snake(a) not in called)
    assert granted, "the function writes results: it needs a DynamoDB write action"
    assert unused == [], f"granted but never called by functions/ or the catdog package: {unused}"


def test_every_dynamodb_call_the_function_makes_is_granted(app_template: dict[str, Any]) -> None:
    """The other direction: a call without its grant is AccessDenied on AWS — every message
    retried, then dead-lettered — while moto, which does not enforce IAM, passes every test."""
    granted = {_snake(a) for st in _function_statements(app_template) for a in _as_list(st["Action"])
               if a.startswith("dynamodb:")}
    used = _boto_calls(SERVING_CODE) & DYNAMODB_OPERATIONS
    assert used, "the scan found no DynamoDB call at all: the pattern is out of date"
    assert used <= granted, f"called by the function's code but not granted: {sorted(used - granted)}"


def test_function_environment_holds_no_secrets(app_template: dict[str, Any]) -> None:
    """.checkov.yaml skips CKV_AWS_173 (CMK for env vars) because of exactly this."""
    for _, props in _resources(app_template, "AWS::Serverless::Function"):
        env = props.get("Environment", {}).get("Variables", {})
        for name in env:
            assert not re.search(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE", name), name


def test_object_size_and_pixel_caps_default_to_the_documented_values(app_template: dict[str, Any]) -> None:
    params = app_template["Parameters"]
    assert params["MaxObjectBytes"]["Default"] == 20 * 1024 * 1024
    assert params["MaxImagePixels"]["Default"] == 50_000_000
    from catdog.config import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_OBJECT_BYTES

    assert (DEFAULT_MAX_OBJECT_BYTES, DEFAULT_MAX_IMAGE_PIXELS) == (20 * 1024 * 1024, 50_000_000)


def test_s3_writes_anywhere_are_confined_to_the_models_prefix(template: dict[str, Any]) -> None:
    """Only the training job writes objects, and only model files: a role that could write
    uploads/ could feed the classifier, and one that could write elsewhere could overwrite data."""
    for where, st in _allow_statements(template):
        writes = [a for a in _as_list(st.get("Action", [])) if a.startswith("s3:") and not _is_read(a)]
        if writes:
            targets = [_text(r) for r in _as_list(st["Resource"])]
            assert all(t.endswith("/models/*") for t in targets), f"{where}: {writes} on {targets}"


def test_the_function_queue_dead_letters_so_no_lambda_dlq_is_needed(app_template: dict[str, Any]) -> None:
    """.checkov.yaml skips CKV_AWS_116 (Lambda DLQ) because the SQS source queue has a redrive policy."""
    for _, props in _resources(app_template, "AWS::Serverless::Function"):
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "SQS":
                queue_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                queue = app_template["Resources"][queue_id]["Properties"]
                assert queue["RedrivePolicy"]["deadLetterTargetArn"], queue_id
                assert "ReportBatchItemFailures" in event["Properties"]["FunctionResponseTypes"]


def test_the_alarm_topic_only_takes_this_stacks_alarms_over_tls(app_template: dict[str, Any]) -> None:
    """.checkov.yaml skips CKV_AWS_26 (SNS encryption) because of exactly this; and the AWS-managed
    SNS key would make CloudWatch's publish fail, so every alarm would go nowhere."""
    topics = dict(_resources(app_template, "AWS::SNS::Topic"))
    assert set(topics) == {"AlarmTopic"}
    assert "aws/sns" not in str(topics["AlarmTopic"].get("KmsMasterKeyId", ""))
    (policy,) = [p for _, p in _resources(app_template, "AWS::SNS::TopicPolicy")]
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    statements = _as_list(policy["PolicyDocument"]["Statement"])
    allows = [st for st in statements if st["Effect"] == "Allow"]
    assert [st["Principal"] for st in allows] == [{"Service": "cloudwatch.amazonaws.com"}]
    assert allows[0]["Action"] == "sns:Publish"
    assert ":alarm:${AWS::StackName}-*" in _text(allows[0]["Condition"]["ArnLike"]["aws:SourceArn"])
    assert "aws:SourceAccount" in allows[0]["Condition"]["StringEquals"]
    assert any(st["Effect"] == "Deny" and st["Condition"]["Bool"]["aws:SecureTransport"] == "false"
               for st in statements)
