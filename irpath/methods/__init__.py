"""The method registry: one line per method, nothing else to touch.

A method is a package ``irpath/methods/<name>/`` whose ``METHOD`` object (a
:class:`~irpath.methods.base.Method`) wires its config to a builder, a training
recipe, an evaluator and post-processing. The core (run directory, predictor,
tiled inference, export, CLI) reaches methods only through :func:`get_method`.

Entries are ``"module:attribute"`` strings, imported on first use so ``irpath
--help`` does not import TensorFlow; a :class:`Method` instance also works.
A method kept outside irpath is added with the environment variable
``IRPATH_METHODS="name=module:attribute[,name2=...]"`` (the module must be importable),
so every ``irpath`` process, including the workers ``--local-workers`` starts, sees it.
"""

from __future__ import annotations

import importlib
import os

from irpath.errors import ConfigError

REGISTRY: dict[str, object] = {
    "compsegnet": "irpath.methods.compsegnet:METHOD",
    "multiloss": "irpath.methods.multiloss:METHOD",
    "fcn": "irpath.methods.fcn:METHOD",
    "nuclei": "irpath.methods.nuclei:METHOD",
}


def _from_environment() -> None:
    """Add the ``IRPATH_METHODS`` entries (``name=module:attribute``, comma-separated)."""
    for item in filter(None, (t.strip() for t in os.environ.get("IRPATH_METHODS", "").split(","))):
        name, sep, entry = item.partition("=")
        if not (sep and name.strip() and ":" in entry):
            raise ConfigError(f"IRPATH_METHODS: {item!r} is not name=module:attribute")
        REGISTRY.setdefault(name.strip(), entry.strip())


_from_environment()


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
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):  # a bug inside it: not ours to hide
                raise
            raise ConfigError(f"method {name!r}: no module {exc.name!r} (entry {entry})") from None
        if not hasattr(mod, attr or "METHOD"):
            raise ConfigError(f"method {name!r}: {module} has no {attr or 'METHOD'}")
        return getattr(mod, attr or "METHOD")
    return entry
