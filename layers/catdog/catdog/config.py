"""The classify function's settings, read once from the environment the template sets.

One frozen object instead of `os.environ` lookups scattered through the code: a missing or
malformed variable fails the first invocation with a message naming it, not a KeyError later.
This is the only module of the serving library that reads the environment.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from catdog.errors import CatdogError
from catdog.manifest import SHADOW_POINTER_FILE

DEFAULT_MODEL_KEY = "models/latest.json"
DEFAULT_MAX_OBJECT_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
DEFAULT_REFRESH_SECONDS = 300.0
DEFAULT_MODEL_CACHE_DIR = "/tmp/catdog-models"  # /tmp is the only writable path on Lambda
DEFAULT_UPLOAD_PREFIX = "uploads/"
#: Per image, in the decoder process (catdog.sandbox): over either, the image is `failed`.
DEFAULT_DECODE_CPU_SECONDS = 2.0
DEFAULT_DECODE_MEMORY_MB = 384
#: Images per LiteRT call: inference memory grows ~4 MB per image in a call, so a large batch is
#: classified in calls of this many (the template's default BatchSize of 10 is one call).
DEFAULT_INFERENCE_CHUNK = 16


class ConfigError(CatdogError):
    """A required environment variable is missing or not a number."""


def _number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> float:
    raw = env.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={raw!r} is not a number") from exc
    if value < 0:
        raise ConfigError(f"environment variable {name}={raw!r} must not be negative")
    return value


@dataclass(frozen=True)
class Settings:
    results_table: str
    model_bucket: str
    model_key: str = DEFAULT_MODEL_KEY
    model_refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    model_cache_dir: str = DEFAULT_MODEL_CACHE_DIR
    litert_threads: int = 0  # 0: one per CPU the function gets
    #: Events for any other bucket, or for keys outside this prefix, are ignored (logged): the
    #: function classifies its own uploads only. Empty bucket = MODEL_BUCKET (the template's one bucket).
    upload_bucket: str = ""
    upload_prefix: str = DEFAULT_UPLOAD_PREFIX
    decode_cpu_seconds: float = DEFAULT_DECODE_CPU_SECONDS
    decode_memory_mb: int = DEFAULT_DECODE_MEMORY_MB
    inference_chunk: int = DEFAULT_INFERENCE_CHUNK

    @property
    def shadow_key(self) -> str:
        """The shadow pointer: `shadow.json` beside the live one (`models/shadow.json` by default), so
        that moving `MODEL_KEY` moves both and `catdog models shadow` always writes where it is read."""
        folder = posixpath.dirname(self.model_key)
        return f"{folder}/{SHADOW_POINTER_FILE}" if folder else SHADOW_POINTER_FILE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [n for n in ("RESULTS_TABLE", "MODEL_BUCKET") if not env.get(n)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            results_table=env["RESULTS_TABLE"],
            model_bucket=env["MODEL_BUCKET"],
            model_key=env.get("MODEL_KEY") or DEFAULT_MODEL_KEY,
            model_refresh_seconds=float(
                _number(env, "MODEL_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS, float)),
            max_object_bytes=int(_number(env, "MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES)),
            max_image_pixels=int(_number(env, "MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)),
            model_cache_dir=env.get("MODEL_CACHE_DIR") or DEFAULT_MODEL_CACHE_DIR,
            litert_threads=int(_number(env, "LITERT_THREADS", 0)),
            upload_bucket=env.get("UPLOAD_BUCKET") or env["MODEL_BUCKET"],
            upload_prefix=env.get("UPLOAD_PREFIX", DEFAULT_UPLOAD_PREFIX),
            decode_cpu_seconds=float(_number(env, "DECODE_CPU_SECONDS", DEFAULT_DECODE_CPU_SECONDS, float)),
            decode_memory_mb=int(_number(env, "DECODE_MEMORY_MB", DEFAULT_DECODE_MEMORY_MB)),
            inference_chunk=max(1, int(_number(env, "INFERENCE_CHUNK", DEFAULT_INFERENCE_CHUNK))),
        )
