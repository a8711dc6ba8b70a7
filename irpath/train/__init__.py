"""Training: the one driver (:func:`run`), its fit loop, run directories, strategy, callbacks."""

from irpath.train.driver import Phase, TrainContext, finish, run

__all__ = ["Phase", "TrainContext", "finish", "run"]
