"""Model files are data, never code: no pickle anywhere, `.h5` only in Keras safe mode, and the
Lambda loads nothing but `.tflite` flatbuffers (which carry no executable code).

A model file is the one input an attacker with write access to `models/` controls completely;
these scans keep every loader on a format that cannot run what it reads.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from catdog.errors import ManifestError
from catdog.manifest import ModelPointer

REPO = Path(__file__).resolve().parents[2]
SERVING = [REPO / "layers" / "catdog" / "catdog", REPO / "functions"]
ALL_CODE = [*SERVING, REPO / "training_job", REPO / "catdog_cli", REPO / "catdog_local", REPO / "layers",
            REPO / "benchmarks", REPO / "tests"]
#: Modules that deserialize by executing code (or, for the ML ones, can load pickled objects).
CODE_EXECUTING_LOADERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                          "marshal", "torch"}
HEAVY_OR_UNSAFE_ON_LAMBDA = {"tensorflow", "keras", "h5py", *CODE_EXECUTING_LOADERS}


def _trees(roots: list[Path]) -> Iterator[tuple[Path, ast.AST]]:
    """Every Python file under `roots`, parsed. A root with no Python file fails the scan: a moved
    package must not turn a check into one that passes by reading nothing."""
    for root in roots:
        paths = sorted(root.rglob("*.py"))
        assert paths, f"{root}: no Python files to scan (moved?)"
        for path in paths:
            yield path, ast.parse(path.read_text(), str(path))


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_serving_path_imports_no_pickle_tensorflow_keras_or_h5py() -> None:
    imported = {f"{p.relative_to(REPO)}: {m}" for p, t in _trees(SERVING) for m in _imports(t)}
    assert any(entry.endswith(": ai_edge_litert") for entry in imported), "the scan reads no imports"
    found = {entry for entry in imported if entry.rsplit(": ", 1)[1] in HEAVY_OR_UNSAFE_ON_LAMBDA}
    assert found == set()


#: The one exception: EfficientNet-Lite0's weights ship as a legacy torch pickle. Its reader unpickles
#: through an allowlist of four harmless globals, and its tests write such pickles (the writer lives in
#: tests/support/torch_files.py, shared with the trainer's tests of bad weights files).
RESTRICTED_PICKLE_READER = "training_job/torch_checkpoint.py"
PICKLE_ALLOWED = {RESTRICTED_PICKLE_READER: {"pickle"}, "tests/unit/test_torch_checkpoint.py": {"pickle"},
                  "tests/support/torch_files.py": {"pickle"}}


def test_no_pickle_based_loader_anywhere_in_the_project() -> None:
    imported = {(str(p.relative_to(REPO)), m) for p, t in _trees(ALL_CODE) for m in _imports(t)}
    assert any(path.startswith("catdog_local/") for path, _ in imported), "catdog_local is not scanned"
    found = {f"{path}: {m}" for path, m in imported
             if m in CODE_EXECUTING_LOADERS and m not in PICKLE_ALLOWED.get(path, set())}
    assert found == set()


def test_the_one_pickle_reader_resolves_globals_only_through_its_allowlist() -> None:
    """No `pickle.load`/`loads`/`Unpickler(...)` call anywhere: only a subclass that overrides find_class."""
    unrestricted = [f"{p.relative_to(REPO)}:{c.lineno} {ast.unparse(c.func)}" for p, t in _trees(ALL_CODE)
                    for c in _calls(t) if ast.unparse(c.func) in
                    ("pickle.load", "pickle.loads", "pickle.Unpickler", "pickle._Unpickler", "pickle._load",
                     "pickle._loads")]
    unrestricted = [u for u in unrestricted if not u.startswith("tests/unit/test_torch_checkpoint.py")
                    or "pickle.loads" not in u]  # the test proves its hostile payload works on pickle itself
    assert unrestricted == []
    tree = ast.parse((REPO / RESTRICTED_PICKLE_READER).read_text())
    subclasses = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                  and any(ast.unparse(b) == "pickle.Unpickler" for b in n.bases)]
    assert [c.name for c in subclasses] == ["_RestrictedUnpickler"]
    methods = {f.name for f in subclasses[0].body if isinstance(f, ast.FunctionDef)}
    assert {"find_class", "persistent_load"} <= methods


def test_the_restricted_unpickler_allows_exactly_the_four_globals_of_a_state_dict() -> None:
    from training_job.torch_checkpoint import STATE_DICT_GLOBALS

    assert set(STATE_DICT_GLOBALS) == {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                                       ("torch", "FloatStorage"), ("torch", "LongStorage")}


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    yield from (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_no_allow_pickle_true_and_no_unsafe_yaml() -> None:
    bad, yaml_loads = [], 0
    for path, tree in _trees(ALL_CODE):
        for call in _calls(tree):
            flag = _keyword(call, "allow_pickle")
            if isinstance(flag, ast.Constant) and flag.value is True:
                bad.append(f"{path.relative_to(REPO)}:{call.lineno} allow_pickle=True")
            func = call.func
            on_yaml = isinstance(func, ast.Attribute) and ast.unparse(func.value) == "yaml"
            if on_yaml and isinstance(func, ast.Attribute):
                yaml_loads += func.attr.startswith(("load", "safe_load", "full_load", "unsafe_load"))
                if func.attr in ("unsafe_load", "full_load", "unsafe_load_all", "full_load_all"):
                    bad.append(f"{path.relative_to(REPO)}:{call.lineno} yaml.{func.attr}")
                if func.attr in ("load", "load_all") and _keyword(call, "Loader") is None:
                    bad.append(f"{path.relative_to(REPO)}:{call.lineno} yaml.{func.attr} without Loader")
    assert yaml_loads, "the scan found no yaml load at all (catdog_local/cfn.py has one): out of date?"
    assert bad == []


def test_the_custom_yaml_loader_is_a_safe_loader() -> None:
    import yaml

    from catdog_local.cfn import CfnLoader

    assert issubclass(CfnLoader, yaml.SafeLoader)
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("!!python/object/apply:os.system ['echo owned']", Loader=CfnLoader)


def _is_keras_load_model(call: ast.Call) -> bool:
    """`keras.models.load_model(...)`, `keras.saving.load_model(...)`, `tf.keras.models.load_model`."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "load_model"):
        return False
    return any(part in ast.unparse(func.value).split(".") for part in ("keras", "models", "saving"))


def test_every_keras_model_load_is_in_safe_mode() -> None:
    """safe_mode=True refuses Lambda layers, i.e. Python bytecode embedded in the .h5/.keras file."""
    seen, unsafe = [], []
    for path, tree in _trees(ALL_CODE):
        for call in filter(_is_keras_load_model, _calls(tree)):
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            seen.append(where)
            flag = _keyword(call, "safe_mode")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                unsafe.append(where)
    assert unsafe == [], f"load_model without an explicit safe_mode=True: {unsafe}"
    assert seen, "the scan found no keras load_model call at all: the pattern is out of date"


@pytest.mark.parametrize("model_key", ["models/v1/model.h5", "models/v1/model.keras", "models/v1/model.pkl",
                                       "models/v1/model.tflite.h5", "models/v1/"])
def test_the_lambda_pointer_refuses_anything_but_a_tflite_file(model_key: str) -> None:
    text = json.dumps({"version": "v1", "manifest_key": "models/v1/manifest.json", "model_key": model_key})
    with pytest.raises(ManifestError, match=r"not a \.tflite file"):
        ModelPointer.from_json(text)


def test_the_pointer_the_trainer_writes_is_accepted() -> None:
    pointer = ModelPointer.for_version("models/", "v1")
    assert ModelPointer.from_json(pointer.to_json()).model_key == "models/v1/model.tflite"


def test_importing_the_handler_loads_neither_tensorflow_nor_keras() -> None:
    """The static scan above misses transitive imports; this asks the interpreter itself."""
    code = (
        "import sys\n"
        "import catdog, catdog.pipeline, catdog.model_store, catdog.classifier, catdog.results\n"
        "from catdog_local.lambda_runtime import load_module\n"
        "load_module()\n"
        "bad = sorted(m for m in ('tensorflow', 'keras', 'h5py') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    env_code = "import os; os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1'); " \
               "os.environ.setdefault('POWERTOOLS_TRACE_DISABLED', 'true')\n"
    out = subprocess.run([sys.executable, "-c", env_code + code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True)
    loaded = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert "tensorflow" not in loaded and "keras" not in loaded and "h5py" not in loaded, loaded
