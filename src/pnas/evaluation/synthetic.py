"""A deterministic stand-in for training: an accuracy computed from the cell's text.

For dry runs of a search (``--evaluator synthetic``) and for tests of
strategies, storage and resume, where real training would take minutes. The
objective has structure a search can exploit: every (operator, input) half
has a fixed quality, blocks reading earlier blocks earn a depth bonus, and a
small hash-based term breaks ties. ``delay`` sleeps to imitate training time.

For tests only, set from Python (never options of a search, never stored with a
study): ``log`` names a file that gets one line per evaluation, to audit that no
cell is ever evaluated twice; ``fail_on`` and ``hang_on`` imitate a broken setup
and a child that never finishes, to exercise the fault rules end to end.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pnas.config import RUNTIME, Options, build_options, option
from pnas.evaluation.base import EVALUATORS, EvalResult, Evaluator, EvaluatorSpec, ProgressCallback


def _unit(text: str) -> float:
    """A stable pseudo-random number in [0, 1) (never Python's salted hash())."""
    return zlib.crc32(text.encode()) / 2**32


@dataclass(frozen=True)
class SyntheticOptions(Options):
    seed: int = option(0, "Seed of the objective.", low=0)
    delay: float = option(0.0, "Seconds each child sleeps, to imitate training time.", low=0, decides=RUNTIME)
    noise: float = option(0.02, "Size of the hash-based term that breaks ties.", low=0)


@dataclass(frozen=True)
class TestSwitches:
    """Faults and an audit for tests, set from Python: they travel to worker processes with the evaluator
    (its :meth:`~SyntheticEvaluator.spec`) but are no option of a search and never stored with a study."""

    log: str | None = None
    """A file that gets one line per evaluation (an audit that no cell is evaluated twice)."""
    fail_on: str | None = None
    """Children whose cell text contains this fail (imitates a broken setup; '' fails all)."""
    hang_on: str | None = None
    """Children whose cell text contains this never finish (imitates a hung child)."""

    __test__ = False  # not a test class, whatever its name


class SetupBroken(RuntimeError):
    """What ``fail_on`` raises: the same error for every child, as a broken setup gives."""


SIZE_WIDTH = 16
"""Channels of the made-up network whose size a synthetic result reports."""

_WEIGHTS = {"sep": 2, "conv": 1, "dil": 1, "1x7": 1}
"""Weight tensors of each operator family in the made-up network (depthwise-separable ones are applied twice)."""


def imitated_size(cell_text: str) -> tuple[int, int]:
    """(params, mult-adds per image) of a made-up 16-channel, 32x32 network of the cell's operators:
    not a real count, but it grows with the cell's operators as a real one does, so that cost figures,
    Pareto fronts and constraints can be tested without training."""
    params = 0
    for token in cell_text.replace(";", " ").replace("+", " ").replace("|", " ").split():
        op = token.split("(")[0].split("~")[0]
        kernel = next((int(ch) for ch in op if ch.isdigit()), 1)
        family = next((f for f in _WEIGHTS if f in op), None)
        if family is not None:
            params += _WEIGHTS[family] * (kernel * kernel * SIZE_WIDTH + SIZE_WIDTH * SIZE_WIDTH)
    return params, params * 32 * 32


class ImitatedCosts:
    """The cost model of the synthetic evaluator: :func:`imitated_size` of each cell's text."""

    def costs(self, cells: Sequence[Any]) -> np.ndarray:
        return np.array([imitated_size(str(cell)) for cell in cells], dtype=np.int64).reshape(len(cells), 2)

    def bound(self, max_level: int) -> tuple[int, int]:
        """Every operator the costliest one (a 7x7 separable), in up to two halves per level."""
        return imitated_size(" ".join(["sep7x7(h1)"] * 2 * max_level))


class SyntheticEvaluator(Evaluator):
    """``SyntheticEvaluator(SyntheticOptions(seed=1))`` or ``SyntheticEvaluator(seed=1)``; a test adds
    :class:`TestSwitches` as keywords (``SyntheticEvaluator(fail_on="sep7x7")``)."""

    name = "synthetic"

    def __init__(
        self,
        options: SyntheticOptions | None = None,
        *,
        log: str | None = None,
        fail_on: str | None = None,
        hang_on: str | None = None,
        **values: Any,
    ) -> None:
        self.options = build_options(SyntheticOptions, options, values)
        self.seed, self.delay, self.noise = self.options.seed, self.options.delay, self.options.noise
        self.switches = TestSwitches(log=log, fail_on=fail_on, hang_on=hang_on)
        self.log, self.fail_on, self.hang_on = log, fail_on, hang_on

    def config(self) -> dict[str, Any]:
        return self.options.to_config()

    def spec(self) -> EvaluatorSpec:
        """The options and any test switch: a worker's copy fails, hangs and logs as this one does."""
        switches = {key: value for key, value in asdict(self.switches).items() if value is not None}
        return EvaluatorSpec(self.name, {**self.config(), **switches})

    def cost_model(self) -> ImitatedCosts:
        return ImitatedCosts()

    def score(self, cell_text: str) -> float:
        tokens = [t for t in cell_text.replace(";", " ").replace("+", " ").split() if t]
        quality = sum(_unit(f"{self.seed}:{t.split('(')[0]}") for t in tokens) / max(1, len(tokens))
        depth = sum(1 for t in tokens if "(b" in t) / max(1, len(tokens))
        size = 1 - 1 / (1 + len(tokens) / 4)
        jitter = self.noise * (_unit(f"{self.seed}|{cell_text}") - 0.5)
        return min(1.0, max(0.0, 0.2 + 0.45 * quality + 0.15 * depth + 0.15 * size + jitter))

    def evaluate(self, cell: Any, progress: ProgressCallback | None = None) -> EvalResult:
        started = time.perf_counter()
        text = str(cell)
        if self.fail_on is not None and self.fail_on in text:
            raise SetupBroken(f"synthetic setup broken (fail_on={self.fail_on!r})")
        while self.hang_on is not None and self.hang_on in text:
            time.sleep(3600)
        if self.delay:
            time.sleep(self.delay)
        if progress:
            progress({"epoch": 1, "epochs": 1})
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{cell}\n")
        params, mult_adds = imitated_size(text)
        return EvalResult(
            accuracy=self.score(text),
            params=params,
            mult_adds=mult_adds,
            examples=1,
            seconds=time.perf_counter() - started,
        )


EVALUATORS.register(
    "synthetic",
    SyntheticEvaluator,
    options=SyntheticOptions,
    help="An instant deterministic stand-in for training, for dry runs and tests.",
)
