"""Keras or LiteRT for the frozen backbone's features: where `--feature-engine auto` should switch.

A training run pushes every image once through the frozen backbone (`training_job/features.py`).
LiteRT is faster per image but first needs the feature model converted to `.tflite`; below some
number of images the conversion costs more than it saves. For each transfer architecture this
measures, in one run and on the same photos (the first `--images` of train/ at the arch's default
input size, batches of 32 as the trainer uses, all CPU threads): the conversion time, Keras
`predict_on_batch` and LiteRT ms per image (after one warm-up batch each; `--rounds` passes each,
alternating, the median kept: the cores are shared), the largest difference between their features,
and the break-even image count = conversion / (Keras - LiteRT). Results:
benchmarks/results/feature_engine.json + .md.

    .venv/bin/python benchmarks/feature_engine.py [--images 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.backbone_features import measure_and_save, split_pixels  # noqa: E402

BATCH = 32


def measure_arch(arch: str, images: int, rounds: int) -> dict[str, Any]:
    """Conversion seconds and ms per image for Keras and LiteRT, one architecture at its default size."""
    from ai_edge_litert.interpreter import Interpreter

    from training_job import models
    from training_job.export import to_tflite
    from training_job.settings import ARCH_DEFAULTS

    size = ARCH_DEFAULTS[arch]["input_size"]
    x = split_pixels("train", size)[0][:images]
    features = models.build_transfer(arch, 2, input_size=size, alpha=0.35, weights="imagenet",
                                     dropout=0.2).features
    started = time.perf_counter()
    content = to_tflite(features)
    convert_s = time.perf_counter() - started
    batches = [x[i:i + BATCH].astype(np.float32) for i in range(0, len(x), BATCH)]

    it = Interpreter(model_content=content, num_threads=os.cpu_count() or 1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def litert(b: np.ndarray) -> np.ndarray:
        it.resize_tensor_input(inp["index"], list(b.shape))
        it.allocate_tensors()
        it.set_tensor(inp["index"], b)
        it.invoke()
        return np.array(it.get_tensor(out["index"]))

    engines = {"keras": lambda b: np.asarray(features.predict_on_batch(b)), "litert": litert}
    times: dict[str, list[float]] = {name: [] for name in engines}
    out_by: dict[str, np.ndarray] = {}
    for run in engines.values():
        run(batches[0])  # warm-up: tracing, allocation
    for _ in range(rounds):
        for name, run in engines.items():
            started = time.perf_counter()
            out_by[name] = np.concatenate([run(b) for b in batches])
            times[name].append((time.perf_counter() - started) / len(x) * 1000)
    keras_ms, litert_ms = (float(np.median(times[name])) for name in engines)
    by_keras, by_litert = out_by["keras"], out_by["litert"]
    saved_ms = keras_ms - litert_ms
    return {"arch": arch, "input_size": list(size), "convert_s": round(convert_s, 2),
            "keras_ms": round(keras_ms, 2), "litert_ms": round(litert_ms, 2),
            "keras_ms_rounds": [round(t, 2) for t in times["keras"]],
            "litert_ms_rounds": [round(t, 2) for t in times["litert"]],
            "max_abs_diff": float(np.abs(by_keras - by_litert).max()),
            "break_even_images": round(convert_s * 1000 / saved_ms) if saved_ms > 0 else None,
            "tflite_mib": round(len(content) / 2**20, 2)}


def render(r: dict[str, Any]) -> str:
    lines = [
        f"Keras vs LiteRT for the frozen backbone's features, {r['images']} train/ photos in batches of "
        f"{BATCH}, median of {r.get('rounds', 1)} alternating passes each, "
        f"{r['machine_before']['cpus']} CPUs, all threads (1-min load {r['machine_before']['loadavg_1m']} "
        f"before, {r['machine_after']['loadavg_1m']} after). Measured by `benchmarks/feature_engine.py`, "
        f"{r['measured_at']}.",
        "",
        "| arch | `.tflite` conversion | Keras ms/image | LiteRT ms/image | largest difference "
        "| LiteRT pays off from |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for a in r["archs"]:
        even = a["break_even_images"]
        lines.append(f"| {a['arch']} at {a['input_size'][0]} px | {a['convert_s']} s | {a['keras_ms']} | "
                     f"{a['litert_ms']} | {a['max_abs_diff']:.1e} | "
                     f"{'never' if even is None else f'{even} images'} |")
    lines += ["", "`training_job/features.py` (`LITERT_MIN_IMAGES`) uses these break-even counts, rounded "
              "to the nearest 500, for `--feature-engine auto` on a CPU-only machine."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from training_job.weights import prepare_keras_home

    prepare_keras_home()

    def measure() -> dict[str, Any]:
        archs = [measure_arch(arch, args.images, args.rounds)
                 for arch in ("efficientnet_lite0", "mobilenet_v2")]
        return {"images": args.images, "rounds": args.rounds, "archs": archs}

    return measure_and_save("feature_engine", measure, render)


if __name__ == "__main__":
    sys.exit(main())
