"""`make layer`: build the Lambda layer zips (x86_64 and arm64) without Docker.

pip can fetch Linux wheels for another Python and CPU (`--platform ... --only-binary=:all:
--python-version 3.12 --target`), so a laptop on any OS builds the exact files Lambda loads.
Then we strip what the function cannot use (GPU/NPU accelerator libraries, tests, caches,
packages the Lambda runtime already ships), zip, print sizes and FAIL when function + layer
exceed Lambda's 250 MB unzipped limit (the project's own target is 150 MB).

It is also what `sam build` runs for the layer (template: `BuildMethod: makefile`, via
`layers/sam/<arch>/Makefile`), with `--target $(ARTIFACTS_DIR)`: the same `python/catdog/` +
requirements tree, stripped and size-checked the same way, left unzipped for SAM to package. SAM's
own python3.12 builder needs a local python3.12 and cannot resolve LiteRT's arm64 wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYER_SRC = REPO / "layers" / "catdog"
FUNCTION_SRC = REPO / "functions" / "classify"
OUT = REPO / "build" / "layers"

LAMBDA_LIMIT_MB = 250.0
TARGET_MB = 150.0
#: Lambda python3.12 runs on Amazon Linux 2023 (glibc 2.34): any manylinux tag up to 2_34 loads.
GLIBC_TAGS = ("2014", "_2_17", "_2_24", "_2_27", "_2_28", "_2_31", "_2_34")
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}

#: Already in the Lambda Python runtime (boto3 and its dependencies): the runtime's copy is used.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
#: Inside ai_edge_litert: GPU (WebGPU) and NPU (Qualcomm/MediaTek/... AOT compilation) support,
#: never used by a CPU-only Lambda; the CPU interpreter (XNNPACK) lives in the common library.
ACCELERATOR_PATHS = ("ai_edge_litert/libLiteRtWebGpuAccelerator.so", "ai_edge_litert/aot",
                     "ai_edge_litert/vendors", "ai_edge_litert/tools")
#: Dist-info files an import never reads.
DIST_INFO_KEEP = {"METADATA", "top_level.txt", "entry_points.txt"}


def platform_args(arch: str) -> list[str]:
    machine = MACHINES[arch]
    args: list[str] = []
    for tag in GLIBC_TAGS:
        args += ["--platform", f"manylinux{tag}_{machine}"]
    return args


def pip_install(target: Path, arch: str, python_version: str, requirements: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(target), "--only-binary=:all:", "--implementation", "cp",
           "--python-version", python_version, *platform_args(arch), "-r", str(requirements)]
    print(f"[{arch}] pip install -r {requirements.relative_to(REPO)} (cp{python_version.replace('.', '')})",
          flush=True)
    subprocess.run(cmd, check=True)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def strip(site: Path) -> dict[str, int]:
    """Remove what the function cannot use; returns bytes removed per category."""
    removed: dict[str, int] = {}

    def drop(path: Path, why: str) -> None:
        if not path.exists():
            return
        size = dir_size(path) if path.is_dir() else path.stat().st_size
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        removed[why] = removed.get(why, 0) + size

    for name in RUNTIME_PROVIDED:
        drop(site / name, "provided by the Lambda runtime")
        for info in site.glob(f"{name}-*.dist-info"):
            drop(info, "provided by the Lambda runtime")
    for info in list(site.glob("python_dateutil-*.dist-info")):
        drop(info, "provided by the Lambda runtime")
    for rel in ACCELERATOR_PATHS:
        drop(site / rel, "GPU/NPU accelerators")
    for path in sorted(site.rglob("*"), reverse=True):
        if not path.exists():
            continue
        if path.is_dir() and path.name in ("__pycache__",):
            drop(path, "caches")
        elif path.is_dir() and path.name in ("tests", "testing") and path.parent.name in ("numpy", "_core",
                                                                                             "PIL", "lib"):
            drop(path, "tests")
        elif (path.is_file() and path.suffix in (".pyi", ".h", ".c", ".pxd", ".pyx")) or (
                path.is_dir() and path.name == "include" and path.parent.name in ("numpy", "_core")):
            drop(path, "headers and stubs")
        elif path.is_file() and path.parent.name.endswith(".dist-info") and path.name not in DIST_INFO_KEEP \
                and not path.name.startswith("LICENSE") and path.parent.name != "licenses":
            drop(path, "dist-info extras")
    return removed


def zip_dir(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src))


def build(arch: str, python_version: str, target: Path | None = None) -> dict[str, object]:
    """Build the layer tree (`python/...`) into build/layers/<arch>/ and zip it, or, given `target`
    (SAM's $(ARTIFACTS_DIR) under `BuildMethod: makefile`), into `target` with no zip: SAM zips it."""
    root = target if target is not None else OUT / arch
    site = root / "python"
    shutil.rmtree(site if target is not None else root, ignore_errors=True)
    pip_install(site, arch, python_version, LAYER_SRC / "requirements.txt")
    shutil.copytree(LAYER_SRC / "catdog", site / "catdog", ignore=shutil.ignore_patterns("__pycache__"))
    refuse_tensorflow(site)
    before = dir_size(site)
    removed = strip(site)
    layer_bytes = dir_size(site)
    function_bytes = dir_size(FUNCTION_SRC)
    zip_path = None
    if target is None:
        zip_path = OUT / f"catdog-layer-{arch}.zip"
        zip_dir(root, zip_path)
    biggest = sorted(((dir_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in site.iterdir()),
                     reverse=True)[:6]
    return {
        "arch": arch,
        "python": python_version,
        "zip": str(zip_path.relative_to(REPO)) if zip_path else None,
        "zip_mb": round(zip_path.stat().st_size / 1e6, 1) if zip_path else None,
        "installed_mb": round(before / 1e6, 1),
        "layer_unzipped_mb": round(layer_bytes / 1e6, 1),
        "function_unzipped_mb": round(function_bytes / 1e6, 3),
        "total_unzipped_mb": round((layer_bytes + function_bytes) / 1e6, 1),
        "stripped_mb": {k: round(v / 1e6, 1) for k, v in sorted(removed.items())},
        "largest": {name: round(size / 1e6, 1) for size, name in biggest},
    }


def smoke_test(arch: str, python: str, model_dir: Path | None) -> None:
    """Import the handler from the built layer (a pip boto3 stands in for the runtime's) and, given
    a model dir, classify an image with the stripped LiteRT: proves the strip removed nothing needed."""
    site = OUT / arch / "python"
    runtime = OUT / "smoke-runtime"
    if not (runtime / "boto3").exists():
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--target", str(runtime), "boto3"],
                       check=True)
    code = ("import sys, app, ai_edge_litert.interpreter as i; import catdog.classifier, catdog.preprocess; "
            "assert 'tensorflow' not in sys.modules; print('smoke test ok: handler imports from the layer')")
    if model_dir is not None:
        code += (
            "\nimport numpy as np; from pathlib import Path; from catdog.manifest import Manifest"
            f"\nd = Path({str(model_dir.resolve())!r})"
            "\nm = Manifest.from_json((d / 'manifest.json').read_text())"
            "\nc = catdog.classifier.Classifier(d / 'model.tflite', m)"
            "\nx = np.zeros((2, *m.input_size, 3), np.float32); x[0, ..., 0] = 255; x[1, ..., 2] = 255"
            "\nprint('smoke test ok: LiteRT from the layer says', [p.label for p in c.classify(list(x))])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTION_SRC), str(site), str(runtime)]),
           "PYTHONNOUSERSITE": "1", "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run([python, "-S", "-c", code], check=True, env=env, cwd=str(OUT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=[*MACHINES, "all"], default="all")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--target", type=Path,
                        help="build one --arch into this dir (python/...), unzipped: SAM's $(ARTIFACTS_DIR)")
    parser.add_argument("--smoke-python", help="a local python of the same version and CPU to import it with")
    parser.add_argument("--smoke-model", type=Path, help="model dir to classify with")
    args = parser.parse_args(argv)
    arches = list(MACHINES) if args.arch == "all" else [args.arch]
    if args.target is not None and len(arches) != 1:
        parser.error("--target builds one architecture: give --arch x86_64 or --arch arm64")
    if args.target is not None and args.smoke_python:
        parser.error("--smoke-python tests build/layers/<arch>: build without --target for it")
    reports = []
    for arch in arches:
        report = build(arch, args.python_version, args.target)
        reports.append(report)
        print(json.dumps(report, indent=2), flush=True)
    if args.smoke_python:
        local = "x86_64" if os.uname().machine == "x86_64" else "arm64"
        smoke_test(local, args.smoke_python, args.smoke_model)
    if args.target is None:
        (OUT / "sizes.json").write_text(json.dumps(reports, indent=2) + "\n")
    status = 0
    for r in reports:
        total = float(r["total_unzipped_mb"])  # type: ignore[arg-type]
        ok, verdict = size_verdict(total)
        zipped = f" ({r['zip_mb']} MB zipped)" if r["zip_mb"] is not None else ""
        print(f"{r['arch']}: function + layer = {total:.1f} MB unzipped{zipped} "
              f"-> {verdict} (target {TARGET_MB:.0f} MB, limit {LAMBDA_LIMIT_MB:.0f} MB)")
        status |= 0 if ok else 1
    return status


def size_verdict(total_mb: float) -> tuple[bool, str]:
    """(deployable?, words): over the target is a warning, over Lambda's limit fails the build."""
    if total_mb <= TARGET_MB:
        return True, "OK"
    if total_mb <= LAMBDA_LIMIT_MB:
        return True, f"over the {TARGET_MB:.0f} MB target"
    return False, f"OVER LAMBDA'S {LAMBDA_LIMIT_MB:.0f} MB LIMIT"


def refuse_tensorflow(site: Path) -> None:
    leaked = sorted(p.name for p in site.iterdir()
                    if p.name.split("-")[0].lower() in ("tensorflow", "tensorflow_cpu", "keras", "tf_keras"))
    if leaked:
        raise SystemExit(f"TensorFlow/Keras must never enter the layer, found: {leaked}")


if __name__ == "__main__":
    sys.exit(main())
