"""CloudFormation/SAM templates as plain data: the YAML loader for short tags and the intrinsic resolver.

`template.yaml` is the one definition of the stack. The local provisioner, the state file and the
tests all read it through here, so `!Ref`, `!Sub`, `!GetAtt`, `!If` mean the same thing everywhere
and nothing about the stack is written down twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from catdog_local.resources import TEMPLATE as DEFAULT_TEMPLATE

NO_VALUE = object()  # AWS::NoValue: the property disappears

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
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:
            raise yaml.constructor.ConstructorError(
                None, None, f"unexpected {type(node).__name__} after {node.tag}", node.start_mark)
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



def as_str(value: Any) -> str:
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
                value = as_str(given[name])
            elif "Default" in spec:
                value = as_str(spec["Default"])
            else:
                raise ValueError(f"template parameter {name} has no default: pass it in parameters")
            allowed = spec.get("AllowedValues")
            if allowed and value not in [as_str(a) for a in allowed]:
                raise ValueError(f"parameter {name}={value!r} is not one of {allowed}")
            values[name] = value
        return values

    # The resolver works on plain data: dicts with one `Ref`/`Fn::*`/`Condition` key are calls.
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(x) for x in node]
            return [x for x in items if x is not NO_VALUE]
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
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
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
                return as_str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return as_str(self.get_att(resource, attribute))
            return as_str(self.ref(name))

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
                return as_str(values[0]) == as_str(values[1])
            if fn == "Not":
                return not values[0]
            return all(values) if fn == "And" else any(values)
        if fn == "Join":
            delimiter, items = arg
            return as_str(delimiter).join(as_str(x) for x in self.resolve(items))
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


