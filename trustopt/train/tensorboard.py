"""TensorBoard scalars of a training run (the optional ``tensorboard`` extra).

Every number of a progress row (the columns of progress.csv: ``eval_mean``, ``train_return_mean``,
``grad_norm``, ``sigma``, ...) is written as a scalar named ``trustopt/<column>`` with the row's
``timesteps`` as its step; empty cells (iterations without an evaluation) are skipped. The events
go to ``out/tb/`` through the ``tensorboard`` package's own event-file writer (no TensorFlow or
PyTorch needed); view them with ``tensorboard --logdir out/tb``. A resumed run adds a new event
file; iterations logged after the checkpoint it resumes from appear twice, with equal values. A
run resumed with TensorBoard on for the first time logs its progress.csv so far first.
"""

from __future__ import annotations

import csv
import math
import time

from trustopt._validation import ValidationError

__all__ = ["ScalarWriter", "import_tensorboard", "TENSORBOARD_HINT"]

TENSORBOARD_HINT = 'install the tensorboard extra: pip install -e ".[tensorboard]"'

#: Columns that are counters or labels, not curves.
_SKIP = frozenset({"timesteps", "status"})


def import_tensorboard():
    """``(EventFileWriter, event_pb2, summary_pb2)`` from the ``tensorboard`` package, or a
    ValidationError naming the extra to install."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:
        raise ValidationError(f"--tensorboard: the tensorboard package is not installed; {TENSORBOARD_HINT} "
                              f"(import failed: {exc})") from None
    return EventFileWriter, event_pb2, summary_pb2


class ScalarWriter:
    """``ScalarWriter(logdir).log(row)`` writes the row's numbers as scalars at step ``row["timesteps"]``."""

    def __init__(self, logdir: str):
        EventFileWriter, self._event_pb2, self._summary_pb2 = import_tensorboard()
        self._writer = EventFileWriter(logdir)

    def log(self, row: dict) -> None:
        values = []
        for key, v in row.items():
            if key in _SKIP or isinstance(v, bool) or v is None or v == "":
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if math.isnan(v):
                continue
            values.append(self._summary_pb2.Summary.Value(tag=f"trustopt/{key}", simple_value=v))
        summary = self._summary_pb2.Summary(value=values)
        self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(row["timesteps"]),
                                                     summary=summary))
        self._writer.flush()

    def log_progress(self, path: str) -> None:
        """Every row of the progress.csv at ``path``: the iterations a run made before it was resumed
        with TensorBoard on for the first time, so that its curves start at step 0."""
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                self.log(row)

    def close(self) -> None:
        self._writer.close()
