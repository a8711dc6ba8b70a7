"""Cohort prediction on dask.distributed: one image per task, the model loaded once per worker.

``--workers N`` starts a LocalCluster of N single-threaded worker processes;
``--scheduler tcp://HOST:8786`` joins a running cluster (its workers must see the
model, the inputs and the output folder at the same paths). A task whose worker
dies is retried on another one (``retries``); every finished image leaves its
row in ``OUT/.rows/``, so a re-run skips it. Each task runs
:func:`irpath.inference.predict.predict_one`, the serial code, so outputs are
identical to a serial run.
"""

from __future__ import annotations

import sys

#: Times a task is resubmitted after its worker died.
RETRIES = 2


def _worker_predictor(model: str, method: str | None, setup=None):
    """The worker's predictor, loaded on its first task (kept on the worker object)."""
    from distributed import get_worker

    worker = get_worker()
    cache = getattr(worker, "_irpath_predictors", None)
    if cache is None:
        cache = worker._irpath_predictors = {}
    if (model, method) not in cache:
        if setup is not None:
            setup()
        from irpath.inference.loading import load_predictor

        cache[model, method] = load_predictor(model, method=method)
    return cache[model, method]


def _task(model, method, path, stem, out_dir, opts, setup):
    import dataclasses

    from irpath.inference.predict import predict_one

    predictor = _worker_predictor(model, method, setup)
    return predict_one(predictor, path, stem, out_dir, dataclasses.replace(opts, progress=False))


def run_cohort(model: str, method: str | None, items, out_dir, opts, *, workers: int | None = None,
               scheduler: str | None = None, setup=None):
    """Yield ``(index into items, row)`` as images finish.

    Args:
        model: the model path (each worker loads it once).
        method: the method name, or None to read it from the model.
        items: ``[(path, stem), ...]``.
        out_dir: the output folder (shared by the workers).
        opts: :class:`~irpath.inference.predict.PredictOptions`.
        workers: start a LocalCluster of this many processes, or
        scheduler: the address of a running scheduler.
        setup: optional picklable callable each worker runs once before loading the
            model (the CLI passes its TensorFlow start-up).
    """
    from distributed import Client, LocalCluster, as_completed

    from irpath.errors import ConfigError

    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        futures = {client.submit(_task, str(model), method, str(p), stem, str(out_dir), opts, setup,
                                 key=f"irpath-predict-{stem}-{i}", retries=RETRIES, pure=False): i
                   for i, (p, stem) in enumerate(items)}
        for n, fut in enumerate(as_completed(futures), 1):
            i = futures[fut]
            row = fut.result()
            print(f"[{n}/{len(items)}] {items[i][0]}: done", file=sys.stderr, flush=True)
            yield i, row
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
