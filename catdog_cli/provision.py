"""Create the bucket, queues and table that `template.yaml` defines, in whatever endpoint boto3 targets.

Local runs (`catdog local up` → a moto server via AWS_ENDPOINT_URL) and the tests (`moto.mock_aws`)
build their resources HERE, from the template's own definitions: names, keys, indexes, redrive
policy and the S3 → SQS notification all come from `template.yaml`, so what is tested cannot drift
from what is deployed. Only the resource types the data path needs are created; the function,
its role, layer, alarms and policies exist only in AWS and are listed in `Stack.skipped`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
#: moto's (and the AWS docs') example account: used when STS cannot tell us the account.
DEFAULT_ACCOUNT = "123456789012"

_NO_VALUE = object()  # AWS::NoValue: the property disappears

# ------------------------------------------------------------------------------------------ parsing

#: CloudFormation short-form tags → their long form. `!GetAtt A.B` is also `{"Fn::GetAtt": [A, B]}`.
_SHORT_TAGS = (
    "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select", "Split",
    "Sub", "Transform", "If", "Equals", "Not", "And", "Or",
)


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that understands `!Ref`, `!Sub`, `!GetAtt`... (plain yaml rejects them)."""


def _construct(long_name: str) -> Callable[[CfnLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


CfnLoader.add_constructor("!Ref", _construct("Ref"))
CfnLoader.add_constructor("!Condition", _construct("Condition"))
for _tag in _SHORT_TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _construct(f"Fn::{_tag}"))


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template with its short tags expanded to the long form."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"template not found: {path}")
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=CfnLoader)  # CfnLoader is a SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise ValueError(f"{path}: not a CloudFormation template (no Resources)")
    return data


# ---------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """What `provision` created: the names a worker, a test or the CLI needs."""

    name: str
    region: str
    account: str
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    table: str
    max_receive_count: int
    visibility_timeout: int
    template: dict[str, Any] = field(repr=False)
    resolver: Resolver = field(repr=False)
    function_id: str = "ClassifyFunction"
    created: dict[str, str] = field(default_factory=dict)  # logical id → physical name / URL
    skipped: dict[str, str] = field(default_factory=dict)  # logical id → type (AWS-only)

    def function_environment(self) -> dict[str, str]:
        """The function's environment variables from the template, resolved for this stack.

        Empty values are left out: they mean "unset" (e.g. AWS_ENDPOINT_URL, declared only so
        `sam local` may override it), and copying them into os.environ would hide a real value.
        """
        props = self.template["Resources"][self.function_id].get("Properties", {})
        variables = self.resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        return {k: _as_str(v) for k, v in variables.items() if v is not _NO_VALUE and _as_str(v) != ""}


def _as_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Resolver:
    """Evaluates intrinsic functions; a Ref/GetAtt to a resource creates that resource first."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str,
        region: str,
        account: str,
        parameters: Mapping[str, Any] | None,
        create: Callable[[str], dict[str, str]],
    ) -> None:
        self.template = template
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/local",
            "AWS::NotificationARNs": [],
        }
        self.params = self._parameters(parameters or {})
        self._create = create

    def _parameters(self, given: Mapping[str, Any]) -> dict[str, str]:
        declared: dict[str, Any] = self.template.get("Parameters", {}) or {}
        unknown = set(given) - set(declared)
        if unknown:
            raise ValueError(f"unknown template parameter(s): {', '.join(sorted(unknown))}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in given:
                value = _as_str(given[name])
            elif "Default" in spec:
                value = _as_str(spec["Default"])
            else:
                raise ValueError(f"template parameter {name} has no default: pass it in parameters")
            allowed = spec.get("AllowedValues")
            if allowed and value not in [_as_str(a) for a in allowed]:
                raise ValueError(f"parameter {name}={value!r} is not one of {allowed}")
            values[name] = value
        return values

    # The resolver works on plain data: dicts with one `Ref`/`Fn::*`/`Condition` key are calls.
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(x) for x in node]
            return [x for x in items if x is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._call(key[4:], arg)
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.template["Resources"]:
            return self._create(name)["Ref"]
        raise ValueError(f"Ref to unknown name {name!r}")

    def get_att(self, resource: str, attribute: str) -> Any:
        attrs = self._create(resource)
        if attribute not in attrs:
            raise ValueError(f"GetAtt {resource}.{attribute} is not available locally")
        return attrs[attribute]

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions", {}) or {}
        if name not in conditions:
            raise ValueError(f"unknown condition {name!r}")
        return bool(self.resolve(conditions[name]))

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _as_str(self.get_att(resource, attribute))
            return _as_str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _call(self, fn: str, arg: Any) -> Any:
        if fn == "Sub":
            return self._sub(arg)
        if fn == "GetAtt":
            resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(resource, self.resolve(attribute))
        if fn == "If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(name) else when_false)
        if fn in ("Equals", "Not", "And", "Or"):
            values = self.resolve(arg)
            if fn == "Equals":
                return _as_str(values[0]) == _as_str(values[1])
            if fn == "Not":
                return not values[0]
            return all(values) if fn == "And" else any(values)
        if fn == "Join":
            delimiter, items = arg
            return _as_str(delimiter).join(_as_str(x) for x in self.resolve(items))
        if fn == "Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if fn == "Split":
            delimiter, text = self.resolve(arg)
            return text.split(delimiter)
        if fn == "FindInMap":
            mapping, top, second = self.resolve(arg)
            return self.template["Mappings"][mapping][top][second]
        if fn == "GetAZs":
            region = self.resolve(arg) or self.pseudo["AWS::Region"]
            return [f"{region}a", f"{region}b", f"{region}c"]
        raise ValueError(f"Fn::{fn} is not supported by the local provisioner")


# ------------------------------------------------------------------------------------ the creators


def _cfn_bool_attrs(props: Mapping[str, Any]) -> dict[str, str]:
    """SQS: every CloudFormation property except the name/tags is a queue attribute (as a string)."""
    attrs: dict[str, str] = {}
    for key, value in props.items():
        if key in ("QueueName", "Tags"):
            continue
        attrs[key] = json.dumps(value) if isinstance(value, dict) else _as_str(value)
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
        import boto3

        self.template = template
        self.region = region
        self.account = account
        self.session = boto3.session.Session(region_name=region)
        self.attrs: dict[str, dict[str, str]] = {}
        self.in_progress: set[str] = set()
        self.skipped: dict[str, str] = {}
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
            if resource["Type"] in self._creators:
                self.create(logical_id)
            else:
                self.skipped[logical_id] = resource["Type"]

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
    import boto3
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
    template_path: str | Path = DEFAULT_TEMPLATE,
    stack_name: str = "catdog",
    region: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    account: str | None = None,
) -> Stack:
    """Create the template's S3/SQS/DynamoDB resources in the endpoint boto3 targets; idempotent."""
    import boto3

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
    stack = Stack(
        name=stack_name,
        region=region,
        account=account,
        bucket=bucket,
        queue_url=prov.attrs[queue_id]["Ref"],
        queue_arn=prov.attrs[queue_id]["Arn"],
        dlq_url=dlq["Ref"],
        table="",
        max_receive_count=int(redrive.get("maxReceiveCount", 0)),
        visibility_timeout=int(queue_props.get("VisibilityTimeout", 30)),
        template=template,
        resolver=prov.resolver,
        function_id=function_id,
        created={lid: a["Ref"] for lid, a in prov.attrs.items()},
        skipped=dict(prov.skipped),
    )
    stack.table = stack.function_environment().get("RESULTS_TABLE", "")
    if not stack.table:
        raise ValueError(f"{function_id} has no RESULTS_TABLE environment variable")
    return stack


def _queue_targets(props: Mapping[str, Any], queue_arn: str) -> list[dict[str, Any]]:
    confs = props.get("NotificationConfiguration", {}).get("QueueConfigurations", []) or []
    return [c for c in confs if c.get("Queue") == queue_arn]
