"""Named points in a run that others may watch: ``checkpoint("result_commit")``.

The product only announces where it is; what happens there is the business
of whoever installed a listener (tests kill the process at the n-th point to
check that a study resumes, a profiler could time rounds). With no listener
a checkpoint costs one empty-list check.

The points:

* ``result_commit``: in a store's
  :meth:`~pnas.storage.base.StudyStorage.record_result`, before the result
  lands (the SQLite store: inside its transaction, before COMMIT).
* ``between_rounds``: after a batch of results is applied, before the next
  is asked (:func:`pnas.study.optimize`).
* ``predictor_fit``: after a round's predictor is fitted, before it is stored
  (:class:`pnas.strategies.progressive.ProgressiveSearch`).

A listener is called with the point's name in the thread that reaches it,
and what it raises propagates there. Listeners belong to this process: a
child process starts with the listeners its parent had when it forked (none
under ``spawn``).
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str], None]

POINTS = ("result_commit", "between_rounds", "predictor_fit")

_listeners: list[Listener] = []


def checkpoint(point: str) -> None:
    """Tell every installed listener that execution reached ``point``."""
    if _listeners:
        for listener in tuple(_listeners):
            listener(point)


def add_checkpoint_listener(listener: Listener) -> Listener:
    """Call ``listener(point)`` at every checkpoint from now on; returns it, for removal."""
    _listeners.append(listener)
    return listener


def remove_checkpoint_listener(listener: Listener) -> None:
    """Stop calling ``listener``; one that is not installed is ignored."""
    try:
        _listeners.remove(listener)
    except ValueError:
        pass
