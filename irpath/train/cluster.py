"""This process's place in a multi-worker cluster, read from ``TF_CONFIG`` (no TensorFlow needed).

``TF_CONFIG`` is the JSON ``tf.distribute.MultiWorkerMirroredStrategy`` reads::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

The chief is the task of type ``chief`` or, when the cluster has none, worker 0. Only
the chief writes the run directory; the other workers write to temporary folders
(:func:`worker_scratch`) that are removed when the process exits.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from irpath.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Task:
    """``kind`` ("worker"/"chief"), ``index``, ``workers`` (tasks in the cluster)."""

    kind: str = "worker"
    index: int = 0
    workers: int = 1

    @property
    def is_chief(self) -> bool:
        return self.kind == "chief" or (self.kind == "worker" and self.index == 0 and not self._has_chief)

    _has_chief: bool = False

    @property
    def multi_worker(self) -> bool:
        return self.workers > 1


def task() -> Task:
    """This process's task (a single-worker "cluster" without ``TF_CONFIG``).

    Raises:
        ConfigError: ``TF_CONFIG`` is not valid JSON or lacks the task.
    """
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return Task()
    try:
        cfg = json.loads(raw)
        cluster = cfg.get("cluster", {})
        workers = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
        t = cfg.get("task", {})
        kind, index = str(t.get("type", "worker")), int(t.get("index", 0))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"TF_CONFIG: not a valid cluster description ({exc})") from None
    return Task(kind=kind, index=index, workers=max(workers, 1), _has_chief=bool(cluster.get("chief")))


def worker_scratch(shared: Path, own_files=()) -> Path:
    """A temporary folder standing in for the run directory ``shared`` on a non-chief
    worker, seeded with what resuming reads (config, best model, summary, checkpoints
    and the method's ``own_files``) and removed when the process exits."""
    from irpath.io.model_folder import CHECKPOINTS_DIR, RESUME_FILES

    t = task()
    scratch = Path(tempfile.mkdtemp(prefix=f"irpath-{t.kind}{t.index}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    shared = Path(shared)
    for name in (*RESUME_FILES, *own_files):
        if (shared / name).is_file():
            shutil.copy2(shared / name, scratch / name)
    if (shared / CHECKPOINTS_DIR).is_dir():
        shutil.copytree(shared / CHECKPOINTS_DIR, scratch / CHECKPOINTS_DIR)
    return scratch
