"""What an evaluator is: a cell goes in, an :class:`EvalResult` comes out.

Evaluators must be rebuildable from a plain config (``EvaluatorSpec``) so that
worker processes and cluster backends can construct their own copy; nothing
is pickled between processes except these specs and results.

An evaluator that reads data (images, a table) describes it with
:meth:`Evaluator.data_fingerprint`: file names relative to the data's root, their
sizes and hashes, and a hash of the content as decoded. A study stores it, and a
resume compares it with :func:`fingerprint_difference`, so a study is never
continued on other data than it was made with.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pnas.registry import Registry


@dataclass(frozen=True)
class EvalResult:
    """One trained (or looked-up) child. Accuracies are fractions in [0, 1]."""

    accuracy: float
    """Validation accuracy: what strategies optimise."""
    report_accuracy: float | None = None
    """A held-out accuracy kept for reporting only (e.g. a table's test column)."""
    params: int | None = None
    mult_adds: int | None = None
    examples: int = 0
    """Training examples seen (epochs x images): the compute the paper's 8x claim counts (docs/paper.md, section 6)."""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CostModel(Protocol):
    """The parameters and mult-adds of the network an evaluator would build from each cell, known
    without building or training it (so strategies can weigh every child of a round)."""

    def costs(self, cells: Sequence[Any]) -> Any:
        """An integer array of shape [len(cells), 2]: parameters, mult-adds per example."""
        ...

    def bound(self, max_level: int) -> tuple[int, int]:
        """(parameters, mult-adds) no cell of up to ``max_level`` levels exceeds: where a study's
        hypervolume puts its reference point when no limit is set."""
        ...


@dataclass(frozen=True)
class Probe:
    """A few of the study's own training images, for scores of an untrained network that need data
    (the NASWOT score, :func:`pnas.nets.zero_cost.naswot`): what the network will see, not noise."""

    images: Any
    """A float tensor (N, C, H, W), preprocessed as the children see it."""
    num_classes: int


class ChildFailed(Exception):
    """A child that could not be evaluated (NaN loss, timeout, ...): recorded, the search goes on."""


class TrialPruned(Exception):
    """Raised by an evaluator (or a user's objective) told to stop a child early: the trial is recorded
    ``pruned`` with the ``step`` and ``value`` it reached (an objective may leave them out: its last
    ``trial.report`` gives them). ``result`` carries the costs up to where it stopped (its ``examples``
    and ``seconds``: the compute a pruned child took), its accuracy being ``value``."""

    def __init__(
        self,
        message: str = "",
        *,
        step: int | None = None,
        value: float | None = None,
        result: EvalResult | None = None,
    ) -> None:
        super().__init__(message)
        self.step, self.value, self.result = step, value, result

    def __reduce__(self) -> tuple[Any, ...]:  # keyword arguments survive pickling (to and from workers)
        return (_pruned, (str(self), self.step, self.value, self.result))


def _pruned(message: str, step: int | None, value: float | None, result: EvalResult | None) -> TrialPruned:
    return TrialPruned(message, step=step, value=value, result=result)


ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives progress events such as ``{"epoch": 1, "epochs": 3}`` from an evaluator."""

ReportCallback = Callable[[int, float], bool]
"""``report(step, value)``: an evaluator that reports (:attr:`Evaluator.reports_steps`) calls it after each
step but its last with the validation accuracy so far; True means stop now (raise :class:`TrialPruned`)."""


def check_report(step: Any, value: Any) -> tuple[int, float]:
    """A reported (step, value), checked: a whole step >= 0 and a finite value (a ValueError saying which)."""
    if isinstance(step, bool) or not isinstance(step, int) and not (isinstance(step, float) and step.is_integer()):
        raise ValueError(f"a report's step is a whole number >= 0, got {step!r}")
    if int(step) < 0:
        raise ValueError(f"a report's step is a whole number >= 0, got {step!r}")
    try:
        number = float(value) if not isinstance(value, str | bytes | bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"a report's value is a finite number (the validation accuracy so far), got {value!r}")
    return int(step), number


class Evaluator(ABC):
    """Turns a cell into an :class:`EvalResult`; raises ChildFailed (or anything) on failure."""

    name: str

    @abstractmethod
    def evaluate(
        self, cell: Any, progress: ProgressCallback | None = None, *, report: ReportCallback | None = None
    ) -> EvalResult:
        """The cell's result. ``report`` is given only to an evaluator that :attr:`reports_steps` (and only
        while the study's pruner may stop children): it is called after each step but the last, and when
        it returns True the evaluator stops and raises :class:`TrialPruned` with the step and value."""

    def prepare(self) -> None:
        """Load what every child needs and fail with a clear error before the study starts."""

    def data_description(self) -> str | None:
        """What :meth:`prepare` reads, in words for a person, known from the settings before it reads
        anything (``fashion-mnist: 3,000 training and 2,000 validation images at 14x14 px``); None: it
        reads nothing worth announcing."""
        return None

    def cost_model(self) -> CostModel | None:
        """The cost model of the networks this evaluator builds (None: it cannot tell costs before
        evaluating). Call it after :meth:`prepare`: the costs may depend on the data (channels, classes)."""
        return None

    def probe(self) -> Probe | None:
        """A fixed batch of the study's training images (None: this evaluator reads no images). Call it
        after :meth:`prepare`; the same settings give the same batch, so scores computed on it can be kept."""
        return None

    reports_steps: bool = False
    """Whether :meth:`evaluate` reports a value after each step (an epoch, or a fraction of one) through its
    ``report`` callback and stops when told to (:class:`TrialPruned`): only such an evaluator can be pruned."""

    def last_step(self) -> int | None:
        """The last step at which a child reports before its end (its result comes after it), known from the
        settings alone, so that a study plans for it before any child trains: what a pruner's rungs and a
        fidelity ladder count on (:meth:`pnas.pruners.Pruner.widening`). None where it cannot be told (the
        default; a user's objective) or the evaluator reports nothing."""
        return None

    takes_trials: bool = False
    """Whether :meth:`evaluate` is given the whole :class:`pnas.Trial` (number, round, cell, the study's
    configuration) instead of the cell alone (a user's objective is)."""

    needs_workers: bool = False
    """Whether children are slow enough to evaluate in worker processes by default, one per GPU or
    CPU core (real training); False: each answers at once, in this process (a table look-up)."""

    measures_latency: bool = False
    """Whether results carry ``extra["latency_ms"]`` (and ``latency_batch_ms``), measured on the study's device."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON-able settings that determine results; stored with the study."""

    def data_fingerprint(self) -> dict[str, Any] | None:
        """A small JSON-able description of the data this evaluator reads (None: it reads none).

        It holds no absolute path: the same files in another folder give the same fingerprint.
        Compare two with :func:`fingerprint_difference`. Call it after :meth:`prepare`.
        """
        return None

    def spec(self) -> EvaluatorSpec:
        return EvaluatorSpec(self.name, self.config())

    def shared_data(self) -> dict[str, Any] | None:
        """What :meth:`prepare` loaded, as plain data (tensors, numbers, strings, and lists and dicts of
        them), for workers on other machines that cannot read the files; None: a worker rebuilt from
        :meth:`spec` needs nothing more. An evaluator that shares data also overrides
        :meth:`from_shared_data`, which builds it without reading any file."""
        return None

    @classmethod
    def from_shared_data(cls, config: dict[str, Any], data: dict[str, Any]) -> Evaluator:
        """The evaluator of ``config`` on what another process's :meth:`shared_data` gave."""
        raise TypeError(f"evaluator {cls.name!r} shares data but does not override from_shared_data(config, data)")


@dataclass(frozen=True)
class EvaluatorSpec:
    """Name + config: enough to rebuild an evaluator in another process."""

    name: str
    config: dict[str, Any]

    def build(self, shared: dict[str, Any] | None = None) -> Evaluator:
        """The evaluator, with the data another process loaded when ``shared`` (its ``shared_data()``) is given."""
        import pnas.evaluation  # noqa: F401  (registers the built-in evaluators)

        if shared is None:
            return EVALUATORS.create(self.name, **self.config)
        factory = EVALUATORS.component(self.name).factory
        if not (isinstance(factory, type) and issubclass(factory, Evaluator)):
            raise TypeError(f"evaluator {self.name!r} shares data but is not an Evaluator class with from_shared_data")
        return factory.from_shared_data(self.config, shared)


EVALUATORS: Registry[Evaluator] = Registry("evaluator", "pnas.evaluators")
"""Factories are ``(**options)``; an evaluator that needs the space's name declares an option ``space``,
which the search fills in."""


# --------------------------------------------------------------------------- data fingerprints

FINGERPRINT_FILE_LIMIT = 2000
"""Files listed one by one in a fingerprint; a data set of more files is described by its listing's hash."""

_SHORT = 12
"""Hex digits of a hash shown in a message."""


def sha256_file(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex digest) of a file, read in chunks; a file that cannot be read is a ValueError."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return size, digest.hexdigest()


def files_fingerprint(root: Path, names: Iterable[str]) -> dict[str, Any]:
    """The file part of a fingerprint: ``files`` maps each name (relative to ``root``, with ``/``) to
    ``[size, first 16 hex digits of its sha256]``; ``file_count`` and ``files_sha256`` (a hash of that
    listing) describe it too, and alone when there are more than :data:`FINGERPRINT_FILE_LIMIT` files."""
    listing: dict[str, list[Any]] = {}
    for name in sorted(set(names)):
        size, digest = sha256_file(root / name)
        listing[name] = [size, digest[:16]]
    text = "".join(f"{name}\0{size}\0{digest}\n" for name, (size, digest) in listing.items())
    out: dict[str, Any] = {"file_count": len(listing), "files_sha256": hashlib.sha256(text.encode()).hexdigest()}
    if len(listing) <= FINGERPRINT_FILE_LIMIT:
        out["files"] = listing
    return out


def fingerprint_difference(stored: dict[str, Any], current: dict[str, Any]) -> str | None:
    """None when two fingerprints describe the same data, else one phrase saying what differs.

    The same decoded content counts as the same data even if its files moved, were renamed or
    were repacked (an archive extracted, IDX files gunzipped). Otherwise the phrase names another
    data set, or the files that differ followed by what that changed (counts, shapes, classes), or,
    when no file tells, the part of the content whose hash differs.
    """
    if stored == current:
        return None
    if stored.get("kind") != current.get("kind"):
        return f"the data were {stored.get('kind') or 'unknown'}, now {current.get('kind') or 'unknown'}"
    old, new = stored.get("content"), current.get("content")
    if old is not None and old == new:
        return None
    old, new = old or {}, new or {}
    if old.get("dataset") != new.get("dataset"):
        return f"data set {old.get('dataset')} -> {new.get('dataset')}"
    files = _files_difference(stored, current)
    content = _content_difference(old, new, hashes=files is None)
    return "; ".join(phrase for phrase in (files, content) if phrase) or "the data differ"


def _short(digest: Any) -> str:
    return f"{str(digest)[:_SHORT]}..."


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _file_change(old: Any, new: Any) -> str:
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) == 2:
        if old[0] != new[0]:
            return f"{_number(old[0])} -> {_number(new[0])} bytes"
        return f"content hash {_short(old[1])} -> {_short(new[1])}"
    return f"{old} -> {new}"


def _files_difference(stored: dict[str, Any], current: dict[str, Any]) -> str | None:
    old, new = stored.get("files"), current.get("files")
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[tuple[str, str]] = []
        for name in sorted(set(old) | set(new)):
            if name not in new:
                changes.append((name, "missing"))
            elif name not in old:
                changes.append((name, "new"))
            elif old[name] != new[name]:
                changes.append((name, _file_change(old[name], new[name])))
        if not changes:
            return None
        if len(changes) == 1:
            name, how = changes[0]
            return f"file {name} is {how}" if how in ("missing", "new") else f"file {name} differs ({how})"
        shown = ", ".join(f"{name} ({how})" for name, how in changes[:5])
        more = f", and {len(changes) - 5} more" if len(changes) > 5 else ""
        return f"{len(changes)} files differ: {shown}{more}"
    if stored.get("files_sha256") != current.get("files_sha256"):
        count_old, count_new = stored.get("file_count"), current.get("file_count")
        if count_old != count_new:
            return f"the files differ ({_number(count_old)} files -> {_number(count_new)})"
        before, after = _short(stored.get("files_sha256")), _short(current.get("files_sha256"))
        return f"the files differ (listing hash {before} -> {after})"
    return None


def _part_difference(label: str, old: Any, new: Any, hashes: bool) -> str | None:
    """A training or test part: ``{"images": N, "shape": [C, H, W], "sha256": ..., "labels_sha256": ...}``."""
    if old == new:
        return None
    if not isinstance(old, dict) or not isinstance(new, dict):

        def count(part: Any) -> str:
            return f"{_number(part.get('images'))} images" if isinstance(part, dict) else "none"

        return f"{label} set {count(old)} -> {count(new)}"
    if old.get("images") != new.get("images"):
        return f"{label} set {_number(old.get('images'))} images -> {_number(new.get('images'))}"
    if old.get("shape") != new.get("shape"):

        def shape(part: dict[str, Any]) -> str:
            return "x".join(str(n) for n in part.get("shape") or ()) or "?"

        return f"{label} images {shape(old)} -> {shape(new)}"
    if not hashes:
        return None
    for key, what in (("sha256", "images"), ("labels_sha256", "labels")):
        if old.get(key) != new.get(key):
            return f"the {label} {what} differ (content hash {_short(old.get(key))} -> {_short(new.get(key))})"
    return None


def _content_difference(old: dict[str, Any], new: dict[str, Any], hashes: bool) -> str | None:
    """What differs in two fingerprints' content: counts, shapes and classes; hashes too if ``hashes``."""
    if old.get("num_classes") != new.get("num_classes"):
        return f"{old.get('num_classes')} classes -> {new.get('num_classes')}"
    if old.get("classes") != new.get("classes"):
        before, after = old.get("classes") or [], new.get("classes") or []
        for i, (a, b) in enumerate(zip(before, after)):
            if a != b:
                return f"class {i} is named {b!r}, was {a!r}"
        return f"class names {before or 'none'} -> {after or 'none'}"
    for label, key in (("training", "train"), ("test", "test")):
        phrase = _part_difference(label, old.get(key), new.get(key), hashes)
        if phrase:
            return phrase
    if old.get("rows") != new.get("rows"):
        return f"table rows {_number(old.get('rows'))} -> {_number(new.get('rows'))}"
    if old.get("columns") != new.get("columns"):
        return f"table columns {', '.join(old.get('columns') or [])} -> {', '.join(new.get('columns') or [])}"
    if not hashes:
        return None
    if old.get("sha256") != new.get("sha256"):
        return f"the content differs (content hash {_short(old.get('sha256'))} -> {_short(new.get('sha256'))})"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return f"the data differ in {', '.join(keys)}" if keys else None
