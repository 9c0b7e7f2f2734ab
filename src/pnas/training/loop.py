"""Train a network built from a cell at full size, epoch by epoch, resumable after a kill at any moment.

:func:`train_run` is the whole life of a run folder: it trains from the last checkpoint (or
from scratch) to the last epoch, writing a checkpoint, the log and TensorBoard events after
every epoch, then scores the test set once and writes ``result.json``. Called on a finished
run it returns the stored result and writes nothing.

Every random choice is seeded: the weights and the model's own randomness (drop-path,
dropout) from ``seed`` through torch's global generator, saved in every checkpoint; the data
order of epoch ``e`` from ``(seed, e)``; the augmentation of batch ``i`` of epoch ``e`` from
``(seed, e, i)``. So on the CPU with the same thread count a resumed run ends with exactly the
weights of an uninterrupted one, with or without data-loading workers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pnas import __version__
from pnas.evaluation.augment import Augment
from pnas.evaluation.data import load_dataset, load_test
from pnas.evaluation.trainer import accuracy, cosine_lr, resolve_device
from pnas.nets import CellNetwork, build_network, count_mult_adds, count_params
from pnas.threads import torch_threads
from pnas.training.checkpoint import random_states, restore_random_states, save_checkpoint
from pnas.training.config import TrainConfig
from pnas.training.reporting import TrainReporter
from pnas.training.run import RunFolder, RunSpec

SCORE_BATCH = 500
"""Images per forward pass when scoring: on a 2-core CPU, 10,000 images of 28 px score about 1.4 times
faster in batches of 500 than of 1,000 (measured 2026-12-04 on a small cell network)."""


class TrainingFailed(RuntimeError):
    """Training cannot go on (a loss that is not finite); the last checkpoint is kept."""


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers, stable across processes and platforms."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """The cosine from ``lr`` at step 0 down to ``lr_min`` at ``total``."""
    return config.lr_min + cosine_lr(config.lr - config.lr_min, step, total)


def scheduled_rate(spec: RunSpec, step: int, steps: int) -> float:
    """The learning rate at ``step`` (counted from the run's start) with ``steps`` steps an epoch: the cosine
    of the step's cycle, one over the whole run unless it was trained longer than planned (a new cosine
    over the added epochs, :meth:`RunSpec.extended`)."""
    start, end = spec.cycle(step // steps + 1)
    return learning_rate(spec.training, step - start * steps, (end - start) * steps)


def exported_network(spec: RunSpec) -> RunSpec:
    """The run's network as deployed: no auxiliary head, no drop-path, no dropout (all inert in eval mode)."""
    return RunSpec(spec.network.replace(aux_head=False, drop_path=0.0, dropout=0.0), spec.training, spec.data)


def deployed_size(spec: RunSpec) -> tuple[int, int]:
    """Parameters and mult-adds of the deployed network (no auxiliary head, as the published counts)."""
    model = build_network(exported_network(spec).network)
    return count_params(model), count_mult_adds(model, spec.network.input_shape)


def epoch_steps(images: int, batch_size: int) -> int:
    """Batches per epoch: every image once, except a last batch of one image (batch norm needs two)."""
    steps = -(-images // batch_size)
    return steps - 1 if steps > 1 and images - (steps - 1) * batch_size < 2 else steps


class EpochBatches(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Batch ``i`` of one epoch, augmented with a generator seeded by (seed, epoch, i): the same batch in
    any process, so data-loading workers change nothing but speed."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, augment: Augment, seed: int, epoch: int):
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.seed, self.epoch = seed, epoch
        order = torch.Generator().manual_seed(derived_seed(seed, epoch, -1))
        self.order = torch.randperm(len(x), generator=order)
        self.steps = epoch_steps(len(x), batch_size)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size].to(self.x.device)
        x, y = self.x[idx], self.y[idx]
        if self.augment.active:
            x = self.augment(x, torch.Generator().manual_seed(derived_seed(self.seed, self.epoch, i)))
        return x, y


def _batches(dataset: EpochBatches, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    if workers == 0 or dataset.x.device.type != "cpu":
        return (dataset[i] for i in range(len(dataset)))
    # The loader's own generator: seeding its workers must not draw from the global one (drop-path's).
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=workers, prefetch_factor=4, generator=torch.Generator()
    )
    return iter(loader)


@dataclass
class _Data:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor


def _load_data(spec: RunSpec, device: torch.device) -> _Data:
    t = spec.training
    splits = load_dataset(
        t.dataset, data_dir=t.data_dir, image_size=t.image_size, train_subset=t.train_subset,
        val_size=t.val_size, seed=t.seed,
    )  # fmt: skip
    tensors = (splits.train_x, splits.train_y, splits.val_x, splits.val_y)
    return _Data(*(t.to(device) for t in tensors))


class _TensorBoard:
    """Scalars per epoch in the run folder where tensorboard is installed; nothing otherwise."""

    def __init__(self, folder: RunFolder, first_epoch: int) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.writer = None
            return
        # events past the checkpoint (written before a kill) are dropped from the view
        self.writer = SummaryWriter(str(folder.path), purge_step=first_epoch)

    def epoch(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key in ("train_loss", "train_accuracy", "val_accuracy", "lr", "images_per_second"):
            if row.get(key) is not None:
                self.writer.add_scalar(key, row[key], row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def versions() -> dict[str, str]:
    return {"pnas": __version__, "torch": torch.__version__, "python": platform.python_version()}


def train_run(spec: RunSpec, folder: RunFolder, reporter: TrainReporter | None = None) -> dict[str, Any]:
    """Train (or resume, or report) the run ``spec`` in ``folder``; returns the result written to result.json."""
    reporter = reporter or TrainReporter()
    resuming = folder.check_usable_for(spec)
    folder.lock()
    try:
        if resuming:
            stored = folder.read_spec()
            if spec.training.epochs > stored.training.epochs:
                reporter.extending(stored.training.epochs, spec.training.epochs)
                folder.result_path.unlink(missing_ok=True)  # the result of fewer epochs is not this run's
                folder.write_spec(stored.extended(spec.training.epochs))
                stored = folder.read_spec()
            done = folder.read_result()
            if done is not None:
                return done
            spec = dataclasses.replace(spec, restarts=stored.restarts)  # this call's runtime settings
        else:
            folder.write_spec(spec)
        with torch_threads(spec.training.threads):
            return _train(spec, folder, reporter)
    finally:
        folder.unlock()


def _train(spec: RunSpec, folder: RunFolder, reporter: TrainReporter) -> dict[str, Any]:
    t = spec.training
    device = resolve_device(t.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = _load_data(spec, device)
    torch.manual_seed(t.seed)
    model: CellNetwork = build_network(spec.network).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=t.lr,
        momentum=t.momentum,
        weight_decay=t.weight_decay,
        nesterov=t.nesterov and t.momentum > 0,
    )
    history: list[dict[str, Any]] = []
    epoch = 0
    state = folder.load_checkpoint(spec)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_random_states(state["random"])
        history = list(state["history"])
        epoch = int(state["epoch"])
        reporter.resumed(epoch, t.epochs)
    augment = Augment(spec.training.padding_for(spec.data.image_size), t.flips(), t.cutout)
    steps = epoch_steps(len(data.train_y), t.batch_size)
    board = _TensorBoard(folder, epoch + 1)
    try:
        while epoch < t.epochs:
            epoch += 1
            row = _epoch(model, optimizer, data, spec, augment, epoch, steps, device, reporter)
            history.append(row)
            save_checkpoint(
                folder.checkpoint_path,
                {
                    "network": spec.network.to_json(),
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "random": random_states(),
                    "history": history,
                },
            )
            folder.write_log(history)
            board.epoch(row)
            reporter.epoch_ended(row)
    finally:
        board.close()
    reporter.testing()
    start = time.monotonic()
    test_x, test_y = load_test(t.dataset, data_dir=t.data_dir, image_size=t.image_size)
    test_accuracy = accuracy(model, test_x.to(device), test_y.to(device), SCORE_BATCH)
    test_seconds = time.monotonic() - start
    params, mult_adds = deployed_size(spec)
    last = history[-1]
    result = {
        "test_accuracy": test_accuracy,
        "test_images": len(test_y),
        "epochs": epoch,
        "params": params,
        "mult_adds": mult_adds,
        "seconds": round(sum(r["seconds"] for r in history), 3),
        "test_seconds": round(test_seconds, 3),
        "train_loss": last["train_loss"],
        "train_accuracy": last["train_accuracy"],
        "val_accuracy": last["val_accuracy"],
        "train_images": len(data.train_y),
        "cell": str(spec.network.cell),
        "network": spec.network.to_json(),
        "training": t.to_json(),
        **({"restarts": list(spec.restarts)} if spec.restarts else {}),
        "data": spec.data.to_json(),
        "device": str(device),
        "versions": versions(),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    folder.write_result(result)
    return result


def _epoch(
    model: CellNetwork,
    optimizer: torch.optim.Optimizer,
    data: _Data,
    spec: RunSpec,
    augment: Augment,
    epoch: int,
    steps: int,
    device: torch.device,
    reporter: TrainReporter,
) -> dict[str, Any]:
    t = spec.training
    batches = EpochBatches(data.train_x, data.train_y, t.batch_size, augment, t.seed, epoch)
    reporter.epoch_started(epoch, t.epochs, steps)
    model.train()
    start = time.monotonic()
    loss_sum = correct = seen = 0.0
    lr = t.lr
    step = (epoch - 1) * steps
    ramp = spec.cycle(1)[1] * steps  # drop-path reaches its full rate at the end of the planned epochs
    clock = Throughput(start)
    for i, (x, y) in enumerate(_batches(batches, t.workers)):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        lr = scheduled_rate(spec, step, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.set_drop_path_progress(min(1.0, step / ramp))
        out = model(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, y, label_smoothing=t.label_smoothing)
        if aux is not None and t.aux_weight > 0:
            loss = loss + t.aux_weight * F.cross_entropy(aux, y, label_smoothing=t.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingFailed(
                f"the loss became {value} at epoch {epoch}, step {i + 1}; the checkpoints of the epochs before are "
                "kept: train again with a lower --lr (or a --grad-clip) into a new --out"
            )
        n = len(y)
        loss_sum += value * n
        correct += float((logits.detach().argmax(1) == y).sum())
        seen += n
        step += 1
        reporter.step(i + 1, loss_sum / seen, correct / seen, clock.step(n))
    seconds, speed = time.monotonic() - start, clock.rate()
    val = accuracy(model, data.val_x, data.val_y, SCORE_BATCH) if len(data.val_y) else None
    return {
        "epoch": epoch,
        "train_loss": loss_sum / seen,
        "train_accuracy": correct / seen,
        "val_accuracy": val,
        "lr": lr,
        "seconds": round(seconds, 3),
        "images_per_second": round(speed, 1),
    }


class Throughput:
    """Images per second of an epoch, counted from the end of its first step: the first step carries the
    one-off set-up (data-loading workers starting, kernels chosen, memory first allocated), which is no
    measure of speed. An epoch of one step is timed whole."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.images = 0
        self.warm: tuple[float, int] | None = None
        """When the first step ended, and the images it took."""

    def step(self, images: int) -> float:
        """Count a finished step's images (the loss read back, so the device is done with it); the rate so far."""
        self.images += images
        if self.warm is None:
            self.warm = (time.monotonic(), self.images)
        return self.rate()

    def rate(self) -> float:
        now = time.monotonic()
        if self.warm is None or self.images == self.warm[1] or now <= self.warm[0]:
            return self.images / max(now - self.start, 1e-9)
        return (self.images - self.warm[1]) / (now - self.warm[0])
