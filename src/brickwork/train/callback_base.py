"""The `Callback` base class, alone in a module so callbacks defined elsewhere (TensorBoard,
the progress bar, fine-tuning's unfreezing) can subclass it without importing the registry
of named callbacks in brickwork.train.callbacks, which in turn builds them by name."""

from __future__ import annotations


class Callback:
    """Base class: every hook does nothing; `trainer` is set by `fit`.

    In a distributed job every rank runs every callback, except those with
    `main_process_only = True` (the ones that write files or print), which run on rank 0 only.
    """

    trainer = None
    main_process_only = False

    def on_train_begin(self, logs: dict) -> None: ...
    def on_train_end(self, logs: dict) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict) -> None: ...
    def on_batch_end(self, batch: int, logs: dict) -> None: ...

    def state_dict(self) -> dict:
        """What this callback must remember across a resume (JSON values and tensors)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
