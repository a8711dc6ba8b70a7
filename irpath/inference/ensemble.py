"""Several trained models of one recipe averaged into one inference model.

A deep ensemble (Lakshminarayanan et al. 2017): the same recipe trained from
different seeds, maps averaged pixel by pixel. Runs trained weakly (CompSegNet's
spot labels) disagree most on small or faint regions; the average keeps what
they agree on. The ensemble is written as a run-like folder, so ``evaluate``,
``predict`` and ``export`` take it as they take a run:

    ENSEMBLE_DIR/config.json      the members' method and model config, plus ``ensemble``
    ENSEMBLE_DIR/segmenter.keras  one Keras model: image -> each member -> average
    ENSEMBLE_DIR/saved_model/     its SavedModel export (raw images in, maps out)

Method-agnostic: any method whose inference maps can be averaged (probabilities,
activation maps, priors, class scores) works.
"""

from __future__ import annotations

from pathlib import Path

from irpath.errors import ConfigError, MissingFileError
from irpath.inference.loading import load_inference_model, model_files
from irpath.io.model_folder import INFERENCE_FILE, RUN_CONFIG
from irpath.io.paths import (CLAIMS_FILE, TMP_MARK, OutputError, atomic_path, plan_outputs,
                             read_claims)

#: What an ensemble folder holds.
ENSEMBLE_OUTPUTS = (RUN_CONFIG, INFERENCE_FILE, "saved_model/")

#: Where the members are listed in the ensemble's config.json.
ENSEMBLE_KEY = "ensemble"


def _member_file(path: Path) -> Path:
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise ConfigError(f"{path}: is a SavedModel; an ensemble needs the members' run directories "
                              f"(or their {INFERENCE_FILE})")
        path = path / INFERENCE_FILE
    if not path.exists():
        raise MissingFileError(f"{path}: no such model file (has training finished?)")
    if path.suffix != ".keras":
        raise ConfigError(f"{path}: expected a run directory or a .keras file")
    return path


def read_members(paths):
    """``(method, model config, [(file, inference model), ...])`` of the members.

    Raises:
        ConfigError: fewer than two members, or members of different methods or
            model configs (named, with the keys that differ).
    """
    from irpath.config import to_dict

    if len(paths) < 2:
        raise ConfigError("an ensemble needs at least two models")
    members, first = [], None
    for path in paths:
        file = _member_file(Path(path))
        name, cfg, model = load_inference_model(file)
        if first is None:
            first = (file, name, cfg)
        elif name != first[1]:
            raise ConfigError(f"{file}: was trained with method {name!r}, but {first[0]} with {first[1]!r}")
        elif cfg != first[2]:
            a, b = to_dict(first[2]), to_dict(cfg)
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise ConfigError(f"{file}: its model config differs from {first[0]}'s ({', '.join(keys)}); "
                              "ensemble members must share one recipe")
        members.append((file, model))
    return first[1], first[2], members


def build_ensemble(models, name: str):
    """One Keras model: the input goes to every member, the outputs are averaged.

    Args:
        models: single-input inference models (:func:`load_inference_model`) with the
            same output shape.
        name: the ensemble model's name (the members' own inference-model name,
            so each method recognises it as an inference model).
    """
    import keras

    inputs = keras.Input(tuple(models[0].inputs[0].shape[1:]), name="image")
    outputs = []
    for i, m in enumerate(models):
        if len(m.outputs) != 1:
            raise ConfigError(f"model {m.name!r} has {len(m.outputs)} outputs; an ensemble averages "
                              "single-output inference models")
        member = keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}")
        outputs.append(member(inputs))
    average = keras.layers.Average(name="average", dtype="float32")(outputs)
    return keras.Model(inputs, average, name=name)


def make_ensemble(paths, out_dir, *, export: bool = True) -> Path:
    """Write the ensemble of the models at ``paths`` to ``out_dir`` (see the module doc).

    Args:
        paths: two or more run directories (or inference ``.keras`` files with
            their ``config.json`` beside them) of one method and model config.
        out_dir: a new or empty folder, or the folder of an earlier ensemble (re-run).
        export: also write ``saved_model/``.

    Returns:
        ``out_dir``.
    """
    from irpath.config import recipe_sections, save_json
    from irpath.inference.export import export_model

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or not _own_folder(out)):
        raise OutputError(f"{out}: exists and is not an empty folder; choose a new --out")
    method, cfg, members = read_members(paths)
    plan_outputs(out, ENSEMBLE_OUTPUTS, command="ensemble",
                 model_files=[p for f, _ in members for p in model_files(f)])
    model = build_ensemble([m for _, m in members], members[0][1].name)
    sections = recipe_sections(method, cfg)
    sections[ENSEMBLE_KEY] = {"members": [str(f.resolve()) for f, _ in members], "combine": "mean"}
    save_json(out / RUN_CONFIG, **sections)
    with atomic_path(out / INFERENCE_FILE) as tmp:
        model.save(tmp)
    if export:
        export_model(out, out / "saved_model", quiet=True, overwrite=True)
    return out


def _own_folder(out: Path) -> bool:
    """True when ``out`` is empty or holds only what an earlier ensemble wrote."""
    claims = read_claims(out)
    return all(p.name == CLAIMS_FILE or TMP_MARK in p.name or claims.get(p.name) == "ensemble"
               for p in out.iterdir())
