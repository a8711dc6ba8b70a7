"""Config machinery shared by every method: validation, dict/JSON round-trips, recipe files.

Each method keeps its own frozen dataclasses in its package (e.g.
:mod:`irpath.methods.compsegnet.config`): one for the network (the ``model``
section of ``config.json``) and one for the optimisation (the ``train``
section). A run's ``config.json`` and an export's ``irpath.json`` hold::

    {"method": "compsegnet", "irpath_version": "0.2.0", "model": {...}, "train": {...}}

and :func:`read_recipe` reads such a file back, refusing a missing or unknown method.
This module sits below the methods: the caller passes the registry's lookup
(:func:`irpath.methods.get_method`) in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from irpath.errors import ConfigError


def check(cond: bool, msg: str) -> None:
    """Raise :class:`ConfigError` with ``msg`` unless ``cond``."""
    if not cond:
        raise ConfigError(msg)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls, d: dict, *, source: str = "config"):
    """Build ``cls`` from a dict, refusing unknown keys with a clear error."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: expected a JSON object for {cls.__name__}, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown {cls.__name__} key(s): {', '.join(unknown)}")
    try:
        return cls(**d)
    except TypeError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def save_json(path, **sections) -> None:
    """Write ``{name: dict}`` sections (dataclasses are converted) to ``path`` atomically."""
    out = {k: (to_dict(v) if dataclasses.is_dataclass(v) else v) for k, v in sections.items()}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, path)


def load_json(path) -> dict:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


def recipe_sections(method: str, model_cfg, train_cfg=None) -> dict:
    """The sections every ``config.json`` / ``irpath.json`` holds."""
    from irpath import __version__

    out = {"method": method, "irpath_version": __version__, "model": to_dict(model_cfg)}
    if train_cfg is not None:
        out["train"] = to_dict(train_cfg)
    return out


def read_recipe(path, get_method, *, method: str | None = None):
    """Read a recipe file (``config.json``, ``irpath.json`` or ``models/<name>/config.json``).

    Args:
        path: the JSON file.
        get_method: the registry's lookup, :func:`irpath.methods.get_method`
            (``name, source=file -> Method``; raises ConfigError for an unknown name).
        method: the method the caller expects; refused if the file names another.
            A file that names no method is accepted only when ``method`` is given.

    Returns:
        ``(method_name, model_cfg, train_cfg or None)`` built with the method's
        config classes.

    Raises:
        ConfigError: missing file, bad JSON, missing/unknown/mismatched method, bad keys.
    """
    doc = load_json(path)
    name = doc.get("method")
    if name is None:
        if method is None:
            raise ConfigError(f"{path}: records no method (add \"method\": \"compsegnet\" or the "
                              "method it was trained with)")
        name = method
    if method is not None and name != method:
        raise ConfigError(f"{path}: was made by method {name!r}, not {method!r}")
    m = get_method(name, source=str(path))
    if "model" not in doc:
        raise ConfigError(f"{path}: has no 'model' section")
    model_cfg = from_dict(m.config_class, doc["model"], source=str(path))
    train_cfg = None
    if "train" in doc:
        train_cfg = from_dict(m.train_config_class, doc["train"], source=str(path))
    return name, model_cfg, train_cfg
