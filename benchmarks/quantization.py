"""int8 for the exported serving model: dynamic-range and full-integer quantization next to float32.

Issue 17: quantize the EXPORTED model (both outputs, `probability` and `novelty`), measure size,
ms per image, and the change in validation accuracy and unknown-rate, and ship the quantized model
only if it loses ≤ 0.1 pt. The three `.tflite` files are converted here from the same `model.h5`
(the float32 one exactly as `training_job.export.to_tflite` converts it):

- `dynamic-range`: weights stored as int8, activations float (`Optimize.DEFAULT`, no data);
- `full-integer`: weights and activations int8 (`Optimize.DEFAULT` + a representative data set of
  200 `train/` photos, int8 kernels only; the input and outputs stay float32, so the serving contract,
  pixels 0..255 in and `probability` / `novelty` out, does not change).

Each is scored through the serving path (`catdog.classifier.Classifier`, the model's manifest) on the
1000 `validation/` photos (the figures the bar is about, as the issue asks), on `ood_flowers.zip`
and on the generated non-photos; LiteRT ms per image for a batch of 10 at 1 and 2 threads, models
interleaved, median. Timing wants a quiet machine: the load before and after is recorded.
Results: benchmarks/results/quantization.json and .md.

    .venv/bin/python benchmarks/quantization.py [--model build/bench/efficientnet_lite0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.backbone_features import invoke_ms, measure_and_save, split_pixels  # noqa: E402

DEFAULT_MODEL = REPO / "build" / "bench" / "efficientnet_lite0"
FLOWERS = REPO.parent / "shared" / "data" / "ood_flowers.zip"
BAR_PT = 0.1  # the most a quantized model may lose, in percentage points
REPRESENTATIVE = 200


#: This benchmark's names for the conversions of benchmarks/efficientnet_lite0.py (the same converter
#: settings 17a measured the bare feature model with).
MODES = {"float32": "float32", "dynamic-range": "dynamic", "full-integer": "int8"}


def convert(model: Any, mode: str, representative: np.ndarray) -> bytes:
    from benchmarks.efficientnet_lite0 import convert as convert_as

    return convert_as(model, MODES[mode], representative)


def score(model_dir: Path, pixels: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Top-label accuracy, unknown-rate and accuracy among the answered, through the serving path."""
    from catdog.classifier import Classifier
    from catdog.manifest import Manifest
    from training_job.evaluate import answered_mask

    manifest = Manifest.from_json((model_dir / "manifest.json").read_text())
    clf = Classifier(model_dir / "model.tflite", manifest)
    probs, novelty = [], []
    for i in range(0, len(pixels), 50):
        p, n = clf.infer(pixels[i:i + 50].astype(np.float32))
        probs.append(p)
        novelty.append(n if n is not None else np.zeros(len(p)))
    p, n = np.concatenate(probs), np.concatenate(novelty)
    unknown = ~answered_mask(manifest.novelty_threshold, n, len(p))  # the serving rule: NaN is unknown
    right = p.argmax(1) == truth
    return {"n": len(truth), "accuracy": float(right.mean()), "unknown_rate": float(unknown.mean()),
            "answered_accuracy": float(right[~unknown].mean()), "probs": p, "novelty": n, "unknown": unknown}


def ood_unknown(model_dir: Path, source: str) -> float:
    from catdog.model_repo import load_model
    from training_job.evaluate import evaluate_ood

    return float(evaluate_ood(load_model(model_dir), source, 64, None)["unknown_rate"])


def measure(model_dir: Path) -> dict[str, Any]:
    from catdog.manifest import Manifest
    from catdog.model_repo import write_manifest
    from tests.support.nonphotos import nonphotos
    from training_job.export import load_keras_model

    manifest = Manifest.from_json((model_dir / "manifest.json").read_text())
    keras_model = load_keras_model(model_dir / "model.h5")
    x_train, y_train = split_pixels("train", manifest.input_size)
    pick = np.concatenate([np.flatnonzero(y_train == c)[:: (y_train == c).sum() // (REPRESENTATIVE // 2)]
                           [: REPRESENTATIVE // 2] for c in (0, 1)])
    representative = x_train[pick]
    x_val, y_val = split_pixels("validation", manifest.input_size)
    work = Path(tempfile.mkdtemp(prefix="catdog-quant-"))
    generated = work / "generated"
    generated.mkdir()
    for name, data in nonphotos(per_kind=38):
        (generated / name).write_bytes(data)
    contents: dict[str, bytes] = {}
    rows: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        try:
            contents[mode] = convert(keras_model, mode, representative)
        except Exception as e:  # a converter that cannot do it is a finding, not a crash
            rows[mode] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
            continue
        out = work / mode
        out.mkdir()
        (out / "model.tflite").write_bytes(contents[mode])
        write_manifest(out, Manifest(**{**manifest.__dict__, "checksums": {}}))
        s = score(out, x_val, y_val)
        rows[mode] = {"mib": round(len(contents[mode]) / 2**20, 2), **{k: s[k] for k in (
            "n", "accuracy", "unknown_rate", "answered_accuracy")}, "_s": s,
                      "flowers_unknown": ood_unknown(out, str(FLOWERS)),
                      "generated_unknown": ood_unknown(out, str(generated))}
    size = manifest.input_size
    timing = {t: invoke_ms(contents, threads=t, size=size, rounds=25) for t in (1, 2)}
    base = rows["float32"]["_s"]
    for mode, r in rows.items():
        if "_s" not in r:
            continue
        s = r.pop("_s")
        r.update(ms_1_thread=timing[1][mode], ms_2_threads=timing[2][mode],
                 same_top_label=float((s["probs"].argmax(1) == base["probs"].argmax(1)).mean()),
                 same_unknown=float((s["unknown"] == base["unknown"]).mean()),
                 max_abs_prob_diff=float(np.abs(s["probs"] - base["probs"]).max()),
                 max_novelty_diff=float(np.abs(s["novelty"] - base["novelty"]).max()))
    f = rows["float32"]
    for mode, r in rows.items():
        if mode == "float32" or "error" in r:
            continue
        figures = ("accuracy", "answered_accuracy", "flowers_unknown", "generated_unknown")
        worst = max(figures, key=lambda k: f[k] - r[k])
        loss = f[worst] - r[worst]
        r["worst_loss_pt"], r["worst_figure"] = round(loss * 100, 2), worst
        r["ships"] = loss * 100 <= BAR_PT + 1e-9 and r["ms_1_thread"] < f["ms_1_thread"]
    return {"model": str(model_dir), "arch": manifest.arch, "version": manifest.version,
            "representative": f"{len(representative)} train/ photos", "modes": rows}


def render(r: dict[str, Any]) -> str:
    rows = r["modes"]
    f = rows["float32"]
    lines = [
        f"int8 for the exported serving model (`{r['arch']}`, `{r['version']}`, both outputs). Measured "
        f"by `benchmarks/quantization.py`, {r['measured_at']}, {r['machine_before']['cpus']} CPUs (1-min "
        f"load {r['machine_before']['loadavg_1m']} before, {r['machine_after']['loadavg_1m']} after). "
        "Accuracy and unknown-rates through the serving path on the 1000 `validation/` photos (the bar of "
        f"issue 17 is read there: ship only if nothing loses more than {BAR_PT} pt), `ood_flowers` (900) "
        f"and the generated non-photos (304); full-integer calibrated on {r['representative']}; LiteRT, "
        "batch of 10, median.",
        "",
        "| model | `.tflite` | ms/image, 1 thread | 2 threads | validation accuracy | answered "
        "`unknown` | accuracy among answered | flowers / generated `unknown` | same top label / same "
        "unknown as float32 | worst loss | ships |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, m in rows.items():
        if "error" in m:
            lines.append(f"| {mode} | conversion failed: {m['error']} | | | | | | | | | no |")
            continue
        figure = str(m.get("worst_figure", "")).replace("_", " ")
        loss = "" if mode == "float32" else f"{m['worst_loss_pt']:.1f} pt ({figure})"
        ships = "(shipped)" if mode == "float32" else ("yes" if m["ships"] else "no")
        lines.append(
            f"| {mode} | {m['mib']} MiB | {m['ms_1_thread']:.2f} | {m['ms_2_threads']:.2f} | "
            f"{m['accuracy']:.1%} | {m['unknown_rate']:.1%} | {m['answered_accuracy']:.2%} | "
            f"{m['flowers_unknown']:.1%} / {m['generated_unknown']:.1%} | {m['same_top_label']:.1%} / "
            f"{m['same_unknown']:.1%} | {loss} | {ships} |")
    shipped = [mode for mode, m in rows.items() if m.get("ships")]
    why = []
    for mode, m in rows.items():
        if mode == "float32" or "error" in m or m["ships"]:
            continue
        reasons = [f"loses {m['worst_loss_pt']:.1f} pt of {m['worst_figure'].replace('_', ' ')}"]
        if m["ms_1_thread"] >= f["ms_1_thread"]:
            reasons.append(f"is slower than float32 on one thread ({m['ms_1_thread']:.1f} vs "
                           f"{f['ms_1_thread']:.1f} ms)")
        if m["flowers_unknown"] < f["flowers_unknown"] / 2:
            reasons.append(f"its `novelty` output answers `unknown` for {m['flowers_unknown']:.0%} of the "
                           f"flowers and {m['generated_unknown']:.0%} of the non-photos")
        why.append(f"{mode} {' and '.join(reasons)}")
    because = "; ".join(why)
    lines += ["", because[:1].upper() + because[1:] + "." if why else "",
              ("Shipped: " + ", ".join(shipped) + "." if shipped else
                   f"Neither quantized model ships: the trainer keeps exporting float32 ({f['mib']} MiB). "
                   f"A quantized model ships only if it loses at most {BAR_PT} pt on every figure above and "
                   "is faster on one core than float32.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help="a model dir written by `catdog train` (model.h5, manifest.json)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not (args.model / "model.h5").is_file():
        raise SystemExit(f"{args.model}: no model.h5 (run `make benchmark-train` first, or pass --model)")
    return measure_and_save("quantization", lambda: measure(args.model), render)


if __name__ == "__main__":
    sys.exit(main())
