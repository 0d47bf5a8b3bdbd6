"""The `catdog` command line: `commands/` parses every subcommand, the other modules do the work.

The local stand-ins for AWS (moto server, provisioning, the SQS worker) are `catdog_local`; the
trainer is `training_job`. Not part of the Lambda layer: nothing on the function's path imports
this package.
"""
