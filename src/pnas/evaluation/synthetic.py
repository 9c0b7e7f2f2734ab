"""A deterministic stand-in for training: an accuracy computed from the cell's text.

For dry runs of a search (``--evaluator synthetic``) and for tests of
strategies, storage and resume, where real training would take minutes. The
objective has structure a search can exploit: every (operator, input) half
has a fixed quality, blocks reading earlier blocks earn a depth bonus, and a
small hash-based term breaks ties. ``delay`` sleeps to imitate training time.

It imitates training in ``steps`` steps, and reports a learning curve to a pruner: after step k of S
the value is the final accuracy less ``(1 - k/S) * gap``, where the gap (0.1 to 0.3) is the cell's own,
from a hash of its text. Every curve rises to its final accuracy, and cells rise differently, so early
ranks agree with final ones only partly (Spearman about 0.75 after the first of 5 steps over random PNAS
cells), as real learning curves do. ``examples`` counts the steps trained (a pruned child's up to where it
stopped).

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
from pnas.evaluation.base import (
    EVALUATORS,
    EvalResult,
    Evaluator,
    EvaluatorSpec,
    ProgressCallback,
    ReportCallback,
    TrialPruned,
)


def _unit(text: str) -> float:
    """A stable pseudo-random number in [0, 1) (never Python's salted hash())."""
    return zlib.crc32(text.encode()) / 2**32


@dataclass(frozen=True)
class SyntheticOptions(Options):
    seed: int = option(0, "Seed of the objective.", low=0)
    delay: float = option(0.0, "Seconds each child sleeps, to imitate training time.", low=0, decides=RUNTIME)
    noise: float = option(0.02, "Size of the hash-based term that breaks ties.", low=0)
    steps: int = option(
        5,
        "Steps of imitated training: a child reports its curve after each step but the last (to a pruner), and "
        "its examples count the steps it trained.",
        low=1,
        high=1000,
        legacy=1,
    )


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
        self.steps = self.options.steps
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

    def curve(self, cell_text: str, step: int) -> float:
        """The value a child reports after ``step`` of :attr:`steps` (its final accuracy at the last)."""
        gap = 0.1 + 0.2 * _unit(f"{self.seed}~{cell_text}")
        return min(1.0, max(0.0, self.score(cell_text) - (1 - step / self.steps) * gap))

    reports_steps = True

    def last_step(self) -> int:
        """It reports after each of its :attr:`steps` but the last."""
        return self.steps - 1

    def evaluate(
        self, cell: Any, progress: ProgressCallback | None = None, *, report: ReportCallback | None = None
    ) -> EvalResult:
        started = time.perf_counter()
        text = str(cell)
        if self.fail_on is not None and self.fail_on in text:
            raise SetupBroken(f"synthetic setup broken (fail_on={self.fail_on!r})")
        while self.hang_on is not None and self.hang_on in text:
            time.sleep(3600)
        params, mult_adds = imitated_size(text)
        for step in range(1, self.steps + 1):
            if self.delay:
                time.sleep(self.delay / self.steps)
            if report is not None and step < self.steps:
                value = self.curve(text, step)
                if report(step, value):
                    self._log(text)
                    costs = EvalResult(value, params=params, mult_adds=mult_adds, examples=step,
                                       seconds=time.perf_counter() - started)  # fmt: skip
                    raise TrialPruned(f"pruned at step {step}", step=step, value=value, result=costs)
        if progress:
            progress({"epoch": self.steps, "epochs": self.steps})
        self._log(text)
        return EvalResult(
            accuracy=self.score(text),
            params=params,
            mult_adds=mult_adds,
            examples=self.steps,
            seconds=time.perf_counter() - started,
        )

    def _log(self, text: str) -> None:
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{text}\n")


EVALUATORS.register(
    "synthetic",
    SyntheticEvaluator,
    options=SyntheticOptions,
    help="An instant deterministic stand-in for training, for dry runs and tests.",
)
