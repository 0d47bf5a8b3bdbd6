"""Expand a SAM template to the CloudFormation SAM deploys, offline, so cfn-lint checks what SAM generates.

cfn-lint >= 1.x no longer expands `AWS::Serverless::*` resources, so a misspelt or out-of-range
property inside a function's event source (e.g. `ScalingConfig: {MaxConcurrency: 1}`) passes both
`cfn-lint template.yaml` and `sam validate --lint`; linted after expansion it is an error.
Usage (a python with aws-sam-translator, i.e. .venv-sam): `python .ci/sam_expand.py template.yaml`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


class _NoManagedPolicies:
    """The translator asks IAM for AWS-managed policy ARNs; the template uses none (and we are offline)."""

    def load(self) -> dict[str, str]:
        return {}


def expand(template_path: Path) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator needs one; no call is made
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(template_path.read_text(encoding="utf-8"))
    for resource in template["Resources"].values():  # local paths -> S3 URIs, as `sam package` does
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = "s3://bucket/key"
    return dict(transform(template, {}, _NoManagedPolicies()))


if __name__ == "__main__":
    json.dump(expand(Path(sys.argv[1])), sys.stdout, indent=1)
    print()
