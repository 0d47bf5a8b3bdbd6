"""DynamoDB's answers as plain Python: what the commands and the review page print and compare.

boto3's low-level client returns `{"S": ...}`/`{"N": ...}` maps, and its deserializer Decimals and
sets; people and JSON want ints, floats, lists and strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

_deserialize = TypeDeserializer().deserialize


def plain_value(value: Any) -> Any:
    """DynamoDB's Decimal/sets/bytes -> JSON-friendly Python."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return value


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item (`{"image": {"S": ...}, ...}`) as plain Python."""
    return {k: plain_value(_deserialize(v)) for k, v in item.items()}
