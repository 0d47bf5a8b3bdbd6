"""template.yaml's promises that a typo could silently break (cfn-lint checks syntax, not intent)."""

from __future__ import annotations

from typing import Any

import pytest

from catdog_local.cfn import DEFAULT_TEMPLATE, Resolver, load_template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(DEFAULT_TEMPLATE)


def _resolver(template: dict[str, Any], **params: Any) -> Resolver:
    def create(logical_id: str) -> dict[str, str]:
        return {"Ref": f"ref-{logical_id}", "Arn": f"arn:{logical_id}", "QueueName": logical_id}

    return Resolver(template, stack_name="st", region="eu-west-1", account="111122223333",
                    parameters=params, create=create)


def test_short_tags_become_long_form(template: dict[str, Any]) -> None:
    fn = template["Resources"]["ClassifyFunction"]["Properties"]
    assert fn["Role"] == {"Fn::GetAtt": ["ClassifyFunctionRole", "Arn"]}
    assert fn["Environment"]["Variables"]["RESULTS_TABLE"] == {"Ref": "ResultsTable"}


def test_notifications_cover_every_object_under_uploads_and_nothing_else(template: dict[str, Any]) -> None:
    """No suffix filter: S3's are exact and case-sensitive, so `.Jpeg`, `.tif` or `.jfif` uploads
    would get no event and no item at all. The function reads the content to decide instead."""
    confs = template["Resources"]["ImagesBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"]
    seen = set()
    for conf in confs:
        rules = {r["Name"]: r["Value"] for r in conf["Filter"]["S3Key"]["Rules"]}
        assert rules == {"prefix": "uploads/"}, "the models/ prefix must never trigger; no suffix filter"
        seen.add(conf["Event"])
    assert seen == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}


def test_the_function_classifies_only_the_prefix_the_bucket_notifies(template: dict[str, Any]) -> None:
    env = template["Resources"]["ClassifyFunction"]["Properties"]["Environment"]["Variables"]
    assert env["UPLOAD_PREFIX"] == "uploads/"
    assert env["UPLOAD_BUCKET"] == env["MODEL_BUCKET"], "one bucket holds uploads/ and models/"


def test_role_reads_only_uploads_and_models(template: dict[str, Any]) -> None:
    resolver = _resolver(template)
    statements = resolver.resolve(template["Resources"]["ClassifyFunctionRole"]["Properties"]["Policies"][0][
        "PolicyDocument"]["Statement"])
    by_action: dict[str, Any] = {}
    for st in statements:
        for action in [st["Action"]] if isinstance(st["Action"], str) else st["Action"]:
            by_action[action] = st
    bucket_arn = "arn:ImagesBucket"  # the stack's own bucket, by reference
    assert by_action["s3:GetObject"]["Resource"] == [f"{bucket_arn}/uploads/*", f"{bucket_arn}/models/*"]
    assert by_action["s3:ListBucket"]["Resource"] == bucket_arn
    assert by_action["s3:ListBucket"]["Condition"]["StringLike"]["s3:prefix"] == ["uploads/*", "models/*"]
    assert not any(a.startswith("s3:Put") or a.startswith("s3:Delete") for a in by_action)
    assert by_action["dynamodb:UpdateItem"]["Resource"] == "arn:ResultsTable"
    assert by_action["sqs:DeleteMessage"]["Resource"] == "arn:ImagesQueue"


def test_bucket_name_is_computed_not_referenced_to_avoid_the_notification_cycle(
        template: dict[str, Any]) -> None:
    resolver = _resolver(template)
    bucket = resolver.resolve(template["Resources"]["ImagesBucket"]["Properties"]["BucketName"])
    policy = resolver.resolve(template["Resources"]["ImagesQueuePolicy"]["Properties"]["PolicyDocument"])
    assert policy["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{bucket}"
    assert template["Resources"]["ImagesBucket"]["DependsOn"] == "ImagesQueuePolicy"


def test_function_environment_defaults(template: dict[str, Any]) -> None:
    env = _resolver(template).resolve(
        template["Resources"]["ClassifyFunction"]["Properties"]["Environment"]["Variables"])
    assert env["MODEL_KEY"] == "models/latest.json"
    assert env["MAX_OBJECT_BYTES"] == str(20 * 1024 * 1024)
    # By reference, not a second copy of the name: `sam local` then resolves it to the logical id
    # (events/env.json overrides it) instead of a plausible but wrong `local-images-…` bucket.
    assert env["MODEL_BUCKET"] == env["UPLOAD_BUCKET"] == "ref-ImagesBucket"


def test_reserved_concurrency_condition(template: dict[str, Any]) -> None:
    node = template["Resources"]["ClassifyFunction"]["Properties"]
    assert "ReservedConcurrentExecutions" not in _resolver(template).resolve(node)
    assert _resolver(template, ReservedConcurrency=7).resolve(node)["ReservedConcurrentExecutions"] == "7"


def test_bad_parameters_are_refused(template: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not one of"):
        _resolver(template, Architecture="sparc")
    with pytest.raises(ValueError, match="unknown template parameter"):
        _resolver(template, NoSuchParam=1)


def test_sub_literal_and_join_select() -> None:
    tpl: dict[str, Any] = {"Resources": {}, "Parameters": {"P": {"Type": "String", "Default": "a,b"}}}
    r = _resolver(tpl)
    assert r.resolve({"Fn::Sub": "${!Literal}-${P}"}) == "${Literal}-a,b"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "P"}]}]}) == "b"
    assert r.resolve({"Fn::Join": ["-", ["x", {"Ref": "AWS::Region"}]]}) == "x-eu-west-1"
    assert r.resolve({"Fn::Sub": ["${X}!", {"X": {"Ref": "AWS::AccountId"}}]}) == "111122223333!"


def test_events_env_json_only_overrides_variables_the_template_declares(template: dict[str, Any]) -> None:
    """SAM silently ignores --env-vars entries the template does not define."""
    import json

    from tests.support.paths import REPO

    env = json.loads((REPO / "events" / "env.json").read_text())
    declared = set(template["Resources"]["ClassifyFunction"]["Properties"]["Environment"]["Variables"])
    assert set(env) == {"ClassifyFunction"}
    assert set(env["ClassifyFunction"]) <= declared
    assert env["ClassifyFunction"]["AWS_ENDPOINT_URL"].startswith("http://")


def test_deleting_the_stack_keeps_the_images_and_the_results(template: dict[str, Any]) -> None:
    for name in ("ImagesBucket", "ResultsTable"):
        resource = template["Resources"][name]
        policies = (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
        assert policies == ("Retain", "Retain"), name


def test_the_queue_event_source_is_capped_by_a_parameter(template: dict[str, Any]) -> None:
    event = template["Resources"]["ClassifyFunction"]["Properties"]["Events"]["ImagesQueueEvent"]
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    param = template["Parameters"]["MaximumConcurrency"]
    assert (param["MinValue"], param["MaxValue"]) == (2, 1000)  # what Lambda accepts
    assert 2 <= param["Default"] <= 1000


def test_the_layer_is_built_by_build_layers_for_the_template_architecture(template: dict[str, Any]) -> None:
    """SAM's python3.12 builder cannot resolve LiteRT for arm64: the layer goes through the makefile
    that runs layers/build_layers.py, one Makefile per value of the Architecture parameter."""
    from tests.support.paths import REPO

    meta = template["Resources"]["CatdogLayer"]["Metadata"]
    assert meta["BuildMethod"] == "makefile"
    assert meta["ContextPath"] == {"Fn::Sub": "layers/sam/${Architecture}"}
    for arch in template["Parameters"]["Architecture"]["AllowedValues"]:
        makefile = (REPO / "layers" / "sam" / arch / "Makefile").read_text()
        assert f"LAYER_ARCH := {arch}" in makefile
    recipe = (REPO / "layers" / "sam" / "layer.mk").read_text()
    assert "build_layers.py --layer catdog --arch $(LAYER_ARCH) --target" in recipe


@pytest.mark.parametrize("tracing", ["PassThrough", "Active"])
def test_tracing_adds_the_xray_layer_grant_and_powertools_switch_together(template: dict[str, Any],
                                                                          tracing: str) -> None:
    """One parameter turns on all four, so a function can never trace without its SDK or grant
    (Lambda refuses active tracing without the grant), nor carry the SDK while tracing is off."""
    resolver = _resolver(template, Tracing=tracing)
    fn = resolver.resolve(template["Resources"]["ClassifyFunction"]["Properties"])
    statements = resolver.resolve(template["Resources"]["ClassifyFunctionRole"]["Properties"]["Policies"][0][
        "PolicyDocument"]["Statement"])
    xray_grants = [st for st in statements if any(str(a).startswith("xray:") for a in st["Action"])]
    active = tracing == "Active"
    assert fn["Tracing"] == tracing
    assert fn["Layers"] == (["ref-CatdogLayer", "ref-XRayLayer"] if active else ["ref-CatdogLayer"])
    assert fn["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == ("false" if active else "true")
    assert len(xray_grants) == (1 if active else 0)
    assert resolver.condition(template["Resources"]["XRayLayer"]["Condition"]) is active
    assert template["Parameters"]["Tracing"]["Default"] == "PassThrough"


def test_the_xray_layer_is_built_like_the_catdog_layer(template: dict[str, Any]) -> None:
    from tests.support.paths import REPO

    catdog, xray = (template["Resources"][n] for n in ("CatdogLayer", "XRayLayer"))
    assert xray["Metadata"] == catdog["Metadata"]
    assert xray["Properties"]["ContentUri"] == "layers/xray/"
    assert "build-XRayLayer:" in (REPO / "layers" / "sam" / "layer.mk").read_text()


PAGER = "arn:aws:sns:eu-west-1:111122223333:pager"


@pytest.mark.parametrize(("params", "targets"), [
    ({}, []),
    ({"AlertEmail": "ops@example.com"}, ["ref-AlarmTopic"]),
    ({"AlarmTopicArn": PAGER}, [PAGER]),
    ({"AlertEmail": "ops@example.com", "AlarmTopicArn": PAGER}, ["ref-AlarmTopic", PAGER]),
])
def test_every_alarm_reaches_the_topics_the_parameters_name(template: dict[str, Any], params: dict[str, str],
                                                            targets: list[str]) -> None:
    """The DLQ alarm once had no AlarmActions and notified nobody: every alarm of the template,
    including any added later, notifies (and says when it is back to OK) wherever the stack says."""
    resolver = _resolver(template, **params)
    alarms = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {"DeadLetterQueueDepthAlarm", "FailedImagesAlarm", "UnknownShareAlarm"}
    for name, alarm in alarms.items():
        props = resolver.resolve(alarm["Properties"])
        assert props.get("AlarmActions", []) == targets, name
        assert props.get("OKActions", []) == targets, name
    assert resolver.condition("HasAlertEmail") is ("AlertEmail" in params)


def test_the_email_subscription_is_for_the_alert_email(template: dict[str, Any]) -> None:
    resolver = _resolver(template, AlertEmail="ops@example.com")
    sub = resolver.resolve(template["Resources"]["AlarmEmailSubscription"]["Properties"])
    assert sub == {"TopicArn": "ref-AlarmTopic", "Protocol": "email", "Endpoint": "ops@example.com"}
    for name in ("AlarmTopic", "AlarmTopicPolicy", "AlarmEmailSubscription"):
        assert template["Resources"][name]["Condition"] == "HasAlertEmail", name


def test_alarm_parameters_refuse_what_sns_would(template: dict[str, Any]) -> None:
    """Input: an address without a domain, an ARN of another service: refused at deploy time by
    CloudFormation (AllowedPattern), not as a subscription that never confirms."""
    import re

    email = re.compile(template["Parameters"]["AlertEmail"]["AllowedPattern"])
    topic = re.compile(template["Parameters"]["AlarmTopicArn"]["AllowedPattern"])
    assert email.fullmatch("") and email.fullmatch("ops@example.com")
    assert not any(email.fullmatch(bad) for bad in ("ops", "ops@localhost", "a b@c.d"))
    assert topic.fullmatch("") and topic.fullmatch("arn:aws:sns:eu-west-1:111122223333:pager")
    assert not topic.fullmatch("arn:aws:sqs:eu-west-1:111122223333:pager")
