"""The method registry: one line per method, nothing else to touch.

A method is a package ``irpath/methods/<name>/`` whose ``METHOD`` object (a
:class:`~irpath.methods.base.Method`) wires its config to a builder, a training
recipe, an evaluator and post-processing. The core (run directory, predictor,
tiled inference, export, CLI) reaches methods only through :func:`get_method`.

Entries are ``"module:attribute"`` strings, imported on first use so ``irpath
--help`` does not import TensorFlow; a :class:`Method` instance also works
(tests register toy methods that way with ``monkeypatch.setitem(REGISTRY, ...)``).
"""

from __future__ import annotations

import importlib

from irpath.errors import ConfigError

REGISTRY: dict[str, object] = {
    "compsegnet": "irpath.methods.compsegnet:METHOD",
    "multiloss": "irpath.methods.multiloss:METHOD",
    "fcn": "irpath.methods.fcn:METHOD",
    "nuclei": "irpath.methods.nuclei:METHOD",
}


def method_names() -> tuple[str, ...]:
    """Registered method names, in registry order."""
    return tuple(REGISTRY)


def get_method(name: str, *, source: str | None = None):
    """The :class:`~irpath.methods.base.Method` registered as ``name``.

    Raises:
        ConfigError: ``name`` is not registered (``source`` names the file that asked).
    """
    entry = REGISTRY.get(name)
    if entry is None:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}unknown method {name!r}; known: {', '.join(REGISTRY)}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        return getattr(importlib.import_module(module), attr or "METHOD")
    return entry
