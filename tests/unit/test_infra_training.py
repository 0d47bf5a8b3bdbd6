"""infra/training.yaml: the training job may read its data and write ONLY the bucket's models/ prefix."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from catdog_local.cfn import load_template

INFRA = Path(__file__).resolve().parents[2] / "infra"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(INFRA / "training.yaml")


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"].get("Policies", [])
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(resource: Any) -> str:
    """An ARN as written: a plain string, or the format string of a !Sub."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub[0] if isinstance(sub, list) else sub
    return str(resource)


def test_job_role_writes_only_under_models(template: dict[str, Any]) -> None:
    statements = _statements(template, "JobRole")
    writes = [s for s in statements if any(a.startswith("s3:Put") or a.startswith("s3:Delete")
                                           for a in _as_list(s["Action"]))]
    assert writes, "the job must be able to publish"
    for statement in writes:
        assert statement["Effect"] == "Allow"
        assert [_text(r) for r in _as_list(statement["Resource"])] == [
            "arn:${AWS::Partition}:s3:::${BucketName}/models/*"
        ]
    all_actions = [a for s in statements for a in _as_list(s["Action"])]
    assert not any(a.endswith("*") for a in all_actions), all_actions  # no s3:* or s3:Put*
    assert not any(a.startswith("s3:Delete") for a in all_actions)


def test_job_role_reads_the_data_prefix(template: dict[str, Any]) -> None:
    reads = [s for s in _statements(template, "JobRole") if "s3:GetObject" in _as_list(s["Action"])]
    resources = {_text(r) for s in reads for r in _as_list(s["Resource"])}
    assert "arn:${AWS::Partition}:s3:::${DataBucket}/${DataPrefix}*" in resources


def test_listing_is_limited_to_the_two_prefixes(template: dict[str, Any]) -> None:
    lists = [s for s in _statements(template, "JobRole") if "s3:ListBucket" in _as_list(s["Action"])]
    prefixes = sorted(str(s["Condition"]["StringLike"]["s3:prefix"]) for s in lists)
    assert len(prefixes) == 2 and any("models/*" in p for p in prefixes)


@pytest.mark.parametrize("job", ["JobDefinition", "GpuJobDefinition"])
def test_job_definitions_pass_the_trainers_env(template: dict[str, Any], job: str) -> None:
    container = template["Resources"][job]["Properties"]["ContainerProperties"]
    env = {e["Name"]: _text(e["Value"]) for e in container["Environment"]}
    assert set(env) >= {"DATA_URI", "OUTPUT_URI", "PUBLISH_URI", "MIN_ACCURACY"}
    assert env["PUBLISH_URI"] == "s3://${BucketName}/models/"
    assert env["OUTPUT_URI"].startswith("s3://${BucketName}/models/")  # the only prefix it may write
    assert container["JobRoleArn"] == {"Fn::GetAtt": ["JobRole", "Arn"]}
    assert container["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}


def test_fargate_by_default_and_gpu_only_when_enabled(template: dict[str, Any]) -> None:
    res = template["Resources"]
    assert res["FargateComputeEnvironment"]["Properties"]["ComputeResources"]["Type"] == "FARGATE"
    assert res["JobDefinition"]["Properties"]["PlatformCapabilities"] == ["FARGATE"]
    assert "Condition" not in res["JobQueue"]
    gpu = [name for name in res if name.startswith("Gpu")]
    assert set(gpu) >= {"GpuComputeEnvironment", "GpuJobQueue", "GpuJobDefinition"}
    assert all(res[name].get("Condition") == "CreateGpu" for name in gpu)
    assert res["GpuComputeEnvironment"]["Properties"]["ComputeResources"]["MinvCpus"] == 0


def test_execution_role_pulls_only_this_repository(template: dict[str, Any]) -> None:
    statements = _statements(template, "ExecutionRole")
    pulls = [s for s in statements if "ecr:BatchGetImage" in _as_list(s["Action"])]
    assert [s["Resource"] for s in pulls] == [{"Fn::GetAtt": ["TrainingRepository", "Arn"]}]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_submit_script_is_valid_bash_and_has_help() -> None:
    script = INFRA / "submit_training.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    out = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0 and "--gpu" in out.stdout
    bad = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown argument --bogus" in bad.stderr


@pytest.mark.parametrize(
    ("job", "param"), [("JobDefinition", "ImageTag"), ("GpuJobDefinition", "GpuImageTag")]
)
def test_each_job_definition_revision_pins_one_immutable_image(
    template: dict[str, Any], job: str, param: str
) -> None:
    image = template["Resources"][job]["Properties"]["ContainerProperties"]["Image"]
    assert _text(image) == "${TrainingRepository.RepositoryUri}:${" + param + "}"
    assert template["Resources"]["TrainingRepository"]["Properties"]["ImageTagMutability"] == "IMMUTABLE"
