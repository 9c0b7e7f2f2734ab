"""Execution backends: where children are evaluated (see :class:`pnas.execution.base.Executor`)."""

from pnas.execution.base import Executor, Job, Outcome
from pnas.execution.local import InProcessExecutor, ProcessPoolExecutor, visible_gpus

__all__ = ["Executor", "Job", "Outcome", "InProcessExecutor", "ProcessPoolExecutor", "visible_gpus"]
