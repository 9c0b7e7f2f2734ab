"""The synthetic evaluator with its test switches (``fail_on``, ``hang_on``, ``log``) as options.

They imitate a broken setup, a hung child and an audit of every evaluation; they are no option of
``pnas search`` itself. Tests that drive a search through its configuration (the command line,
``run_search``) register this stand-in for their own time, under :data:`FAULTY`; it builds the
synthetic evaluator itself, so studies store ``synthetic`` and resume with it.

Run as a script, it is ``pnas`` with the stand-in registered (for tests that start a driver process).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pnas.config import RUNTIME, option
from pnas.evaluation.base import EVALUATORS
from pnas.evaluation.synthetic import SyntheticEvaluator, SyntheticOptions

FAULTY = "synthetic-faulty"


@dataclass(frozen=True)
class FaultOptions(SyntheticOptions):
    log: str | None = option(None, "File that gets one line per evaluation (an audit).", decides=RUNTIME)
    fail_on: str | None = option(None, "Children whose cell text contains this fail ('' fails all).", decides=RUNTIME)
    hang_on: str | None = option(None, "Children whose cell text contains this never finish.", decides=RUNTIME)


def register() -> None:
    EVALUATORS.register(FAULTY, SyntheticEvaluator, options=FaultOptions, help="The synthetic evaluator with faults.")


@contextmanager
def faulty_synthetic() -> Iterator[str]:
    """:data:`FAULTY` registered while the block runs."""
    register()
    try:
        yield FAULTY
    finally:
        EVALUATORS.unregister(FAULTY)


if __name__ == "__main__":
    register()  # before the command line is built, so --evaluator offers it
    from pnas.cli.main import main

    main(sys.argv[1:])
