"""catdog serving library: the code the Lambda function, the trainer and the CLI share.

Everything here must import without TensorFlow: this package is what the Lambda layer ships.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
