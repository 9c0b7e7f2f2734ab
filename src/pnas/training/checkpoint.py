"""Checkpoints of a training run: tensors and plain data only, written atomically, checked on load.

A checkpoint is one ``torch.save`` file holding a dict of tensors, numbers, strings, lists
and dicts (no pickled classes), so it loads with ``weights_only=True``. It is written to a
temporary file in the same folder, flushed to disk, and renamed over the previous one: a
kill at any moment leaves either the old checkpoint or the new one, never a torn file.

What it holds: the format version, the network's configuration (a checkpoint refuses to load
into another network), the epoch it was taken after, the model and optimizer state, the
random states of torch (CPU and CUDA), and the per-epoch history the log is rewritten from.
The data order and augmentation are drawn from generators seeded by (seed, epoch, batch), so
the epoch number is the data pipeline's whole random state, whatever the worker count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

FORMAT = 1
"""The checkpoint format this version writes and reads; a newer one is refused."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


def write_atomic(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, and rename it over ``path``."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")  # keeps the suffix: log.csv -> .log.tmp-1.csv
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a folder: the renames in it) to disk, where the file system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def random_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        cuda = states["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (see the module docstring) as the checkpoint at ``path``, atomically."""
    doc = {"format": FORMAT, **state}
    write_atomic(path, lambda f: torch.save(doc, f))


def load_checkpoint(path: Path, network: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``, refused unless it was written for ``network`` in a format this version reads."""
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn, foreign or unsafe file: pickle, zip and torch raise many kinds
        raise CheckpointError(
            f"{path} is not a readable pnas checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "delete it to start the run over"
        ) from None
    if not isinstance(doc, dict) or "format" not in doc:
        raise CheckpointError(f"{path} is not a pnas checkpoint (no format field)")
    if not isinstance(doc["format"], int) or doc["format"] > FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {doc['format']!r}, newer than the format {FORMAT} this version of pnas "
            "reads: upgrade pnas to resume or export it"
        )
    if doc.get("network") != network:
        theirs = doc.get("network") or {}
        differ = sorted(k for k in set(theirs) | set(network) if theirs.get(k) != network.get(k))
        raise CheckpointError(
            f"{path} was written for another network (differs in {', '.join(differ) or 'its description'}: "
            f"{'; '.join(f'{k} {theirs.get(k)!r} there, {network.get(k)!r} here' for k in differ[:3])}); "
            "it cannot be loaded into this run"
        )
    return doc
