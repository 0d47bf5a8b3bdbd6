"""training_job/Dockerfile and .dockerignore, read as a reviewer would (no Docker engine here): layer
order, pins, build context, user. tests/integration/test_training_image_files.py runs the result."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.support import dockerfile as df
from tests.support.paths import REPO


def _name(requirement: str) -> str:
    """`aws-lambda-powertools[tracer]>=3` → `aws-lambda-powertools` (normalized)."""
    name = re.split(r"[\[<>=!;~ ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    return pins


@pytest.fixture(scope="module")
def instrs() -> list[df.Instruction]:
    return df.instructions()


def test_dependencies_are_installed_before_any_code_is_copied(instrs: list[df.Instruction]) -> None:
    """A code change must not reinstall TensorFlow: only constraints.txt is copied before the deps."""
    names = [(i.name, i.args) for i in instrs]
    deps = next(n for n, (kind, args) in enumerate(names) if kind == "RUN" and "pip install" in args)
    copied_before = [args for kind, args in names[:deps] if kind == "COPY"]
    assert copied_before == ["constraints.txt ./"]
    deps_install, code_install = df.pip_installs(instrs)
    assert "--no-deps" in code_install and code_install[-1] == "."
    assert "--no-deps" not in deps_install


def test_every_install_is_constrained_by_constraints_txt(instrs: list[df.Instruction]) -> None:
    for args in df.pip_installs(instrs):
        assert args[args.index("-c") + 1] == "constraints.txt", args


def test_the_image_installs_what_the_package_and_its_train_extra_require(
        instrs: list[df.Instruction]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["train"]]}
    wanted -= {"tensorflow", "tensorflow-cpu"}  # the build arg picks the variant
    deps_install = df.pip_installs(instrs)[0]
    installed = {_name(a) for a in deps_install if not a.startswith("-") and a != "constraints.txt"}
    assert installed - {"tensorflow-cpu"} == wanted


@pytest.mark.parametrize("tf_package", ["tensorflow-cpu", "tensorflow[and-cuda]"], ids=["cpu", "gpu"])
def test_both_tensorflow_variants_are_pinned_to_the_same_version(instrs: list[df.Instruction],
                                                                 tf_package: str) -> None:
    deps_install = df.pip_installs(instrs, {"TF_PACKAGE": tf_package})[0]
    assert tf_package in deps_install
    pins = _pins()
    assert pins[_name(tf_package)] == pins["tensorflow-cpu"], "CPU and GPU images train with the same TF"
    assert df.build_args(instrs)["TF_PACKAGE"] == "tensorflow-cpu"


@pytest.mark.parametrize("path", [
    ".venv/lib/python3.11/site-packages/tensorflow/__init__.py", ".venv-tools/x", ".venv-sam/bin/sam",
    ".git/HEAD", "build/model/model.h5", ".aws-sam/build/x", "tests/unit/test_docs.py",
    "benchmarks/results/train.md", "model.tflite", "catdog_cli/__pycache__/main.cpython-311.pyc",
    ".mypy_cache/x.json"])
def test_dockerignore_keeps_venvs_models_and_build_output_out_of_the_context(path: str) -> None:
    assert df.is_ignored(path)


def test_dockerignore_lets_in_what_the_copy_steps_name() -> None:
    context = df.context_files()
    for sources, _ in df.copies(df.instructions()):
        for source in sources:
            src = source.rstrip("/")
            assert any(f == src or f.startswith(src + "/") for f in context), source
    assert not any(f.startswith(("tests/", ".venv", "build/", "docs/")) for f in context)


def test_the_trainer_runs_as_a_numeric_non_root_user_in_a_directory_it_owns(
        instrs: list[df.Instruction]) -> None:
    users = [i.args for i in instrs if i.name == "USER"]
    assert users and users[-1].isdigit() and users[-1] != "0"
    uid = users[-1]
    workdir = [i.args for i in instrs if i.name == "WORKDIR"][-1]
    runs = " ".join(i.args for i in instrs if i.name == "RUN")
    assert f"--uid {uid}" in runs
    assert re.search(rf"chown {uid}(:{uid})? {re.escape(workdir)}\b", runs), "the final WORKDIR is writable"
    assert df.env(instrs)["CATDOG_CACHE"].startswith(workdir + "/"), "the download cache is writable too"
    assert df.entrypoint(instrs) == ["python", "-m", "training_job"]
