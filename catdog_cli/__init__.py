"""The `catdog` command line and the local stand-ins for AWS (moto server, SQS worker).

Not part of the Lambda layer: nothing on the function's path imports this package.
"""
