"""The old name of :func:`pnas.checkpoints.checkpoint`, kept only while a module still imports it.

Nothing here reads the environment or stops the process: a checkpoint only
calls the listeners someone installed. Import from :mod:`pnas.checkpoints`.
"""

from pnas.checkpoints import checkpoint as fault_point

__all__ = ["fault_point"]
