"""docs/local.md's `aws` lines with the real AWS CLI, against a real `catdog local up`, in a shell
that ran `eval "$(catdog local env)"` as the docs say. Whichever version is installed: v1 ignores
AWS_ENDPOINT_URL for `aws sqs` (which is why the lines pass `--endpoint-url`). Skipped where no
`aws` is on the PATH; tests/functional/test_documented_aws_commands.py runs the same lines without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.functional.test_documented_aws_commands import documented_aws_lines
from tests.support.processes import CATDOG, local_up, user_env

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("aws") is None, reason="no aws CLI on the PATH")]


def test_the_local_docs_aws_lines_run_with_the_installed_aws_cli(tmp_path: Path) -> None:
    env = user_env(tmp_path / "stacks")
    catdog = " ".join(CATDOG)
    with local_up(env) as stack:
        s3 = boto3.client("s3", endpoint_url=stack.endpoint, region_name=stack.region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.put_object(Bucket=stack.bucket, Key="uploads/my cat.jpg", Body=b"jpeg")  # `s3 ls` of nothing fails
        for line in documented_aws_lines("docs/local.md"):
            run = subprocess.run(["bash", "-c", f'eval "$({catdog} local env)" && {line}'], env=env,
                                 capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, f"{line}\n{run.stdout}{run.stderr}"
