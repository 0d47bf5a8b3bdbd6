"""What the backbone benchmarks share: the data set's photos as pixels, and a LiteRT pass over them.

Pixels come from the one preprocessing function (`catdog.preprocess.preprocess_image`), cached per
split and size under build/bench/ so that a rerun does not decode 3,000 JPEGs again.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DATA = Path(os.environ.get("CATDOG_SHARED", REPO.parent / "shared")) / "data" / "cats_and_dogs_filtered.zip"
CACHE = REPO / "build" / "bench"
#: ImageNet class indices: the five domestic cats, and the dog breeds.
IMAGENET_CATS, IMAGENET_DOGS = range(281, 286), range(151, 269)


def split_pixels(split: str, size: tuple[int, int] = (224, 224)) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 pixels, labels 0 = cats / 1 = dogs) of one split, sorted by name."""
    from tqdm import tqdm

    from catdog.preprocess import preprocess_image
    from training_job.data import find_entries

    cached = CACHE / f"pixels_{split}_{size[0]}x{size[1]}.npz"
    if cached.exists():
        with np.load(cached) as f:
            return f["x"], f["y"]
    entries = sorted((e for e in find_entries(str(DATA)) if e.split == split), key=lambda e: e.name)
    x = np.stack([preprocess_image(e.read(), size).pixels
                  for e in tqdm(entries, desc=f"decode {split}/", unit="img", file=sys.stderr)])
    y = np.array([0 if e.folder == "cats" else 1 for e in entries])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cached, x=x, y=y)
    return x, y


def run_tflite(content: bytes, x: np.ndarray, threads: int, what: str, batch: int = 32) -> np.ndarray:
    """The model's single output for every image of `x`, in batches, with a progress bar."""
    from ai_edge_litert.interpreter import Interpreter
    from tqdm import tqdm

    it = Interpreter(model_content=content, num_threads=threads)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    results, size = [], -1
    with tqdm(total=len(x), desc=what, unit="img", file=sys.stderr) as bar:
        for start in range(0, len(x), batch):
            chunk = x[start:start + batch].astype(np.float32)
            if len(chunk) != size:
                it.resize_tensor_input(inp["index"], [len(chunk), *inp["shape"][1:]])
                it.allocate_tensors()
                size = len(chunk)
            it.set_tensor(inp["index"], chunk)
            it.invoke()
            results.append(np.array(it.get_tensor(out["index"]), dtype=np.float32))
            bar.update(len(chunk))
    return np.concatenate(results)


def invoke_ms(contents: dict[str, bytes], threads: int, size: tuple[int, int] = (224, 224), batch: int = 10,
              rounds: int = 15) -> dict[str, float]:
    """LiteRT ms per image, a batch of `batch`, models interleaved round by round; median of `rounds`."""
    from ai_edge_litert.interpreter import Interpreter

    pixels = np.random.default_rng(0).uniform(0, 255, (batch, *size, 3)).astype(np.float32)
    interpreters = {}
    for name, content in contents.items():
        it = Interpreter(model_content=content, num_threads=threads)
        inp = it.get_input_details()[0]
        it.resize_tensor_input(inp["index"], [batch, *size, 3])
        it.allocate_tensors()
        it.set_tensor(inp["index"], pixels)
        for _ in range(2):
            it.invoke()
        interpreters[name] = it
    times: dict[str, list[float]] = {name: [] for name in contents}
    for _ in range(rounds):
        for name, it in interpreters.items():
            t = time.perf_counter()
            it.invoke()
            times[name].append((time.perf_counter() - t) / batch)
    return {name: round(float(np.median(t)) * 1000, 3) for name, t in times.items()}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)}


def measure_and_save(stem: str, measure: Callable[[], dict[str, Any]],
                     render: Callable[[dict[str, Any]], str]) -> int:
    """Run `measure` between two looks at the machine's load, then write results/STEM.json and .md.

    The 2 CPU cores are shared, so the load before and after goes into the record: a busy machine
    makes times worse, never better. `render` turns the record (as saved) into the Markdown page.
    """
    before = machine()
    result = measure()
    record = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine_before": before,
              "machine_after": machine(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    md = render(record)
    (RESULTS / f"{stem}.md").write_text(md)
    print(md)
    return 0
