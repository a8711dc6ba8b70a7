"""The core never names a method: outside ``irpath/methods/<name>/``, only the registry,
``cli/demo.py`` and ``demo/`` import a method's package or use its name as a value."""

import ast
from pathlib import Path

import irpath
from irpath.methods import method_names

PACKAGE = Path(irpath.__file__).parent
ALLOWED = ("methods/__init__.py", "cli/demo.py", "demo/")


def _namings(path: Path, names, root: Path = PACKAGE) -> list[str]:
    """Imports of a method's package, and method names used as values (a Keras object's
    ``name=`` is its own name, not the method's)."""
    tree = ast.parse(path.read_text())
    keras_names = {id(k.value) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "name"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [m for m in mods if any(m.startswith(f"irpath.methods.{n}") for n in names)]
        elif isinstance(node, ast.Constant) and node.value in names and id(node) not in keras_names:
            found.append(repr(node.value))
    return [f"{path.relative_to(root)}:{f}" for f in found]


def test_no_module_outside_a_method_names_one():
    names = method_names()
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(ALLOWED) or any(rel.startswith(f"methods/{n}/") for n in names):
            continue
        found += _namings(path, names)
    assert found == []


def test_the_check_sees_an_import_and_a_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('from irpath.methods.nuclei import METHOD\nif m == "fcn":\n    x = f(name="fcn")\n')
    found = [f.split(":", 1)[1] for f in _namings(bad, method_names(), tmp_path)]
    assert found == ["irpath.methods.nuclei", "'fcn'"]
