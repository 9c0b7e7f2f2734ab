"""A PNAS search driven by your own training loop, through pnas's ask/tell Study API.

pnas proposes cells; this script builds each cell's network, trains it with a plain PyTorch loop
written below (swap in your own: mixed precision, Lightning, a cluster job), and tells pnas the
validation accuracy. The study is a file: stop the script at any moment and run it again to continue.

Small settings by default, so it ends in a few minutes on 2 CPU cores:
    the progressive search up to 2 blocks, keeping K=4 cells per round (136 one-block cells, then 4),
    Fashion-MNIST at 14 x 14 px, 1,000 training and 1,000 validation images, 1 epoch per cell,
    networks of one cell per stack and 8 filters.

Run:
    python examples/own_training_loop.py                          # the small settings above
    python examples/own_training_loop.py --blocks 3 --beam 8 --epochs 3 --images 3000
    python examples/own_training_loop.py --strategy evolution --budget 40

Fashion-MNIST is read from --data-dir, else $PNAS_DATA_DIR, else /usr/share/datasets/fashion-mnist
(Debian's dataset-fashion-mnist package), as `pnas search` finds it: the four IDX files, gzipped or not.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import pnas

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")


def read_idx(folder: Path, stem: str) -> np.ndarray:
    """One IDX file of the data set (``train-images-idx3-ubyte`` and its siblings), gzipped or not."""
    for path in (folder / f"{stem}.gz", folder / stem):
        if path.exists():
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            dims = raw[3]
            shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
            return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise SystemExit(f"{stem} not found in {folder}: install Debian's dataset-fashion-mnist or pass --data-dir")


def load_fashion_mnist(data_dir: str | None, images: int, image_size: int) -> tuple[torch.Tensor, ...]:
    """Training and validation tensors: ``images`` of each, drawn from the training set, resized and normalised."""
    places = [data_dir] if data_dir else [os.environ.get("PNAS_DATA_DIR"), str(DEBIAN_FOLDER)]
    folders = [Path(p).expanduser() for p in places if p]
    folders = [f / "fashion-mnist" if (f / "fashion-mnist").is_dir() else f for f in folders]
    found = [f for f in folders if any(f.glob("train-images-idx3-ubyte*"))]
    folder = found[0] if found else folders[-1]
    x = torch.from_numpy(read_idx(folder, "train-images-idx3-ubyte").copy()).float().div(255).unsqueeze(1)
    y = torch.from_numpy(read_idx(folder, "train-labels-idx1-ubyte").astype(np.int64))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[: 2 * images]
    x = F.interpolate(x[order], size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    x = (x - x.mean()) / x.std()
    y = y[order]
    return x[:images], y[:images], x[images:], y[images:]


def train_and_validate(net: torch.nn.Module, data: tuple[torch.Tensor, ...], epochs: int, seed: int) -> pnas.EvalResult:
    """A plain loop: SGD with momentum and a cosine schedule; the validation accuracy (a fraction in [0, 1]),
    with what the training cost."""
    train_x, train_y, val_x, val_y = data
    started = time.time()
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4, nesterov=True)
    batch = 32
    steps = epochs * math.ceil(len(train_x) / batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    net.train()
    for _ in range(epochs):
        for index in torch.randperm(len(train_x)).split(batch):
            loss = F.cross_entropy(net(train_x[index]), train_y[index])
            if not torch.isfinite(loss):
                raise pnas.TrialFailed(f"the loss became {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    with torch.no_grad():  # batch-norm statistics of the final weights: a short run's running averages lag behind
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # a plain average over the pass below
        for x in train_x.split(250):
            net(x)
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in zip(val_x.split(500), val_y.split(500)))
    return pnas.EvalResult(
        accuracy=correct / len(val_x),
        params=sum(p.numel() for p in net.parameters()),
        examples=epochs * len(train_x),
        seconds=time.time() - started,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="pnas", help="pnas (progressive), random, evolution, guided, ...")
    parser.add_argument("--blocks", type=int, default=2, help="B: blocks of the largest cell")
    parser.add_argument("--beam", type=int, default=4, help="K: cells kept per round (progressive search)")
    parser.add_argument("--budget", type=int, default=None, help="models to train (other strategies)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=1000, help="training images, and as many for validation")
    parser.add_argument("--image-size", type=int, default=14)
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--storage", default="own-loop.db", help="the study file (run again to continue)")
    parser.add_argument("--study", default="own-loop")
    args = parser.parse_args()

    strategy: dict = {"name": args.strategy}
    if args.strategy == "pnas":
        strategy["beam"] = args.beam
    elif args.budget is not None:
        strategy["budget"] = args.budget
    config = {"space": {"name": "pnas", "max_level": args.blocks}, "strategy": strategy}  # no [evaluator]: ours
    study = pnas.create_study(args.study, args.storage, config, load_if_exists=True)
    data = load_fashion_mnist(args.data_dir, args.images, args.image_size)
    started = time.time()
    while trials := study.ask():  # the strategy's next batch; the trials a killed run left come first
        for trial in trials:
            net = pnas.build_network(trial.cell, in_channels=1, num_classes=10, filters=args.filters,
                                     cells_per_stack=1, image_size=args.image_size)  # fmt: skip
            try:
                result = train_and_validate(net, data, args.epochs, seed=trial.number)
            except pnas.TrialFailed as failure:
                study.tell(trial, failure)
                continue
            study.tell(trial, result)  # or just the accuracy: study.tell(trial, 0.83)
            print(f"round {trial.round} trial {trial.number}: {result.accuracy:.4f}  {trial.cell}", flush=True)
    totals = study.totals()
    print(f"done in {time.time() - started:.0f} s: {totals['models']} models, {totals['failed']} failed")
    for rank, trial in enumerate(study.best(3), start=1):
        print(f"{rank}. {trial.accuracy:.4f}  {trial.cell}")
    study.close()


if __name__ == "__main__":
    main()
