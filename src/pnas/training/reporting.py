"""What a training run tells its front end (a progress bar, a log) as it goes; no torch here, so a
front end can be defined before anything trains."""

from __future__ import annotations

from typing import Any


class TrainReporter:
    """Hooks a front end (a progress bar, a log) implements; the defaults do nothing."""

    def resumed(self, epoch: int, epochs: int) -> None:
        pass

    def extending(self, epochs: int, to: int) -> None:
        """A run planned for ``epochs`` epochs is trained on to ``to`` (:meth:`RunSpec.extended`)."""

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, step: int, loss: float, accuracy: float, images_per_second: float) -> None:
        pass

    def epoch_ended(self, row: dict[str, Any]) -> None:
        pass

    def testing(self) -> None:
        pass
