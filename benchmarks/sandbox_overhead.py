"""What the decoder sandbox costs per image on real photos: `python benchmarks/sandbox_overhead.py`.

The same validation photos decoded by `preprocess_image` in this process and through
`catdog.sandbox.DecodeSandbox` (a reused child process, bytes in and pixels out over pipes),
interleaved in one run so that machine load hits both alike; also the child's start-up time,
paid once per container (and after a bomb got it killed). Writes benchmarks/results/sandbox.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CATDOG_SHARED", REPO.parent / "shared"))
DEFAULT_DATA = SHARED / "data" / "cats_and_dogs_filtered.zip"
SIZE, MAX_PIXELS = (224, 224), 50_000_000


def photos(data: Path, n: int) -> list[bytes]:
    with zipfile.ZipFile(data) as zf:
        names = sorted(x for x in zf.namelist() if "/validation/" in x and x.lower().endswith(".jpg"))[:n]
        return [zf.read(name) for name in names]


def main(argv: list[str] | None = None) -> int:
    from catdog.preprocess import preprocess_image
    from catdog.sandbox import DecodeSandbox

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    images = photos(args.data, args.images)

    starts = []
    for _ in range(3):
        t = time.perf_counter()
        with DecodeSandbox(start=True) as sb:
            sb.preprocess(images[0], SIZE, MAX_PIXELS)
        starts.append(time.perf_counter() - t)
    in_process, sandboxed = [], []
    with DecodeSandbox(start=True) as sb:
        sb.preprocess(images[0], SIZE, MAX_PIXELS)
        for data in images:
            t = time.perf_counter()
            a = preprocess_image(data, SIZE, max_pixels=MAX_PIXELS).pixels
            in_process.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = sb.preprocess(data, SIZE, MAX_PIXELS).pixels
            sandboxed.append(time.perf_counter() - t)
            assert (a == b).all(), "the sandbox must hand out exactly the same pixels"

    def ms(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000, 2)

    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/sandbox_overhead.py",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        "images": len(images),
        "in_process_ms": {"p50": ms(in_process, 0.5), "p95": ms(in_process, 0.95)},
        "sandbox_ms": {"p50": ms(sandboxed, 0.5), "p95": ms(sandboxed, 0.95)},
        "overhead_ms_p50": round(ms(sandboxed, 0.5) - ms(in_process, 0.5), 2),
        "child_start_s_median": round(statistics.median(starts), 3),
        "same_pixels": True,
    }
    md = (f"Decoder sandbox vs in-process decoding, {report['images']} validation photos, interleaved "
          f"({report['machine']}, {report['generated_at']}; `{report['command']}`).\n\n"
          "| | p50 ms/image | p95 ms/image |\n| --- | --- | --- |\n"
          f"| `preprocess_image` in this process | {report['in_process_ms']['p50']} | "
          f"{report['in_process_ms']['p95']} |\n"
          f"| through `DecodeSandbox` (reused child, pipes) | {report['sandbox_ms']['p50']} | "
          f"{report['sandbox_ms']['p95']} |\n\n"
          f"Overhead per image (p50): {report['overhead_ms_p50']} ms; identical pixels for every photo. "
          f"Starting the child (once per container, and after a bomb got one killed): "
          f"{report['child_start_s_median']} s median, overlapping the model load on a cold start.\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sandbox.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "sandbox.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
