"""Hyperparameter search: search spaces inside the spec, run by Optuna (docs/tune.md)."""

from brickwork.tune.study import TrialPruning, TuneResult, tune

__all__ = ["TrialPruning", "TuneResult", "tune"]
