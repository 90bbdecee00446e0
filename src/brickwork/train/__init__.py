"""Training: `fit`, `evaluate`, `predict`, callbacks, metrics and checkpoints."""

from brickwork.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    MonitorCallback,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from brickwork.train.loop import History, evaluate, fit, predict
from brickwork.train.tensorboard import TensorBoard

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
    "evaluate",
    "fit",
    "predict",
]
