"""Everything that stands in for AWS on a laptop: CloudFormation, the moto endpoint, Lambda, SQS.

- `cfn`: the template as data (short tags, intrinsic functions) — the one definition of the stack;
- `provision`: creates the template's bucket, queues and table in whatever endpoint boto3 targets;
- `moto_server`: the embedded AWS endpoint (a moto server in a thread);
- `state`: what a running `catdog local up` leaves for the other commands;
- `lambda_runtime`: imports `functions/classify/app.py` the way Lambda does, with a context object;
- `events`: the exact event shapes S3 and Lambda's SQS event source mapping deliver;
- `worker`: Lambda's SQS event source mapping (poll, invoke, delete, partial batch failures).

Nothing on the Lambda's path imports this package; the `catdog` CLI, tests and benchmarks do.
"""
