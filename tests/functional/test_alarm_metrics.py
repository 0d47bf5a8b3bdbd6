"""The alarms watch metrics the function really emits, and fire on the traffic they describe.

A real invocation (moto, the template's stack under a name other than `catdog`) classifies two
cat-red photos, one noise image (`unknown`) and one file that is not an image (`failed`). Its EMF
output is summed per CloudWatch metric identity (namespace, name, the full dimension set), then each
of the template's function-metric alarms is evaluated on those sums: its MetricStats must each find
a series (a renamed metric or a dimension the EMF lacks would leave an alarm that never fires), and
its metric math must cross the threshold, or stay under it below AlarmMinImages.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from catdog_local.cfn import Resolver
from catdog_local.events import to_event
from catdog_local.lambda_runtime import LambdaContext, load_module
from catdog_local.provision import Stack
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.nonphotos import nonphotos
from tests.support.pipeline import REGION, Pipeline, function_stack

FUNCTION_ALARMS = ("FailedImagesAlarm", "UnknownShareAlarm")
Series = dict[tuple[str, str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    yield from function_stack(monkeypatch, tmp_path, stack_name="shop")


def _queued_event(stack: Stack) -> dict[str, Any]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = []
    while got := sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                     MessageSystemAttributeNames=["All"]).get("Messages", []):
        messages += got
    return to_event(messages, stack.queue_arn)


def emf_series(stdout: str) -> Series:
    """Sum of every metric value per CloudWatch identity, from the EMF lines on stdout."""
    sums: Series = {}
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    value = doc[metric["Name"]]
                    key = (directive["Namespace"], metric["Name"],
                           frozenset((d, str(doc[d])) for d in dimensions))
                    sums[key] = sums.get(key, 0.0) + (sum(value) if isinstance(value, list) else value)
    return sums


def _fill(value: Any, default: float) -> Any:
    return np.float64(default) if value is None else value


def _if(condition: float, then: float, otherwise: float) -> float:
    return then if condition else otherwise


def evaluate(alarm: dict[str, Any], series: Series) -> tuple[float, dict[str, float | None]]:
    """CloudWatch's answer for one period: the ReturnData expression over the MetricStats' sums."""
    values: dict[str, Any] = {}
    result = None
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            assert query["MetricStat"]["Stat"] == "Sum"
            key = (metric["Namespace"], metric["MetricName"],
                   frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
            values[query["Id"]] = series.get(key)
        else:
            code = re.sub(r"\bIF\(", "_if(", re.sub(r"\bFILL\(", "_fill(", query["Expression"]))
            with np.errstate(divide="ignore", invalid="ignore"):  # x/0 is inf/nan, as IF expects
                names = {k: None if v is None else np.float64(v) for k, v in values.items()}
                values[query["Id"]] = eval(code, {"__builtins__": {}, "_if": _if, "_fill": _fill}, names)
        if query.get("ReturnData", True):
            result = values[query["Id"]]
    assert result is not None, f"{alarm['AlarmName']}: no ReturnData query"
    return float(result), values


COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt, "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le}


def _alarms(stack: Stack, **parameters: Any) -> dict[str, dict[str, Any]]:
    resolver = Resolver(stack.template, stack_name=stack.name, region=stack.region, account=stack.account,
                        parameters=parameters, create=lambda lid: {"Ref": lid, "Arn": f"arn:{lid}"})
    resources = stack.template["Resources"]
    return {name: resolver.resolve(resources[name]["Properties"]) for name in FUNCTION_ALARMS}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("model"), version="alarm-v1", novelty=True)


@pytest.fixture
def one_batch(stack: Stack, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> Series:
    """2 cat-red photos (cat), 1 noise image (unknown), 1 text file named .jpg (failed)."""
    pipeline = Pipeline(stack, load_module())
    pipeline.publish(model_dir)
    for key in ("uploads/a.jpg", "uploads/b.jpg"):
        pipeline.put(key, jpeg_bytes((80, 60), (220, 30, 30)))
    name, noise = next(nonphotos(per_kind=1, kinds=("uniform_noise",)))
    pipeline.put(f"uploads/{name}", noise)
    pipeline.put("uploads/notes.jpg", b"not an image at all")
    event = _queued_event(stack)
    capsys.readouterr()
    assert pipeline.app.handler(event, LambdaContext())["batchItemFailures"] == []
    return emf_series(capsys.readouterr().out)


def test_each_alarm_metric_is_one_the_function_emits(stack: Stack, one_batch: Series) -> None:
    for name, alarm in _alarms(stack).items():
        for query in alarm["Metrics"]:
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                key = (metric["Namespace"], metric["MetricName"],
                       frozenset((d["Name"], d["Value"]) for d in metric["Dimensions"]))
                assert key in one_batch, f"{name} watches {key}; the function emits {list(one_batch)}"
    assert ("catdog", "ImagesFailed", frozenset({("service", "shop-classify")})) in one_batch


def test_the_share_alarms_fire_on_this_traffic(stack: Stack, one_batch: Series) -> None:
    """1 failed of 4 images = 25 % (> 10), 1 unknown of 3 classified = 33 % (> 20): both fire once
    a window holds AlarmMinImages images (here 1)."""
    alarms = _alarms(stack, AlarmMinImages=1)
    failed, _ = evaluate(alarms["FailedImagesAlarm"], one_batch)
    unknown, _ = evaluate(alarms["UnknownShareAlarm"], one_batch)
    assert failed == pytest.approx(25.0) and unknown == pytest.approx(100 / 3)
    for name, value in (("FailedImagesAlarm", failed), ("UnknownShareAlarm", unknown)):
        alarm = alarms[name]
        assert COMPARE[alarm["ComparisonOperator"]](value, float(alarm["Threshold"])), (name, value)


def test_a_window_with_too_few_images_does_not_alarm(stack: Stack, one_batch: Series) -> None:
    """The default AlarmMinImages (20): 4 images are not a trend, whatever their shares."""
    for name, alarm in _alarms(stack).items():
        value, _ = evaluate(alarm, one_batch)
        assert not COMPARE[alarm["ComparisonOperator"]](value, float(alarm["Threshold"])), (name, value)


def test_no_traffic_is_no_alarm(stack: Stack) -> None:
    for name, alarm in _alarms(stack, AlarmMinImages=1).items():
        value, _ = evaluate(alarm, {})
        assert value == 0.0 and alarm["TreatMissingData"] == "notBreaching", name
