"""The child trainer: build a small network from a cell, train it briefly, return its validation accuracy.

This is the search-time proxy of the paper (docs/paper.md, section 5.1): every child
is trained with the same short recipe, and only the ranking of cells matters. Training
is plain SGD with momentum and a per-step cosine schedule over tensors already in
memory (no DataLoader), on the device they train on, so that a small child trains
quickly on one CPU core and a GPU is never left waiting for data. What makes it fast
(channels-last tensors, bf16 autocast on a GPU, one child per core, optional
``torch.compile``) is a switch of :class:`TrainingConfig`; which switches win where is
measured by ``benchmarks/child_throughput.py`` and recorded in docs/training.md.

Results are deterministic: the weights and the data order are seeded from the
config's seed and the cell's text (a stable hash), so the same cell and config give
the same accuracy in any process with the same torch build and thread count.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pnas.evaluation.augment import crop, mirror
from pnas.evaluation.base import (
    ChildFailed,
    EvalResult,
    Evaluator,
    Probe,
    ProgressCallback,
    ReportCallback,
    TrialPruned,
)
from pnas.evaluation.data import DataSplits, dataset_fingerprint, load_dataset, load_test
from pnas.evaluation.latency import hardware_name, measure_latency
from pnas.evaluation.options import DEFAULT_PROXY as DEFAULT_PROXY  # re-exported: the proxy the trainer trains
from pnas.evaluation.options import TrainingConfig, default_padding
from pnas.nets import build_cifar_network, count_mult_adds, count_params
from pnas.nets.costs import CellCostModel
from pnas.space import Cell
from pnas.threads import torch_threads

PROGRESS_EVERY = 20
"""Steps between progress events inside an epoch (an event also follows every epoch)."""

PROBE_IMAGES = 32
"""Training images in :meth:`TrainingEvaluator.probe`: the NASWOT kernel is this square (Mellor et al., 2021,
score batches of 128 images; a smaller batch keeps the score a fraction of a second per cell on a CPU)."""


def child_network(
    cell: Cell, settings: TrainingConfig, *, in_channels: int, num_classes: int, image_size: int | None
) -> nn.Module:
    """The untrained child network of ``cell`` with a study's training settings, for images of that shape."""
    return build_cifar_network(
        cell,
        in_channels=in_channels,
        num_classes=num_classes,
        cells_per_stack=settings.cells_per_stack,
        filters=settings.filters,
        concat=settings.concat,
        image_size=image_size or settings.image_size or 32,
        channels_last=settings.channels_last,
    )


def build_network(
    cell: Cell | str,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | None = None,
    **options: Any,
) -> nn.Module:
    """The network ``pnas search``'s train evaluator builds for ``cell``, untrained: ``options`` are the
    evaluator's (``filters``, ``cells_per_stack``, ``concat``, ``channels_last``, ...; a study's
    ``config["evaluator"]`` may be passed whole), the rest its defaults. ``in_channels`` and
    ``num_classes`` describe the data (Fashion-MNIST's by default); ``image_size`` defaults to the options'."""
    known = {f.name for f in fields(TrainingConfig)}
    settings = TrainingConfig(**{k: v for k, v in options.items() if k in known and k != "name"})
    unknown = sorted(set(options) - known - {"name"})
    if unknown:
        raise ValueError(f"unknown training option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
    parsed = Cell.parse(cell) if isinstance(cell, str) else cell
    return child_network(parsed, settings, in_channels=in_channels, num_classes=num_classes, image_size=image_size)


def resolve_device(device: str) -> torch.device:
    """``auto`` means cuda when a GPU is visible; asking for cuda without one is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no GPU: use --device cpu or auto")
    return torch.device(device)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of a precision (nothing for fp32)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def child_seed(seed: int, cell_text: str) -> int:
    """A 63-bit seed from the study seed and the cell's text; stable across processes (unlike ``hash``)."""
    digest = hashlib.sha256(f"{seed}\0{cell_text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def cosine_lr(base: float, step: int, total: int) -> float:
    """Learning rate at ``step`` of ``total``: half a cosine from ``base`` down to 0."""
    return 0.5 * base * (1.0 + math.cos(math.pi * step / total))


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Recompute every BN layer's running statistics as the exact average over ``x`` with the final weights.

    After a few hundred steps at a high learning rate the running averages still mix in
    statistics of earlier weights, so eval-mode accuracy comes out far too low and noisy
    after very short runs (an example, measured: docs/training.md).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for start in range(0, len(x) - batch_size + 1, batch_size):
        model(x[start : start + batch_size])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` that ``model`` (in eval mode) labels correctly."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        correct += int((logits.argmax(dim=1) == y[start : start + batch_size]).sum())
    return correct / len(x)


class TrainingEvaluator(Evaluator):
    """Trains a CIFAR-style child network built from the cell; its score is validation accuracy.

    Keyword arguments are the fields of :class:`TrainingConfig`; ``config()`` gives them back,
    so ``TrainingEvaluator(**ev.config())`` rebuilds the same evaluator in another process.
    """

    name = "train"
    needs_workers = True
    reports_steps = True

    def __init__(self, **settings: Any) -> None:
        known = {f.name for f in fields(TrainingConfig)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        if settings.get("measure_latency") and settings.get("latency_hardware") is None:
            settings["latency_hardware"] = hardware_name(resolve_device(settings.get("device", "auto")))
        self.settings = TrainingConfig(**settings)
        self.measures_latency = self.settings.measure_latency
        self._data: DataSplits | None = None
        self._on_device: tuple[torch.device, tuple[torch.Tensor, ...]] | None = None

    def config(self) -> dict[str, Any]:
        return asdict(self.settings)

    def last_step(self) -> int:
        """Report k comes after ``k * report_every`` epochs, before the last: the reports are the whole k with
        ``k * report_every < epochs`` (counted from the settings; with very few training steps per epoch two of
        them may fall on one training step, and the later is not made)."""
        return max(0, math.ceil(self.settings.epochs / self.settings.report_every - 1e-9) - 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrainingEvaluator) and other.settings == self.settings

    def __hash__(self) -> int:
        return hash(self.settings)

    def __repr__(self) -> str:
        return f"TrainingEvaluator({self.settings})"

    def prepare(self) -> None:
        """Load and check the data now, so a missing or broken data set (DatasetNotFound, InvalidDataset:
        ValueErrors naming the file) stops a search before any child trains; and refuse to measure
        latency on another device than the study's."""
        s = self.settings
        if s.measure_latency:
            here = hardware_name(resolve_device(s.device))
            if here != s.latency_hardware:
                raise ValueError(
                    f"this study measures latency on {s.latency_hardware}, and children would run on {here}: "
                    "latencies of two devices do not compare; resume it on the device it was made on "
                    "(--device), or start a new study (--study NAME)"
                )
        self.data()

    def data_description(self) -> str:
        s = self.settings
        train = (
            "the training images left after validation"
            if s.train_subset is None
            else f"{s.train_subset:,} training images"
        )
        size = "" if s.image_size is None else f" at {s.image_size}x{s.image_size} px"
        return f"{s.dataset}: {train} and {s.val_size:,} validation images{size}"

    def cost_model(self) -> CellCostModel:
        """The child network's costs from the cell alone (:class:`pnas.nets.costs.CellCostModel`)."""
        d = self.data()
        s = self.settings
        return CellCostModel(
            network="cifar",
            in_channels=d.channels,
            image_size=d.image_size,
            num_classes=d.num_classes,
            cells_per_stack=s.cells_per_stack,
            filters=s.filters,
            concat=s.concat,
        )

    def probe(self) -> Probe:
        """``PROBE_IMAGES`` training images drawn with the study's seed."""
        d = self.data()
        generator = torch.Generator().manual_seed(self.settings.seed)
        picks = torch.randperm(d.train_size, generator=generator)[: min(PROBE_IMAGES, d.train_size)]
        return Probe(images=d.train_x[picks].clone(), num_classes=d.num_classes)

    def data_fingerprint(self) -> dict[str, Any]:
        """The whole decoded data set's fingerprint (:func:`pnas.evaluation.data.dataset_fingerprint`);
        the subset and validation split are left out: the study's other settings fix them."""
        s = self.settings
        return dataset_fingerprint(s.dataset, data_dir=s.data_dir, image_size=s.image_size)

    def shared_data(self) -> dict[str, Any]:
        """The loaded splits as tensors and numbers, for workers that cannot read the data set."""
        d = self.data()
        return {f.name: getattr(d, f.name) for f in fields(DataSplits)}

    @classmethod
    def from_shared_data(cls, config: dict[str, Any], data: dict[str, Any]) -> TrainingEvaluator:
        """The evaluator of ``config`` on the splits another process loaded (see :meth:`shared_data`)."""
        evaluator = cls(**config)
        evaluator._data = DataSplits(**data)
        return evaluator

    def data(self) -> DataSplits:
        """The training and validation tensors (loaded once per process, shared by every child)."""
        if self._data is None:
            s = self.settings
            self._data = load_dataset(
                s.dataset,
                data_dir=s.data_dir,
                image_size=s.image_size,
                train_subset=s.train_subset,
                val_size=s.val_size,
                seed=s.seed,
            )
        return self._data

    def _tensors(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        if self._on_device is None or self._on_device[0] != device:
            d = self.data()
            self._on_device = (device, tuple(t.to(device) for t in (d.train_x, d.train_y, d.val_x, d.val_y)))
        return self._on_device[1]

    def build(self, cell: Cell) -> nn.Module:
        """The child network for ``cell`` (untrained), sized for this data set."""
        d = self.data()
        return child_network(
            cell, self.settings, in_channels=d.channels, num_classes=d.num_classes, image_size=d.image_size
        )

    def train(
        self, cell: Cell | str, progress: ProgressCallback | None = None, report: ReportCallback | None = None
    ) -> TrainedChild:
        """The trained child, in eval mode. Deterministic: the same cell and settings give the same
        weights in any process (on the same device kind, torch build and thread count), whether or not it
        reports (``report``: see :meth:`evaluate`); a child told to stop raises :class:`TrialPruned`."""
        s = self.settings
        start = time.monotonic()
        if isinstance(cell, str):
            cell = Cell.parse(cell)
        device = resolve_device(s.device)
        train_x, train_y, _, _ = self._tensors(device)
        seed = child_seed(s.seed, str(cell))
        devices = [device.index or 0] if device.type == "cuda" else []
        # fork_rng leaves the caller's random state alone
        with torch_threads(s.threads), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            model = self.build(cell).to(device)
            child = self._train(model, train_x, train_y, seed, start, progress, report)
            if s.bn_recalibration:
                with autocast(device, s.precision):
                    recalibrate_batch_norm(model, train_x[: s.bn_recalibration], min(s.batch_size, s.bn_recalibration))
        model.eval()
        return child

    def test_accuracy(self, cell: Cell | str) -> float:
        """Train the child exactly as during the search, then score it on the test set.

        For reporting after a search only: the search itself never sees the test set.
        """
        s = self.settings
        child = self.train(cell)
        device = resolve_device(s.device)
        test_x, test_y = load_test(s.dataset, data_dir=s.data_dir, image_size=s.image_size)
        with torch_threads(s.threads), autocast(device, s.precision):
            return accuracy(child.model, test_x.to(device), test_y.to(device))

    def evaluate(
        self, cell: Cell | str, progress: ProgressCallback | None = None, *, report: ReportCallback | None = None
    ) -> EvalResult:
        s = self.settings
        start = time.monotonic()
        device = resolve_device(s.device)
        _, _, val_x, val_y = self._tensors(device)
        child = self.train(cell, progress, report)
        with torch_threads(s.threads), autocast(device, s.precision):
            val_accuracy = accuracy(child.model, val_x, val_y)
        d = self.data()
        extra: dict[str, Any] = {"train_loss": child.loss}
        if child.compile_seconds is not None:
            extra["compile_seconds"] = child.compile_seconds
        if s.measure_latency:
            with torch_threads(s.threads), autocast(device, s.precision):
                shape = (d.channels, d.image_size, d.image_size)
                extra.update(measure_latency(child.model, shape, s.batch_size, device, s.threads))
        return EvalResult(
            accuracy=val_accuracy,
            params=count_params(child.model),
            mult_adds=count_mult_adds(child.model, (d.channels, d.image_size, d.image_size)),
            examples=child.examples,
            seconds=time.monotonic() - start,
            extra=extra,
        )

    def _train(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        seed: int,
        start: float,
        progress: ProgressCallback | None,
        report: ReportCallback | None = None,
    ) -> TrainedChild:
        """SGD + momentum, cosine per step, over ``x`` where it lies.

        Losses stay on the device and are read back every :data:`PROGRESS_EVERY` steps and at
        each epoch's end, so a GPU is not stopped after every step to report one number.
        With ``report``, the validation accuracy is measured every ``report_every`` epochs (but at the
        end) and reported; the measurement leaves the training as it was (see :meth:`_measure`).
        """
        s = self.settings
        batch = min(s.batch_size, len(x))
        steps_per_epoch = len(x) // batch  # the last partial batch is dropped: BN needs full batches
        total = s.epochs * steps_per_epoch
        optimizer = torch.optim.SGD(
            model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay, nesterov=True
        )
        order = torch.Generator().manual_seed(seed)
        padding = max(1, default_padding(x.shape[-1]))
        choices = torch.Generator().manual_seed(seed + 1)  # the augmentation's own: data order stays the same
        forward: Callable[..., Any] = model  # the network, or its compiled form
        if s.compile:
            # each child is a new network: without a reset, torch stops compiling after a few children
            # (its recompilation limit) and silently runs them eagerly
            torch._dynamo.reset()
            forward = torch.compile(model)
        compile_seconds: float | None = None
        model.train()
        points = report_points(s.report_every, steps_per_epoch, total) if report is not None else {}
        step = 0
        epoch_loss = float("nan")
        losses = torch.zeros(steps_per_epoch, dtype=torch.float64, device=x.device)
        for epoch in range(1, s.epochs + 1):
            perm = torch.randperm(len(x), generator=order).to(x.device)
            if s.augment == "crop-flip":  # a whole epoch's draws, sent to the device at once
                offsets = torch.randint(0, 2 * padding + 1, (2, len(x)), generator=choices).to(x.device)
                mirrored = (torch.rand(len(x), generator=choices) < 0.5).to(x.device)
            checked = 0
            for i in range(steps_per_epoch):
                if s.child_timeout is not None and time.monotonic() - start > s.child_timeout:
                    raise ChildFailed(
                        f"timed out after {time.monotonic() - start:.1f} s (limit {s.child_timeout:g} s) "
                        f"at epoch {epoch} step {i + 1} of {steps_per_epoch}"
                    )
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(s.lr, step, total)
                step_start = time.monotonic()
                batch_slice = slice(i * batch, (i + 1) * batch)
                idx = perm[batch_slice]
                inputs = x[idx]
                if s.augment == "crop-flip":
                    inputs = mirror(crop(inputs, padding, offsets[:, batch_slice]), mirrored[batch_slice])
                with autocast(x.device, s.precision):
                    loss = F.cross_entropy(forward(inputs), y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses[i] = loss.detach()
                if s.compile and compile_seconds is None:
                    compile_seconds = _synced_seconds(step_start, x.device)
                step += 1
                last = i + 1 == steps_per_epoch
                if (i + 1) % PROGRESS_EVERY == 0 or last:
                    _check_finite(losses, checked, i + 1, epoch)
                    checked = i + 1
                    if progress is not None:
                        progress({"epoch": epoch, "epochs": s.epochs, "step": i + 1, "steps": steps_per_epoch,
                                  "loss": float(losses[: i + 1].mean())})  # fmt: skip
                if step in points:
                    assert report is not None
                    _check_finite(losses, checked, i + 1, epoch)
                    value = self._measure(model, x)
                    if report(points[step], value):
                        raise self._pruned(model, points[step], value, step * batch, start)
            epoch_loss = float(losses.mean())
        return TrainedChild(model, total * batch, epoch_loss, compile_seconds)

    def _pruned(self, model: nn.Module, step: int, value: float, examples: int, start: float) -> TrialPruned:
        """What a child told to stop raises: where it stopped, and its costs so far (its compute counts)."""
        d = self.data()
        costs = EvalResult(
            value,
            params=count_params(model),
            mult_adds=count_mult_adds(model, (d.channels, d.image_size, d.image_size)),
            examples=examples,
            seconds=time.monotonic() - start,
        )
        return TrialPruned(f"pruned at report {step}", step=step, value=value, result=costs)

    def _measure(self, model: nn.Module, train_x: torch.Tensor) -> float:
        """The validation accuracy of ``model`` now, as a finished child's is measured (BN recalibrated
        first), leaving the training exactly as it was: BN statistics and the random state are restored."""
        s = self.settings
        device = train_x.device
        _, _, val_x, val_y = self._tensors(device)
        kept = {name: buffer.clone() for name, buffer in model.named_buffers()}
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), autocast(device, s.precision):
            if s.bn_recalibration:
                recalibrate_batch_norm(model, train_x[: s.bn_recalibration], min(s.batch_size, s.bn_recalibration))
            value = accuracy(model, val_x, val_y)
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(kept[name])
        model.train()
        return value


def report_points(every: float, steps_per_epoch: int, total: int) -> dict[int, int]:
    """Training step -> report number: report k after ``k * every`` epochs (rounded to a step), before the last."""
    points: dict[int, int] = {}
    k = 1
    while (step := max(1, round(k * every * steps_per_epoch))) < total:
        points.setdefault(step, k)
        k += 1
    return points


@dataclass
class TrainedChild:
    """A trained child network and what its training measured."""

    model: nn.Module
    examples: int
    """Training examples seen: epochs x full batches x batch size."""
    loss: float
    """Mean training loss of the last epoch."""
    compile_seconds: float | None = None
    """With ``compile``: the first training step, which compiles the model."""


def _check_finite(losses: torch.Tensor, start: int, stop: int, epoch: int) -> None:
    """ChildFailed naming the first step in ``start:stop`` whose loss is not finite."""
    window = losses[start:stop]
    bad = (~torch.isfinite(window)).nonzero()
    if len(bad):
        first = int(bad[0])
        raise ChildFailed(f"loss became {float(window[first])} at epoch {epoch} step {start + first + 1}")


def _synced_seconds(since: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.monotonic() - since
