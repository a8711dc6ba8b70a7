"""The method-agnostic run directory: paths, the output guard, the recipe lock, history.

The layout is :mod:`irpath.io.model_folder`'s. The training driver
(:func:`irpath.train.run`) starts a :class:`RunDirectory` per phase, fits in it
(:mod:`irpath.train.fit`) and finishes it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from irpath.config import load_json, recipe_sections, save_json
from irpath.errors import ConfigError
from irpath.io.fingerprint import comparable

from irpath.io.model_folder import (BEST_FILE, CACHE_DIR, CHECKPOINTS_DIR, HISTORY_FILE,
                                    INFERENCE_FILE, LAST_FILE, LOGS_DIR, RUN_CONFIG, RUN_OUTPUTS,
                                    SAVED_MODEL_DIR, SUMMARY_FILE)

#: Train-config keys a resumed run may change: train longer, or lower the rate after a divergence.
RESUMABLE_KEYS = ("epochs", "lr")
#: Temporaries of irpath versions before :data:`irpath.io.paths.TMP_MARK`.
_OLD_TEMPORARIES = ("*.tmp.keras", "checkpoints/*.tmp.keras", "checkpoints/state.json.tmp",
                    "config.json.tmp", "history.csv.tmp")


def plan_run(path, extra=(), *, inputs=()) -> None:
    """The output guard of a training run (:func:`irpath.io.paths.plan_outputs`): the run
    files may replace only a run's own files, never an input; stale temporaries go.

    Args:
        path: the run directory.
        extra: the method's own run files (``Method.run_outputs``).
        inputs: the files and folders the training reads.
    """
    from irpath.io.paths import plan_outputs

    path = Path(path)
    files = RUN_OUTPUTS + tuple(extra)
    plan_outputs(path, files, command="train", inputs=inputs, owned=files if _is_run(path) else ())
    for pattern in _OLD_TEMPORARIES:
        for f in path.glob(pattern):
            f.unlink(missing_ok=True)


def _is_run(path: Path) -> bool:
    """True when ``path`` holds a run directory's config.json (a run of any irpath version)."""
    try:
        return "method" in json.loads((path / RUN_CONFIG).read_text())
    except (OSError, ValueError, TypeError):
        return False


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class RunDirectory:
    """Paths of one run directory (see the module docstring).

    On a non-chief worker of a multi-worker cluster (``TF_CONFIG``), ``path`` is a
    temporary folder seeded from the real run directory ``shared`` (what a resume
    reads) and removed at exit: only the chief writes the run directory.
    """

    path: Path
    shared: Path | None = dataclasses.field(default=None, compare=False)
    #: the method's own files in the run (``Method.run_outputs``): guarded like the core's,
    #: and seeded into a worker's stand-in
    own_files: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    def __post_init__(self):
        from irpath.train.cluster import task, worker_scratch

        path = Path(self.path)
        object.__setattr__(self, "shared", path)
        t = task()
        if t.multi_worker and not t.is_chief:
            path = worker_scratch(path, self.own_files)
        object.__setattr__(self, "path", path)

    @property
    def is_writer(self) -> bool:
        """True unless this is a non-chief worker's stand-in for the run directory."""
        return self.path == self.shared

    config = property(lambda self: self.path / RUN_CONFIG)
    cache = property(lambda self: self.path / CACHE_DIR)
    checkpoints = property(lambda self: self.path / CHECKPOINTS_DIR)
    last = property(lambda self: self.path / CHECKPOINTS_DIR / LAST_FILE)
    best = property(lambda self: self.path / BEST_FILE)
    inference = property(lambda self: self.path / INFERENCE_FILE)
    saved_model = property(lambda self: self.path / SAVED_MODEL_DIR)
    history = property(lambda self: self.path / HISTORY_FILE)
    logs = property(lambda self: self.path / LOGS_DIR)
    summary = property(lambda self: self.path / SUMMARY_FILE)

    def finished(self, epochs: int) -> bool:
        """True when this run reached ``epochs`` and was finished (summary and best model)."""
        return (self.checkpoints.exists() and int(self.state().get("epoch", 0)) >= epochs
                and self.summary.exists() and self.best.exists())

    def state(self) -> dict:
        from irpath.train.callbacks import read_state

        return read_state(self.checkpoints)

    @property
    def started(self) -> bool:
        """True once a training epoch has finished (the recipe is then locked)."""
        state = self.state()
        return bool(state.get("epoch") or state.get("step"))

    def start(self, method: str, model_cfg, train_cfg, *, data: dict | None = None):
        """Create the directory and lock the recipe, or check it on resume.

        A run whose training has started keeps its recipe: a different method, model
        config, train config (all but ``epochs`` and ``lr``) or data fingerprint is refused,
        naming what changed. A run that never finished an epoch (e.g. it failed
        while caching) takes the new recipe (a method's own files derived from the data are the
        method's to redo then: see :attr:`started`).

        Args:
            method: the method's registry name.
            model_cfg, train_cfg: the recipe.
            data: ``{name: fingerprint}`` of the data the run trains on.

        Returns:
            True when resuming a started run.
        """
        if self.is_writer:
            plan_run(self.path, self.own_files)
        else:
            from irpath.io.paths import make_output_dir

            make_output_dir(self.path)
        sections = recipe_sections(method, model_cfg, train_cfg)
        sections["data"] = data or {}
        if not self.config.exists() or not self.started:
            save_json(self.config, **sections)
            return False
        saved = load_json(self.config)
        changed = []
        if saved.get("method", method) != method:
            raise ConfigError(f"{self.path}: this run trains method {saved.get('method')!r}, not "
                              f"{method!r}; use a new --out")
        for section, new, cfg in (("model", sections["model"], model_cfg), ("train", sections["train"], train_cfg)):
            new = json.loads(json.dumps(new))  # as saved: tuples become lists
            old = {**_defaults(cfg), **saved.get(section, {})}  # fields added since: their defaults
            changed += [k for k, v in new.items() if k not in RESUMABLE_KEYS and old.get(k) != v]
        if changed:
            raise ConfigError(f"{self.path}: this run was started with different settings "
                              f"({', '.join(changed)}); resume with the same options or use a new --out")
        old_data = saved.get("data", {})
        moved = [k for k, v in sections["data"].items()
                 if k in old_data and comparable(old_data[k], v) and old_data[k] != v]
        if moved:
            raise ConfigError(f"{self.path}: this run was trained on different data ({', '.join(moved)} "
                              "changed: manifest rows or file sizes/times); resume with the same data "
                              "or use a new --out")
        kept = {k: v for k, v in saved.items() if k not in sections}  # e.g. a method's calibration
        save_json(self.config, **kept, **sections)
        return True


def _defaults(cfg) -> dict:
    """The JSON form of ``cfg``'s class defaults ({} when a field has no default)."""
    try:
        return json.loads(json.dumps(dataclasses.asdict(type(cfg)())))
    except TypeError:
        return {}


def truncate_history(path: Path, epochs: int) -> None:
    """Keep the header and the rows of the first ``epochs`` epochs of a CSVLogger file."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    if not lines:
        return
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[0].isdigit() and int(ln.split(",")[0]) < epochs]
    if len(keep) != len(lines):
        from irpath.io.paths import atomic_write_text

        atomic_write_text(path, "\n".join(keep) + "\n")


def read_history(path) -> dict[str, list[float]]:
    """The CSVLogger file as ``{metric: [values per epoch]}`` ({} if absent); the
    ``epoch`` index column is left out, values are in epoch order."""
    path = Path(path)
    if not path.exists():
        return {}
    lines = [ln.split(",") for ln in path.read_text().strip().splitlines()]
    if len(lines) < 2:
        return {}
    cols = lines[0]
    return {c: [float(row[i]) for row in lines[1:] if len(row) == len(cols)]
            for i, c in enumerate(cols) if c != "epoch"}
