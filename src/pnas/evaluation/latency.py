"""Inference latency of a trained child, measured where the study runs.

Latency belongs to a device, not to a network: the same cell is fast on one machine and slow on
another, and depthwise convolutions rank differently on a CPU and a GPU. So a study that measures
latency records the device it measured on (:func:`hardware_name`) and is resumed only there.

Timing uses ``torch.utils.benchmark`` (it synchronises CUDA and sets the thread count), after a
warm-up, and reports the median over blocks of runs: the median, since a busy machine adds
occasional long runs that a mean would carry.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch
from torch import nn

WARMUP = 3
"""Untimed forward passes first (allocator, cuDNN autotuning, lazy initialisation)."""

MIN_RUN_SECONDS = 0.1
"""Timed time per batch size: ``blocked_autorange`` repeats blocks of runs until it has this much."""


def hardware_name(device: torch.device) -> str:
    """A readable name of the device latency is measured on: the GPU's name, or the CPU's model."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return f"mps: {platform.machine()}"
    return f"cpu: {cpu_model()}"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@torch.no_grad()
def median_ms(model: nn.Module, x: torch.Tensor, threads: int | None = None) -> float:
    """Median milliseconds of one forward pass of ``model`` (in eval mode) on ``x``."""
    from torch.utils import benchmark

    was_training = model.training
    model.eval()
    try:
        for _ in range(WARMUP):
            model(x)
        timer = benchmark.Timer(
            stmt="model(x)",
            globals={"model": model, "x": x},
            num_threads=threads or torch.get_num_threads(),
        )
        with torch.inference_mode():
            measurement = timer.blocked_autorange(min_run_time=MIN_RUN_SECONDS)
    finally:
        model.train(was_training)
    return float(measurement.median * 1000.0)


def measure_latency(
    model: nn.Module, image_shape: tuple[int, int, int], batch_size: int, device: torch.device, threads: int | None
) -> dict[str, float]:
    """``latency_ms`` (batch 1: what the latency objective and limit use) and ``latency_batch_ms``
    (the training batch size) of ``model`` on ``device``, on inputs of zeros."""
    single = torch.zeros((1, *image_shape), device=device)
    batch = torch.zeros((batch_size, *image_shape), device=device)
    return {
        "latency_ms": median_ms(model, single, threads),
        "latency_batch_ms": median_ms(model, batch, threads),
    }
