"""How fast the project trains children, against a plain PyTorch loop measured in the same run.

Two children are measured: the search-time proxy of the PNASNet-5 cell (N = 2, F = 24,
3x32x32 inputs: CIFAR-10 from ``--cifar-dir``, else random images of its shape written
in its file format) and the default search's child on Fashion-MNIST (1x14x14, N = 1,
F = 8, the default proxy, real data).

* **plain**: the loop most PyTorch code writes. A ``Dataset`` read by a ``DataLoader``
  (``num_workers=0``), fp32, default memory format, torch's default thread count, one
  child at a time; batch-norm recalibration, validation and counting done as the
  project does them, so both sides do the same work.
* **project**: children trained the way ``pnas search`` trains them: the ``train``
  evaluator with its defaults (channels-last, one thread per child), in the local
  process pool with one worker per core (two per GPU with ``--device cuda``), whose
  workers run with jemalloc when it is installed.

Throughput is training images per second of wall time, whole children included
(building, training, recalibration, validation, counting), from the first child's
start to the last one's end: the machine's rate of training children. Per-switch
measurements (precision, memory format, batch size, threads, ``torch.compile``, BN
folding, the pool with the system allocator) go under ``switches``. With ``--device cuda`` it also times one paper-proxy
child (20 epochs over 45,000 images) and the children per hour per GPU.

    python benchmarks/child_throughput.py [--json] [--device cpu|cuda] [--cifar-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pnas.evaluation.data import load_dataset
from pnas.evaluation.trainer import (
    DEFAULT_PROXY,
    TrainingConfig,
    TrainingEvaluator,
    accuracy,
    child_seed,
    recalibrate_batch_norm,
)
from pnas.execution.base import Job
from pnas.execution.local import ProcessPoolExecutor, visible_gpus
from pnas.nets import build_cifar_network, count_mult_adds, count_params
from pnas.space import PNASNET5_CELL, Cell
from pnas.threads import torch_threads

FASHION_CELLS = (
    "conv1x7_7x1(h1)+sep5x5(h2); conv1x7_7x1(h1)+sep5x5(b1); conv1x7_7x1(h1)+sep5x5(h2)",
    "sep3x3(h1)+sep3x3(h1)",
    "max3x3(h1)+identity(h2); sep5x5(b1)+dil3x3(h1)",
    "sep7x7(h1)+sep5x5(h2)",
)
"""The default search's best cell (README) and three others of one to three blocks."""

CIFAR_PROXY = {"cells_per_stack": 2, "filters": 24, "image_size": 32, "batch_size": 128, "lr": 0.1, "epochs": 1}
"""The paper's search-time network (docs/paper.md, section 5.1); batch 128 on both sides."""

PAPER_PROXY_IMAGES, PAPER_PROXY_EPOCHS = 45_000, 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def synthetic_cifar(folder: Path, images: int, seed: int = 0) -> Path:
    """Random images of CIFAR-10's shape in its python-version files (five training batches and a test
    batch), so that the project reads them through its own ``cifar10`` loader."""
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per = math.ceil(images / 5)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (per, 3 * 32 * 32), dtype=np.uint8),
            "labels": list(rng.integers(0, 10, per).tolist()),
        }
        (root / name).write_bytes(pickle.dumps(batch, protocol=4))
    return folder


class Pairs(Dataset):
    """Images and labels, one example at a time: what a plain PyTorch loop reads."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


# --------------------------------------------------------------------------- the plain loop


def plain_child(cell: Cell, config: TrainingConfig, device: torch.device) -> dict[str, Any]:
    """One child trained by the plain loop, end to end, with the project's seed, schedule and protocol."""
    data = load_dataset(config.dataset, data_dir=config.data_dir, image_size=config.image_size,
                        train_subset=config.train_subset, val_size=config.val_size, seed=config.seed)  # fmt: skip
    started = time.perf_counter()
    seed = child_seed(config.seed, str(cell))
    torch.manual_seed(seed)
    model = build_cifar_network(cell, in_channels=data.channels, num_classes=data.num_classes,
                                cells_per_stack=config.cells_per_stack, filters=config.filters,
                                image_size=data.image_size, channels_last=False).to(device)  # fmt: skip
    loader = DataLoader(Pairs(data.train_x, data.train_y), batch_size=config.batch_size, shuffle=True,
                        drop_last=True, num_workers=0, generator=torch.Generator().manual_seed(seed))  # fmt: skip
    total = config.epochs * len(loader)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=True)  # fmt: skip
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    model.train()
    images = 0
    for _ in range(config.epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            images += len(y)
    recalibrate_batch_norm(model, data.train_x[: config.bn_recalibration].to(device), config.batch_size)
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(Pairs(data.val_x, data.val_y), batch_size=1000):
            correct += int((model(x.to(device)).argmax(1) == y.to(device)).sum())
    _ = count_params(model), count_mult_adds(model, (data.channels, data.image_size, data.image_size))
    return {"seconds": time.perf_counter() - started, "images": images, "accuracy": correct / len(data.val_y)}


def plain(cells: list[Cell], config: TrainingConfig, device: torch.device) -> dict[str, Any]:
    children = []
    for cell in cells:
        children.append(plain_child(cell, config, device))
        log(f"  plain child: {children[-1]['seconds']:.1f} s, accuracy {children[-1]['accuracy']:.4f}")
    wall = sum(c["seconds"] for c in children)
    return {"img_s": sum(c["images"] for c in children) / wall, "child_s": wall / len(children),
            "accuracies": [c["accuracy"] for c in children], "threads": torch.get_num_threads()}  # fmt: skip


# --------------------------------------------------------------------------- the project's way


def project(
    cells: list[Cell], config: TrainingConfig, workers: int, gpus: list[str], allocator: str = "auto"
) -> dict[str, Any]:
    """The cells trained by the local process pool, as ``pnas search`` trains them."""
    evaluator = TrainingEvaluator(**asdict(config))
    jobs = [Job(f"{i}:{cell}", str(cell)) for i, cell in enumerate(cells)]
    with ProcessPoolExecutor(evaluator.spec(), workers, threads=config.threads, gpus=gpus, allocator=allocator) as pool:
        used_allocator = pool.allocator
        outcomes = sorted(pool.run(jobs), key=lambda o: int(o.key.split(":")[0]))
    failed = [f"{o.key}: {o.error}" for o in outcomes if o.result is None]
    if failed:
        raise SystemExit("a child failed: " + "; ".join(failed))
    wall = max(o.finished for o in outcomes) - min(o.started for o in outcomes)
    results = [o.result for o in outcomes if o.result is not None]
    for r in results:
        log(f"  project child: {r.seconds:.1f} s, accuracy {r.accuracy:.4f}")
    return {"img_s": sum(r.examples for r in results) / wall, "child_s": statistics.mean(r.seconds for r in results),
            "accuracies": [r.accuracy for r in results], "workers": workers, "threads_per_child": config.threads,
            "allocator": used_allocator}  # fmt: skip


def compare(name: str, cells: list[Cell], plain_cells: list[Cell], config: TrainingConfig, device: torch.device,
            workers: int, gpus: list[str]) -> dict[str, Any]:  # fmt: skip
    log(f"{name}: plain loop, {len(plain_cells)} children one at a time")
    p = plain(plain_cells, config, device)
    log(f"{name}: project, {len(cells)} children on {workers} workers")
    q = project(cells, config, workers, gpus)
    out = {"plain_img_s": p["img_s"], "project_img_s": q["img_s"], "speedup": q["img_s"] / p["img_s"],
           "plain_child_s": p["child_s"], "project_child_s": q["child_s"],
           "plain_threads": p["threads"], "project_workers": q["workers"],
           "project_threads_per_child": q["threads_per_child"], "project_allocator": q["allocator"],
           "children": len(cells)}  # fmt: skip
    if plain_cells == cells:
        out |= {"plain_accuracy": statistics.mean(p["accuracies"]), "project_accuracy": statistics.mean(q["accuracies"]),
                "plain_accuracies": p["accuracies"], "project_accuracies": q["accuracies"]}  # fmt: skip
    log(f"{name}: {out['speedup']:.2f}x ({out['project_img_s']:.1f} vs {out['plain_img_s']:.1f} img/s)")
    return out


# --------------------------------------------------------------------------- one switch at a time


def train_rate(config: TrainingConfig, cell: Cell, data: dict[str, Any], threads: int) -> dict[str, Any]:
    """Training images per second of one child in this process with ``config`` (a one-step child first,
    so that each setting's one-off costs (kernels chosen, a compilation) are counted apart)."""
    warm_config = replace(config, train_subset=None, bn_recalibration=0, threads=threads)
    warm = TrainingEvaluator.from_shared_data(asdict(warm_config), dict(data, train_x=data["train_x"][: config.batch_size],
                                              train_y=data["train_y"][: config.batch_size]))  # fmt: skip
    started = time.perf_counter()
    warm.train(cell)
    first = time.perf_counter() - started
    evaluator = TrainingEvaluator.from_shared_data(asdict(warm_config), data)
    started = time.perf_counter()
    child = evaluator.train(cell)
    seconds = time.perf_counter() - started
    return {"img_s": child.examples / seconds, "first_child_s": first}


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """Every BN that directly follows a convolution in a Sequential folded into it (evaluation only)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                conv, norm = module._modules[a], module._modules[b]
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                    module._modules[a], module._modules[b] = fuse_conv_bn_eval(conv, norm), nn.Identity()
    return model


def switches(name: str, config: TrainingConfig, cell: Cell, images: int, with_compile: bool) -> dict[str, Any]:
    """Each switch against the project's default, one child in this process (1 thread unless said)."""
    evaluator = TrainingEvaluator(**asdict(config))
    data = evaluator.shared_data()
    data = dict(data, train_x=data["train_x"][:images], train_y=data["train_y"][:images])
    variants = {
        "project default": (config, 1),
        "default memory format": (replace(config, channels_last=False), 1),
        "batch x2": (replace(config, batch_size=config.batch_size * 2), 1),
    }
    other = "fp32" if config.precision == "bf16" else "bf16"
    variants[f"{other} precision"] = (replace(config, precision=other), 1)
    if config.device == "cpu":
        variants["2 threads"] = (config, 2)
    if with_compile:
        variants["torch.compile"] = (replace(config, compile=True), 1)
    out: dict[str, Any] = {"project default": {"precision": config.precision, "channels_last": config.channels_last,
                                               "batch_size": config.batch_size, "threads": 1}}  # fmt: skip
    base = None
    for label, (variant, threads) in variants.items():
        measured = train_rate(variant, cell, data, threads)
        base = base or measured["img_s"]
        out[label] = out.get(label, {}) | {"img_s": measured["img_s"], "vs_default": measured["img_s"] / base,
                      "first_child_s": measured["first_child_s"]}  # fmt: skip
        log(f"{name} switch {label}: {measured['img_s']:.1f} img/s ({measured['img_s'] / base:.2f}x)")
    val_x, val_y = data["val_x"].to(config.device), data["val_y"].to(config.device)
    model = TrainingEvaluator.from_shared_data(asdict(config), data).build(cell).to(config.device).eval()
    with torch.inference_mode(), torch_threads(1):
        for label, net in (("BN kept", model), ("BN folded", fold_batch_norm(model))):
            started = time.perf_counter()
            for _ in range(3):
                accuracy(net, val_x, val_y)
            out[f"validation, {label}: images/s"] = 3 * len(val_x) / (time.perf_counter() - started)
    return out


# --------------------------------------------------------------------------- a GPU's figures


def paper_proxy_config(
    data_dir: str, device: str, batch: int, epochs: int, images: int, **changes: Any
) -> TrainingConfig:
    """The paper's search-time proxy (N = 2, F = 24, 3x32x32, crop and flip; ``changes`` override it), the
    learning rate scaled with the batch from 0.1 at 128."""
    settings = dict(dataset="cifar10", data_dir=data_dir, image_size=32, train_subset=images, val_size=5000,
                    cells_per_stack=2, filters=24, epochs=epochs, batch_size=batch, lr=0.1 * batch / 128,
                    augment="crop-flip", device=device)  # fmt: skip
    return TrainingConfig(**(settings | changes))


def paper_proxy(config: TrainingConfig, plain_images: int) -> dict[str, Any]:
    """One paper-proxy child trained in this process, against the plain loop's throughput on ``plain_images``
    of the same network (fp32, default memory format, no augmentation: the plain loop at its fastest)."""
    evaluator = TrainingEvaluator(**asdict(config))
    evaluator.prepare()
    result = evaluator.evaluate(PNASNET5_CELL)
    plain_config = replace(config, epochs=1, train_subset=plain_images)
    plain_run = plain_child(PNASNET5_CELL, plain_config, torch.device(config.device))
    child_img_s, plain_img_s = result.examples / result.seconds, plain_run["images"] / plain_run["seconds"]
    log(f"paper proxy: one child {result.seconds:.1f} s, {child_img_s:.0f} img/s; plain loop {plain_img_s:.0f} img/s")
    return {"child_s": result.seconds, "compile_s": result.extra.get("compile_seconds"), "accuracy": result.accuracy,
            "img_s": child_img_s, "plain_img_s": plain_img_s, "speedup_vs_plain": child_img_s / plain_img_s,
            "batch_size": config.batch_size, "precision": config.precision, "compile": config.compile,
            "epochs": config.epochs, "images": config.train_subset}  # fmt: skip


def concurrency(config: TrainingConfig, gpus: list[str], shares: tuple[int, ...] = (1, 2, 4, 8)) -> dict[str, Any]:
    """Aggregate throughput of 1, 2, 4 and 8 children sharing each GPU (each core's share on a CPU), and the
    paper-proxy children per hour per GPU it gives at the best share."""
    rates = {}
    for share in shares:
        workers = share * max(1, len(gpus))
        rates[share] = project([PNASNET5_CELL] * workers, config, workers, gpus)["img_s"]
        log(f"{share} children per {'GPU' if gpus else 'machine'}: {rates[share]:.0f} img/s")
    best = max(rates, key=lambda k: rates[k])
    per_child = PAPER_PROXY_EPOCHS * PAPER_PROXY_IMAGES
    return {"img_s_by_children_per_gpu": {str(k): v for k, v in rates.items()}, "best_children_per_gpu": best,
            "children_per_hour_per_gpu": 3600 * rates[best] / per_child / max(1, len(gpus))}  # fmt: skip


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--cifar-dir", help="CIFAR-10's python version (default: random images of its shape)")
    parser.add_argument("--cifar-images", type=int, default=None, help="training images per CIFAR proxy child")
    parser.add_argument("--proxy-batch", type=int, default=256, help="batch size of the GPU's paper-proxy child")
    parser.add_argument("--compile", action="store_true", help="torch.compile the GPU's paper-proxy child")
    parser.add_argument("--no-switches", action="store_true", help="skip the per-switch measurements")
    parser.add_argument("--quick", action="store_true", help="tiny children: checks that it runs, figures mean little")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU")
    gpus = visible_gpus() if device.type == "cuda" else []
    workers = 2 * len(gpus) if gpus else (os.cpu_count() or 1)
    precision = "bf16" if device.type == "cuda" else "fp32"
    report: dict[str, Any] = {"device": torch.cuda.get_device_name() if gpus else "cpu", "cpu_cores": os.cpu_count(),
                              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        cifar_images = args.cifar_images or (45_000 if gpus else 64 if args.quick else 1024)
        data_dir = args.cifar_dir or str(
            synthetic_cifar(Path(scratch), cifar_images + 5000 if gpus else cifar_images + 256)
        )
        cifar = TrainingConfig(dataset="cifar10", data_dir=data_dir, train_subset=cifar_images,
                               val_size=5000 if gpus else 256, device=args.device, precision=precision,
                               **CIFAR_PROXY)  # fmt: skip
        fashion = TrainingConfig(**DEFAULT_PROXY, device=args.device, precision=precision)
        cells = [Cell.parse(c) for c in FASHION_CELLS]
        if args.quick:
            cifar = replace(cifar, batch_size=16, cells_per_stack=1, filters=8, bn_recalibration=64)
            fashion = replace(fashion, epochs=1, train_subset=256, val_size=200, batch_size=32)
            cells = cells[:2]
        report["cifar_proxy"] = compare("cifar_proxy", [PNASNET5_CELL] * workers, [PNASNET5_CELL], cifar, device,
                                        workers, gpus)  # fmt: skip
        report["cifar_proxy"]["synthetic_data"] = args.cifar_dir is None
        report["fashion_mnist"] = compare("fashion_mnist", cells, cells, fashion, device, workers, gpus)
        if not args.no_switches:
            report["switches"] = {
                "fashion_mnist": switches(
                    "fashion_mnist", fashion, cells[0], 128 if args.quick else 1280, with_compile=not args.quick
                ),
                "cifar_proxy": switches(
                    "cifar_proxy",
                    cifar,
                    PNASNET5_CELL,
                    64 if args.quick else 512,
                    with_compile=bool(gpus) and not args.quick,
                ),
            }
            kinds = {"cifar_proxy": ([PNASNET5_CELL] * workers, cifar), "fashion_mnist": (cells, fashion)}
            for kind, (jobs, config) in kinds.items():
                variants = {"project's pool, system allocator": (config, workers, "system")}
                if not gpus and workers > 1:
                    label = f"project's pool, one child at a time on {workers} threads"
                    variants[label] = (replace(config, threads=workers), 1, "auto")
                for label, (variant, pool_workers, allocator) in variants.items():
                    log(f"{kind}: {label}")
                    rate = project(jobs, variant, pool_workers, gpus, allocator=allocator)["img_s"]
                    report["switches"][kind][label] = {
                        "img_s": rate,
                        "vs_project": rate / report[kind]["project_img_s"],
                    }
        if gpus:
            proxy = paper_proxy_config(data_dir, "cuda", args.proxy_batch, PAPER_PROXY_EPOCHS, PAPER_PROXY_IMAGES,
                                       precision=precision, compile=args.compile, threads=None)  # fmt: skip
            report["paper_proxy"] = paper_proxy(proxy, plain_images=20 * args.proxy_batch)
            short = replace(proxy, epochs=1, train_subset=40 * args.proxy_batch, compile=False, threads=1)
            report["paper_proxy"] |= concurrency(short, gpus)
            report["paper_proxy"]["speedup_vs_plain_best_share"] = (
                report["paper_proxy"]["img_s_by_children_per_gpu"][str(report["paper_proxy"]["best_children_per_gpu"])]
                / len(gpus)
                / report["paper_proxy"]["plain_img_s"]
            )
    report["seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(report))
    else:
        for key in ("cifar_proxy", "fashion_mnist"):
            o = report[key]
            print(f"{key}: {o['speedup']:.2f}x ({o['project_img_s']:.1f} vs {o['plain_img_s']:.1f} img/s), "
                  f"child {o['project_child_s']:.1f} vs {o['plain_child_s']:.1f} s")  # fmt: skip
        print(json.dumps({k: v for k, v in report.items() if k not in ("cifar_proxy", "fashion_mnist")}, indent=1))


if __name__ == "__main__":
    main()
