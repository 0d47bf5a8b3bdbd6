"""`make layer`: build the Lambda layer zips (x86_64 and arm64) without Docker, from the locks.

pip can fetch Linux wheels for another Python and CPU (`--platform ... --only-binary=:all:
--python-version 3.12 --target`), so a laptop on any OS builds the exact files Lambda loads. What
it installs is a LOCK, not a requirement list: `layers/<layer>/lock-<arch>.txt` names every
distribution of the layer (transitive ones included) with its version and hashes, resolved for
Lambda's python3.12 on that CPU; pip installs exactly that set (`--no-deps --require-hashes`), so no
dependency floats to whatever was newest on the day of the build. The locks come from
`--write-locks` (`make layer-lock`: `uv pip compile` of `requirements.txt` with the project's
`constraints.txt`, so the layer gets the versions the tests ran); a lock whose requirements.txt
changed since is refused. Then we strip what the function cannot use (GPU/NPU accelerator
libraries, tests, caches, packages the Lambda runtime already ships), zip, print sizes and FAIL
when function + layers exceed Lambda's 250 MB unzipped limit (the project's own target is 150 MB).

Two layers: `catdog` (the serving library, LiteRT, Pillow, numpy, Powertools) and `xray` (the
X-Ray SDK, attached only when the template's `Tracing` parameter is `Active`).

It is also what `sam build` runs for the layers (template: `BuildMethod: makefile`, via
`layers/sam/<arch>/Makefile`), with `--layer L --target $(ARTIFACTS_DIR)`: the same `python/` tree,
stripped and size-checked the same way, left unzipped for SAM to package. SAM's own python3.12
builder needs a local python3.12 and cannot resolve LiteRT's arm64 wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUNCTION_SRC = REPO / "functions" / "classify"
OUT = REPO / "build" / "layers"
CONSTRAINTS = REPO / "constraints.txt"


@dataclass(frozen=True)
class Layer:
    """One Lambda layer: its requirements, its locks and, for `catdog`, the package copied in."""

    name: str
    package: str | None = None

    @property
    def src(self) -> Path:
        return REPO / "layers" / self.name

    @property
    def requirements(self) -> Path:
        return self.src / "requirements.txt"

    def lock(self, arch: str) -> Path:
        return self.src / f"lock-{arch}.txt"


LAYERS = {"catdog": Layer("catdog", package="catdog"), "xray": Layer("xray")}
LAMBDA_PYTHON = "3.12"

LAMBDA_LIMIT_MB = 250.0
TARGET_MB = 150.0
#: Lambda python3.12 runs on Amazon Linux 2023 (glibc 2.34): any manylinux tag up to 2_34 loads.
GLIBC_TAGS = ("2014", "_2_17", "_2_24", "_2_27", "_2_28", "_2_31", "_2_34")
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}

#: Already in the Lambda Python runtime (boto3 and its dependencies): the runtime's copy is used.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
#: The same, as distribution names: locked (so the lock is a complete resolution) but not installed.
RUNTIME_PROVIDED_DISTS = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3",
                                    "python-dateutil", "six"})
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


# ------------------------------------------------------------------------------------------ locks


def shown(path: Path) -> str:
    """A path as people read it in the output: relative to the repository when inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: `ML_Dtypes` == `ml-dtypes`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_digest(requirements: Path) -> str:
    """What a lock was made from: the requirement lines, comments and blank lines aside."""
    lines = [line.split("#", 1)[0].strip() for line in requirements.read_text(encoding="utf-8").splitlines()]
    return hashlib.sha256("\n".join(sorted(x for x in lines if x)).encode()).hexdigest()


def lock_entries(lock: Path) -> dict[str, tuple[str, str]]:
    """{canonical name: (version, the entry as pip reads it, hashes included)} of a lock file."""
    entries: dict[str, tuple[str, str]] = {}
    logical = re.sub(r"\s*\\\n\s*", " ", lock.read_text(encoding="utf-8"))  # join `\`-continued lines
    for line in logical.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match is None:
            raise ValueError(f"{lock}: not an exact pin: {line[:80]!r}")
        entries[canonical(match[1])] = (match[2], line)
    return entries


def lock_header(lock: Path) -> dict[str, str]:
    """The `# key: value` lines `--write-locks` puts at the top of a lock."""
    header: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"^# ([a-z0-9-]+): (.+)$", line)
        if match:
            header[match[1]] = match[2].strip()
    return header


def check_lock(layer: Layer, arch: str, python_version: str) -> Path:
    """The lock to install from; refuses a missing one, one for another Python, or a stale one."""
    lock = layer.lock(arch)
    fix = "regenerate the locks: make layer-lock"
    if not lock.is_file():
        raise SystemExit(f"no lock for the {layer.name} layer on {arch}: {shown(lock)}; {fix}")
    header = lock_header(lock)
    if header.get("python") != python_version:
        raise SystemExit(f"{shown(lock)} is for Python {header.get('python')}, not {python_version}")
    if header.get("requirements-sha256") != requirements_digest(layer.requirements):
        raise SystemExit(f"{shown(lock)} is stale: {shown(layer.requirements)} "
                         f"changed since it was made; {fix}")
    return lock


def uv_platform(arch: str) -> str:
    """uv's name for the newest glibc Lambda python3.12 offers on this CPU (GLIBC_TAGS)."""
    return f"{MACHINES[arch]}-manylinux{GLIBC_TAGS[-1]}"


def uv_command(layer: Layer, arch: str, exclude_newer: str, output: Path) -> list[str]:
    beside = Path(sys.executable).parent / "uv"  # .venv/bin/uv, when run by .venv/bin/python
    uv = str(beside) if beside.is_file() else shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to write the locks (make install puts it in .venv/bin)")
    return [uv, "pip", "compile", "--quiet", "--no-header", "--generate-hashes", "--only-binary", ":all:",
            "--python-version", LAMBDA_PYTHON, "--python-platform", uv_platform(arch),
            "--exclude-newer", exclude_newer, "--constraint", str(CONSTRAINTS),
            str(layer.requirements), "--output-file", str(output)]


def write_lock(layer: Layer, arch: str, exclude_newer: str, dest: Path | None = None) -> Path:
    """Resolve `layer`'s requirements for Lambda python3.12 on `arch` into its lock (or `dest`).

    `exclude_newer` (an RFC 3339 time) is recorded in the header: the same inputs resolved again
    with it give the same lock, which is how the tests tell a current lock from a stale one.
    """
    dest = dest or layer.lock(arch)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "lock.txt"
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        subprocess.run(uv_command(layer, arch, exclude_newer, raw), check=True, cwd=REPO, env=env)
        body = raw.read_text(encoding="utf-8").replace(str(REPO) + "/", "")
    header = "\n".join([
        f"# The {layer.name} layer for Lambda python{LAMBDA_PYTHON} on {arch}: every distribution,",
        "# pinned, with hashes. Generated by `make layer-lock` (layers/build_layers.py --write-locks);",
        "# do not edit.",
        f"# requirements: {layer.requirements.relative_to(REPO)}",
        f"# requirements-sha256: {requirements_digest(layer.requirements)}",
        "# constraints: constraints.txt",
        f"# python: {LAMBDA_PYTHON}",
        f"# platform: {uv_platform(arch)}",
        f"# exclude-newer: {exclude_newer}",
        "# Installed with pip --no-deps --require-hashes, less what the Lambda runtime provides:",
        f"# {', '.join(sorted(RUNTIME_PROVIDED_DISTS))}.",
    ])
    dest.write_text(header + "\n" + body, encoding="utf-8")
    print(f"wrote {shown(dest)} "
          f"({len(lock_entries(dest))} distributions)", flush=True)
    return dest


def pip_install(target: Path, arch: str, python_version: str, lock: Path) -> None:
    """Exactly the lock's distributions, less the runtime-provided ones, hash-checked."""
    keep = [line for name, (_, line) in sorted(lock_entries(lock).items())
            if name not in RUNTIME_PROVIDED_DISTS]
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(keep) + "\n")
        requirements = Path(fh.name)
    try:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--require-hashes", "--target", str(target), "--only-binary=:all:",
               "--implementation", "cp", "--python-version", python_version, *platform_args(arch),
               "-r", str(requirements)]
        print(f"[{arch}] pip install {len(keep)} locked distributions from {shown(lock)} "
              f"(cp{python_version.replace('.', '')})", flush=True)
        subprocess.run(cmd, check=True)
    finally:
        requirements.unlink()


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


def build(arch: str, python_version: str, target: Path | None = None,
          layer: Layer = LAYERS["catdog"]) -> dict[str, object]:
    """Build `layer`'s tree (`python/...`) into build/layers/<layer>/<arch>/ and zip it, or, given
    `target` (SAM's $(ARTIFACTS_DIR) under `BuildMethod: makefile`), into `target` with no zip: SAM
    zips it."""
    lock = check_lock(layer, arch, python_version)
    root = target if target is not None else OUT / layer.name / arch
    site = root / "python"
    shutil.rmtree(site if target is not None else root, ignore_errors=True)
    pip_install(site, arch, python_version, lock)
    if layer.package is not None:
        shutil.copytree(layer.src / layer.package, site / layer.package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    refuse_tensorflow(site)
    before = dir_size(site)
    removed = strip(site)
    layer_bytes = dir_size(site)
    function_bytes = dir_size(FUNCTION_SRC)
    zip_path = None
    if target is None:
        zip_path = OUT / f"{layer.name}-layer-{arch}.zip"
        zip_dir(root, zip_path)
    biggest = sorted(((dir_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in site.iterdir()),
                     reverse=True)[:6]
    return {
        "layer": layer.name,
        "arch": arch,
        "python": python_version,
        "lock": str(lock.relative_to(REPO)),
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
    site = OUT / "catdog" / arch / "python"
    runtime = OUT / "smoke-runtime"
    if not (runtime / "boto3").exists():
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--target", str(runtime), "-c",
                        str(CONSTRAINTS), "boto3"], check=True)
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
    parser.add_argument("--layer", choices=[*LAYERS, "all"], default="all")
    parser.add_argument("--python-version", default=LAMBDA_PYTHON,
                        help="the locks are for Lambda's python3.12; another version is refused")
    parser.add_argument("--target", type=Path,
                        help="build one --layer for one --arch into this dir (python/...), unzipped: "
                             "SAM's $(ARTIFACTS_DIR)")
    parser.add_argument("--write-locks", action="store_true",
                        help="resolve every layer's requirements.txt (with constraints.txt) into its "
                             "lock-<arch>.txt with uv, then exit")
    parser.add_argument("--exclude-newer", default=datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z"),
                        help="with --write-locks: ignore releases uploaded after this time (default: today)")
    parser.add_argument("--smoke-python", help="a local python of the same version and CPU to import it with")
    parser.add_argument("--smoke-model", type=Path, help="model dir to classify with")
    args = parser.parse_args(argv)
    arches = list(MACHINES) if args.arch == "all" else [args.arch]
    layers = list(LAYERS.values()) if args.layer == "all" else [LAYERS[args.layer]]
    if args.write_locks:
        for layer in layers:
            for arch in arches:
                write_lock(layer, arch, args.exclude_newer)
        return 0
    if args.target is not None and (len(arches) != 1 or len(layers) != 1):
        parser.error("--target builds one layer for one architecture: give --layer and --arch")
    if args.target is not None and args.smoke_python:
        parser.error("--smoke-python tests build/layers/catdog/<arch>: build without --target for it")
    reports = []
    for arch in arches:
        for layer in layers:
            report = build(arch, args.python_version, args.target, layer)
            reports.append(report)
            print(json.dumps(report, indent=2), flush=True)
    if args.smoke_python:
        local = "x86_64" if os.uname().machine == "x86_64" else "arm64"
        smoke_test(local, args.smoke_python, args.smoke_model)
    if args.target is None:
        (OUT / "sizes.json").write_text(json.dumps(reports, indent=2) + "\n")
    status = 0
    for arch in arches:
        mine = [r for r in reports if r["arch"] == arch]
        total = _mb(mine[0], "function_unzipped_mb") + sum(_mb(r, "layer_unzipped_mb") for r in mine)
        ok, verdict = size_verdict(total)
        parts = " + ".join(f"{r['layer']} layer" for r in mine)
        zipped = [f"{r['zip_mb']}" for r in mine if r["zip_mb"] is not None]
        zip_note = f" ({' + '.join(zipped)} MB zipped)" if zipped else ""
        print(f"{arch}: function + {parts} = {total:.1f} MB unzipped{zip_note} "
              f"-> {verdict} (target {TARGET_MB:.0f} MB, limit {LAMBDA_LIMIT_MB:.0f} MB)")
        status |= 0 if ok else 1
    return status


def _mb(report: dict[str, object], key: str) -> float:
    value = report[key]
    assert isinstance(value, int | float), (key, value)
    return float(value)


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
