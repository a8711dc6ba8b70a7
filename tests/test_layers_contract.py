"""The layer contract in setup.cfg ([importlinter]) holds on the tree and catches a violation.

``make test`` runs ``lint-imports`` first; these tests show that the contract passes
on the package as it is, and fails, naming the import, once a module imports
upwards (checked on a scratch copy of ``irpath/`` + ``setup.cfg``).
"""

import ast
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the ``irpath`` package and ``setup.cfg`` found in ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--no-logo"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def scratch_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "irpath", tmp_path / "irpath", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    return tmp_path


def test_the_package_keeps_its_layers():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout


@pytest.mark.parametrize("module,line,named", [
    ("io/numpy_io.py", "import irpath.cli", "irpath.io.numpy_io -> irpath.cli"),
    # inference may reach the registry from loading.py only, the one listed exception
    ("inference/tiling.py", "from irpath.methods import get_method", "irpath.inference.tiling -> irpath.methods"),
    ("models/unet.py", "from irpath.data import augment", "irpath.models.unet -> irpath.data"),  # siblings
])
def test_an_upward_import_breaks_the_contract(tmp_path, module, line, named):
    tree = scratch_copy(tmp_path)
    assert lint_imports(tree).returncode == 0  # the copy itself is clean
    path = tree / "irpath" / module
    path.write_text(path.read_text() + f"\n{line}  # upward, on purpose\n")
    run = lint_imports(tree)
    assert run.returncode != 0
    assert "BROKEN" in run.stdout and named in run.stdout, run.stdout


def test_every_listed_exception_carries_a_reason():
    """Each ``ignore_imports`` entry has a comment line of its own just above it."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    ignored = [v.strip() for v in cfg["importlinter:contract:layers"]["ignore_imports"].splitlines() if v.strip()]
    lines = [v.strip() for v in (ROOT / "setup.cfg").read_text().splitlines()]
    assert ignored
    for entry in ignored:
        above = lines[lines.index(entry) - 1]
        assert above.startswith("#") and len(above) > 10, f"{entry}: no reason above it"


def test_inference_reaches_the_registry_only_through_get_method():
    """import-linter checks modules, not names: the one allowed exception
    (inference -> irpath.methods) may import ``get_method`` and nothing else."""
    seen = []
    for path in sorted((ROOT / "irpath" / "inference").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("irpath.methods"):
                seen.append((path.name, node.module, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("irpath.methods") for a in node.names), path
    assert seen, "the registry is no longer used by inference: drop the exception from setup.cfg"
    assert all(m == "irpath.methods" and names == ["get_method"] for _, m, names in seen), seen
