"""Which input scaling EfficientNet-Lite0's weights expect, measured: (x − 127)/128 or ImageNet mean/std.

The weights file does not say. With no ImageNet here, the file's own 1000-class head is asked about
the 2,000 `train/` photos of the data set (never `validation/`): the share of cat photos whose top-1
is a domestic cat (ImageNet 281–285) and of dog photos whose top-1 is a dog breed (151–268). A
second, independent view: the 5-fold cross-validated accuracy and log-loss of an L2 logistic probe
on the pooled features of the same photos. The scaling the weights were trained with should win both.

    .venv/bin/python benchmarks/efficientnet_scaling.py

Prints and writes `benchmarks/results/efficientnet_scaling.json` and `.md` (LiteRT, float32, all cores).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def scaling_rows() -> list[dict[str, Any]]:
    import keras
    import numpy as np

    from benchmarks.backbone_features import IMAGENET_CATS, IMAGENET_DOGS, run_tflite, split_pixels
    from benchmarks.linear_probe import cross_validate
    from training_job.efficientnet_lite import (
        LITE0_INPUT_SIZE,
        NAME_PREFIX,
        SCALINGS,
        build_lite0,
        find_lite0_weights,
        input_scaler,
        load_lite0_weights,
    )
    from training_job.export import to_tflite

    x, y = split_pixels("train", LITE0_INPUT_SIZE)
    network = build_lite0(LITE0_INPUT_SIZE, include_top=True)
    load_lite0_weights(network, find_lite0_weights())
    pooled_and_logits = keras.Model(network.inputs, keras.layers.Concatenate()(
        [network.get_layer(f"{NAME_PREFIX}_avg_pooling").output, network.outputs[0]]))
    rows = []
    for scaling in SCALINGS:
        pixels = keras.Input((*LITE0_INPUT_SIZE, 3))
        model = keras.Model(pixels, pooled_and_logits(input_scaler(scaling)(pixels)))
        out = run_tflite(to_tflite(model), x, os.cpu_count() or 1, f"Lite0 on train/, {scaling}")
        features, top1 = out[:, :1280], out[:, 1280:].argmax(1)
        cats_right = float(np.isin(top1[y == 0], IMAGENET_CATS).mean())
        dogs_right = float(np.isin(top1[y == 1], IMAGENET_DOGS).mean())
        cv = cross_validate(features, y.astype(float))
        best = min(cv, key=lambda lam: cv[lam]["log_loss"])
        rows.append({"scaling": scaling, "scale": SCALINGS[scaling][0], "offset": SCALINGS[scaling][1],
                     "cats_top1_cat": round(cats_right, 4), "dogs_top1_dog": round(dogs_right, 4),
                     "photos_top1_right_animal": round(float((cats_right * (y == 0).sum()
                                                              + dogs_right * (y == 1).sum()) / len(y)), 4),
                     "probe_cv_lambda": best, "probe_cv_accuracy": round(cv[best]["accuracy"], 4),
                     "probe_cv_log_loss": round(cv[best]["log_loss"], 4), "n_photos": len(y)})
    return rows


def markdown(record: dict[str, Any]) -> str:
    rows, when, machine = record["rows"], record["measured_at"], record["machine_before"]
    winner = max(rows, key=lambda r: r["photos_top1_right_animal"])
    probe_winner = max(rows, key=lambda r: r["probe_cv_accuracy"])
    lines = [
        "Which input scaling EfficientNet-Lite0's ImageNet weights expect. Measured by "
        f"`benchmarks/efficientnet_scaling.py`, {when} ({machine['cpus']} CPUs, load "
        f"{machine['loadavg_1m']}), "
        f"on the {rows[0]['n_photos']} `train/` photos (validation untouched), LiteRT float32.",
        "",
        "| scaling | cat photos → ImageNet cat (281–285) | dog photos → ImageNet dog (151–268) | top-1 right "
        "animal, all | probe: 5-fold CV accuracy | probe: CV log-loss (λ) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| `{r['scaling']}` | {r['cats_top1_cat']:.1%} | {r['dogs_top1_dog']:.1%} | "
                     f"{r['photos_top1_right_animal']:.1%} | {r['probe_cv_accuracy']:.2%} | "
                     f"{r['probe_cv_log_loss']:.4f} ({r['probe_cv_lambda']:g}) |")
    agree = "Both measures agree" if winner is probe_winner else "The two measures disagree"
    lines += ["", f"{agree}: the file's own head names the right animal for "
              f"{winner['photos_top1_right_animal']:.1%} of the photos with `{winner['scaling']}` "
              f"(vs {min(r['photos_top1_right_animal'] for r in rows):.1%}), and the probe's cross-validated "
              f"accuracy is {probe_winner['probe_cv_accuracy']:.2%} with `{probe_winner['scaling']}`. "
              f"`training_job/efficientnet_lite.py` uses `{winner['scaling']}` (DEFAULT_SCALING)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    from benchmarks.backbone_features import measure_and_save

    return measure_and_save("efficientnet_scaling", lambda: {"rows": scaling_rows()}, markdown)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
