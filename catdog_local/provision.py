"""Create the bucket, queues and table that `template.yaml` defines, in whatever endpoint boto3 targets.

Local runs (`catdog local up` → a moto server via AWS_ENDPOINT_URL) and the tests (`moto.mock_aws`)
build their resources HERE, from the template's own definitions: names, keys, indexes, redrive
policy and the S3 → SQS notification all come from `template.yaml`, so what is tested cannot drift
from what is deployed. Only the resource types the data path needs are created; the function,
its role, layers, alarms, their SNS topic and the policies exist only in AWS (`AWS_ONLY` says why
each) and are listed in `Stack.skipped`; a resource whose `Condition` is false is in
`Stack.disabled`. A type in neither list stops `provision` with its name: a new resource in the
template is a decision (create it locally, or say why not), never a silent gap.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catdog.config import DEFAULT_MODEL_KEY, DEFAULT_UPLOAD_PREFIX
from catdog_local.cfn import NO_VALUE, Resolver, as_str, load_template
from catdog_local.resources import TEMPLATE

log = logging.getLogger(__name__)

# boto3 is imported where a stack is provisioned, not above: every `catdog` command, `--help`
# included, imports this module (through catdog_local.state's StackError), and boto3 alone takes
# ~130 ms to import (benchmarks/cli_startup.py measures what the parser imports).

#: moto's (and the AWS docs') example account: used when STS cannot tell us the account.
DEFAULT_ACCOUNT = "123456789012"

#: Resource types that exist only in AWS, and why the local stack does without them.
AWS_ONLY: dict[str, str] = {
    "AWS::Serverless::Function": "runs as `catdog local worker` / `catdog invoke` (catdog_local/worker.py)",
    "AWS::Lambda::Function": "runs as `catdog local worker` / `catdog invoke` (catdog_local/worker.py)",
    "AWS::Serverless::LayerVersion": "the worker imports the layer's code from the checkout or the wheel",
    "AWS::Lambda::LayerVersion": "the worker imports the layer's code from the checkout or the wheel",
    "AWS::IAM::Role": "moto does not enforce IAM",
    "AWS::IAM::Policy": "moto does not enforce IAM",
    "AWS::S3::BucketPolicy": "moto does not enforce resource policies",
    "AWS::SQS::QueuePolicy": "moto does not enforce resource policies",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies",
    "AWS::Logs::LogGroup": "the worker writes the function's logs to a file (catdog local worker --log-file)",
    "AWS::CloudWatch::Alarm": "no metrics are aggregated locally: the EMF lines stay in the worker's log",
    "AWS::SNS::Topic": "only the alarms publish to it, and they exist only in AWS",
    "AWS::SNS::Subscription": "only the alarms publish to it, and they exist only in AWS",
}

# ---------------------------------------------------------------------------------------- the stack


@dataclass
class StackResources:
    """What a provisioned stack is to the code that uses it: names, queue settings, the function's env.

    Plain data, so that a running `catdog local up` can hand it to other commands in a state file
    (`catdog_local.state.LocalState` extends it) and the worker can be built from either.
    """

    name: str
    region: str
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    table: str
    max_receive_count: int
    visibility_timeout: int
    #: The function's SQS event source: messages per invocation and how long Lambda waits to fill one.
    batch_size: int = 10
    batching_window_s: float = 0.0
    #: The function's environment variables, resolved for this stack. Empty values are left out: they
    #: mean "unset" (AWS_ENDPOINT_URL is declared only so `sam local` may override it).
    function_environment: dict[str, str] = field(default_factory=dict)

    @property
    def model_key(self) -> str:
        """Where the function reads the live model's pointer (its `MODEL_KEY`, as catdog.config does)."""
        return self.function_environment.get("MODEL_KEY") or DEFAULT_MODEL_KEY

    @property
    def models_uri(self) -> str:
        """`s3://bucket/models/`: the folder of the live pointer, where versions are published."""
        return f"s3://{self.bucket}/{self.model_key.rsplit('/', 1)[0]}/"

    @property
    def upload_prefix(self) -> str:
        """The only prefix the function classifies (its `UPLOAD_PREFIX`, as catdog.config reads it)."""
        return self.function_environment.get("UPLOAD_PREFIX", DEFAULT_UPLOAD_PREFIX)


@dataclass
class Stack(StackResources):
    """What `provision` created: the resources plus the parsed template they came from."""

    account: str = ""
    template: dict[str, Any] = field(default_factory=dict, repr=False)
    resolver: Resolver | None = field(default=None, repr=False)
    function_id: str = "ClassifyFunction"
    created: dict[str, str] = field(default_factory=dict)  # logical id → physical name / URL
    skipped: dict[str, str] = field(default_factory=dict)  # logical id → type (AWS-only)
    disabled: dict[str, str] = field(default_factory=dict)  # logical id → its false Condition

    @property
    def resources(self) -> StackResources:
        """The plain-data part (what a state file stores)."""
        return StackResources(**{f: getattr(self, f) for f in StackResources.__dataclass_fields__})


def _function_environment(template: Mapping[str, Any], resolver: Resolver,
                          function_id: str) -> dict[str, str]:
    props = template["Resources"][function_id].get("Properties", {})
    variables = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
    return {k: as_str(v) for k, v in variables.items() if v is not NO_VALUE and as_str(v) != ""}


def _event_source(template: Mapping[str, Any], resolver: Resolver, function_id: str) -> tuple[int, float]:
    """(BatchSize, MaximumBatchingWindowInSeconds) of the function's SQS event, as the template says."""
    props = template["Resources"][function_id].get("Properties", {})
    for event in (props.get("Events") or {}).values():
        if event.get("Type") == "SQS":
            resolved = resolver.resolve(event.get("Properties", {}))
            window = float(resolved.get("MaximumBatchingWindowInSeconds", 0))
            return int(resolved.get("BatchSize", 10)), window
    return 10, 0.0


# ------------------------------------------------------------------------------------ the creators


def _cfn_bool_attrs(props: Mapping[str, Any]) -> dict[str, str]:
    """SQS: every CloudFormation property except the name/tags is a queue attribute (as a string)."""
    attrs: dict[str, str] = {}
    for key, value in props.items():
        if key in ("QueueName", "Tags"):
            continue
        attrs[key] = json.dumps(value) if isinstance(value, dict) else as_str(value)
    return attrs


def _s3_filter(cfn_filter: Mapping[str, Any] | None) -> dict[str, Any]:
    if not cfn_filter:
        return {}
    rules = cfn_filter.get("S3Key", {}).get("Rules", [])
    return {"Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}}


def _s3_notification(cfn: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration → S3 API shape (Event→Events, Queue→QueueArn...)."""
    out: dict[str, Any] = {}
    for cfn_key, api_key, target in (
        ("QueueConfigurations", "QueueConfigurations", ("Queue", "QueueArn")),
        ("TopicConfigurations", "TopicConfigurations", ("Topic", "TopicArn")),
        ("LambdaConfigurations", "LambdaFunctionConfigurations", ("Function", "LambdaFunctionArn")),
    ):
        entries = []
        for conf in cfn.get(cfn_key, []) or []:
            entry = {target[1]: conf[target[0]], "Events": [conf["Event"]]}
            entries.append({**entry, **_s3_filter(conf.get("Filter"))})
        if entries:
            out[api_key] = entries
    if cfn.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        out["EventBridgeConfiguration"] = {}
    return out


def _s3_encryption(cfn: Mapping[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in cfn.get("ServerSideEncryptionConfiguration", []):
        api_rule = {k: v for k, v in rule.items() if k != "ServerSideEncryptionByDefault"}
        if "ServerSideEncryptionByDefault" in rule:
            api_rule["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
        rules.append(api_rule)
    return {"Rules": rules}


class _Provisioner:
    def __init__(self, template: dict[str, Any], stack_name: str, region: str,
                 account: str, parameters: Mapping[str, Any] | None) -> None:
        import boto3  # lazy: see the note on imports at the top of this module

        self.template = template
        self.region = region
        self.account = account
        self.session = boto3.session.Session(region_name=region)
        self.attrs: dict[str, dict[str, str]] = {}
        self.in_progress: set[str] = set()
        self.skipped: dict[str, str] = {}
        self.disabled: dict[str, str] = {}
        self.resolver = Resolver(template, stack_name=stack_name, region=region, account=account,
                                 parameters=parameters, create=self.create)
        self._creators: dict[str, Callable[[str, dict[str, Any]], dict[str, str]]] = {
            "AWS::SQS::Queue": self._queue,
            "AWS::S3::Bucket": self._bucket,
            "AWS::DynamoDB::Table": self._table,
        }

    def create(self, logical_id: str) -> dict[str, str]:
        """Create `logical_id` (once) and return its Ref/GetAtt values."""
        if logical_id in self.attrs:
            return self.attrs[logical_id]
        resource = self.template["Resources"][logical_id]
        rtype = resource["Type"]
        creator = self._creators.get(rtype)
        if creator is None:
            self.skipped[logical_id] = rtype
            raise ValueError(f"{logical_id} ({rtype}) exists only in AWS, not in the local stack")
        if logical_id in self.in_progress:
            raise ValueError(f"circular reference through {logical_id}")
        self.in_progress.add(logical_id)
        cond = resource.get("Condition")
        if cond and not self.resolver.condition(cond):
            raise ValueError(f"{logical_id} is disabled by condition {cond}")
        props = self.resolver.resolve(resource.get("Properties", {}))
        self.attrs[logical_id] = creator(logical_id, props)
        self.in_progress.discard(logical_id)
        log.debug("created %s (%s)", logical_id, rtype)
        return self.attrs[logical_id]

    def create_all(self) -> None:
        for logical_id, resource in self.template["Resources"].items():
            rtype = resource["Type"]
            condition = resource.get("Condition")
            if condition and not self.resolver.condition(condition):
                self.disabled[logical_id] = condition
            elif rtype in self._creators:
                self.create(logical_id)
            elif rtype in AWS_ONLY:
                self.skipped[logical_id] = rtype
            else:
                raise ValueError(f"{logical_id} ({rtype}): the local stack neither creates this type "
                                 "nor knows it exists only in AWS; add a creator or an AWS_ONLY entry "
                                 "in catdog_local/provision.py")

    # SQS ------------------------------------------------------------------------------------
    def _queue(self, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        sqs = self.session.client("sqs")
        name = props.get("QueueName") or f"{self.resolver.pseudo['AWS::StackName']}-{logical_id}"
        attributes = _cfn_bool_attrs(props)
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except sqs.exceptions.QueueNameExists:  # re-provisioning a running local stack
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}

    # S3 -------------------------------------------------------------------------------------
    def _bucket(self, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        s3 = self.session.client("s3")
        name = props.get("BucketName") or f"{self.resolver.pseudo['AWS::StackName']}-{logical_id}".lower()
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # re-provisioning
            s3.create_bucket(**kwargs)
        handled = {"BucketName", "Tags"}
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration=_s3_encryption(props["BucketEncryption"]))
            handled.add("BucketEncryption")
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
            handled.add("PublicAccessBlockConfiguration")
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
            handled.add("OwnershipControls")
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
            handled.add("VersioningConfiguration")
        if "NotificationConfiguration" in props:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration=_s3_notification(props["NotificationConfiguration"]))
            handled.add("NotificationConfiguration")
        for key in sorted(set(props) - handled):
            log.warning("local stack: %s.%s is not applied locally", logical_id, key)
        return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    # DynamoDB -------------------------------------------------------------------------------
    def _table(self, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        ddb = self.session.client("dynamodb")
        name = props.get("TableName") or f"{self.resolver.pseudo['AWS::StackName']}-{logical_id}"
        same_name = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes",
                     "LocalSecondaryIndexes", "ProvisionedThroughput", "TableClass",
                     "DeletionProtectionEnabled")
        kwargs: dict[str, Any] = {"TableName": name, **{k: props[k] for k in same_name if k in props}}
        if "SSESpecification" in props:
            sse = props["SSESpecification"]
            kwargs["SSESpecification"] = {
                "Enabled": bool(sse.get("SSEEnabled")),
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        if "StreamSpecification" in props:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        try:
            ddb.create_table(**kwargs)
            ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        except ddb.exceptions.ResourceInUseException:
            pass  # already there (a re-run of `catdog local up`)
        pitr = props.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            with contextlib.suppress(ddb.exceptions.ClientError):  # already enabled
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": ttl["AttributeName"]})
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        return {"Ref": name, "Arn": arn}


def _account(region: str) -> str:
    import boto3  # lazy: see the note on imports at the top of this module
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    except (BotoCoreError, ClientError):
        return DEFAULT_ACCOUNT


def _find_function(template: Mapping[str, Any]) -> str:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return logical_id
    raise ValueError("the template defines no function")


def _sqs_source(template: Mapping[str, Any], function_id: str) -> str:
    events = template["Resources"][function_id].get("Properties", {}).get("Events", {}) or {}
    for event in events.values():
        if event.get("Type") == "SQS":
            queue = event["Properties"]["Queue"]
            if isinstance(queue, dict) and "Fn::GetAtt" in queue:
                return queue["Fn::GetAtt"][0]
    raise ValueError(f"{function_id} has no SQS event source with a GetAtt to a queue in this template")


def provision(
    template_path: str | Path = TEMPLATE,
    stack_name: str = "catdog",
    region: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    account: str | None = None,
) -> Stack:
    """Create the template's S3/SQS/DynamoDB resources in the endpoint boto3 targets; idempotent."""
    import boto3  # lazy: see the note on imports at the top of this module

    region = region or boto3.session.Session().region_name or "us-east-1"
    template = load_template(template_path)
    account = account or _account(region)
    prov = _Provisioner(template, stack_name, region, account, parameters)
    prov.create_all()

    function_id = _find_function(template)
    queue_id = _sqs_source(template, function_id)
    queue_props = prov.resolver.resolve(template["Resources"][queue_id]["Properties"])
    redrive = queue_props.get("RedrivePolicy", {})
    dlq_arn = redrive.get("deadLetterTargetArn")
    dlq = next((a for a in prov.attrs.values() if a.get("Arn") == dlq_arn), None)
    if dlq is None:
        raise ValueError(f"{queue_id} has no dead-letter queue in this template")
    bucket = next(
        (prov.attrs[lid]["Ref"] for lid, r in template["Resources"].items()
         if r["Type"] == "AWS::S3::Bucket"
         and _queue_targets(prov.resolver.resolve(r.get("Properties", {})), prov.attrs[queue_id]["Arn"])),
        None,
    )
    if bucket is None:
        raise ValueError(f"no bucket in the template notifies {queue_id}")
    environment = _function_environment(template, prov.resolver, function_id)
    table = environment.get("RESULTS_TABLE", "")
    if not table:
        raise ValueError(f"{function_id} has no RESULTS_TABLE environment variable")
    batch_size, window = _event_source(template, prov.resolver, function_id)
    return Stack(
        name=stack_name,
        region=region,
        account=account,
        bucket=bucket,
        queue_url=prov.attrs[queue_id]["Ref"],
        queue_arn=prov.attrs[queue_id]["Arn"],
        dlq_url=dlq["Ref"],
        table=table,
        max_receive_count=int(redrive.get("maxReceiveCount", 0)),
        visibility_timeout=int(queue_props.get("VisibilityTimeout", 30)),
        batch_size=batch_size,
        batching_window_s=window,
        function_environment=environment,
        template=template,
        resolver=prov.resolver,
        function_id=function_id,
        created={lid: a["Ref"] for lid, a in prov.attrs.items()},
        skipped=dict(prov.skipped),
        disabled=dict(prov.disabled),
    )


def _queue_targets(props: Mapping[str, Any], queue_arn: str) -> list[dict[str, Any]]:
    confs = props.get("NotificationConfiguration", {}).get("QueueConfigurations", []) or []
    return [c for c in confs if c.get("Queue") == queue_arn]
