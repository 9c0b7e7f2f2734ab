"""Zero-cost proxies: scores of an untrained network that need no training, and at most one batch.

Why: a surrogate that ranks cells from a handful of trained examples has little to learn
from; features that already correlate with trained accuracy, computed in a fraction of a
second per cell for every candidate, give it a head start (as in Abdelfattah et al.,
"Zero-Cost Proxies for Lightweight NAS", ICLR 2021, and White et al., "How Powerful are
Performance Predictors in Neural Architecture Search?", NeurIPS 2021, which combine them
with learned predictors). Each is a property of the network built from the cell, so it
sees what the genotype alone does not: widths, strides, where BN and ReLU sit.

- :func:`synflow`: SynFlow (Tanaka, Kunin, Yamins and Ganguli, "Pruning neural networks
  without any data by iteratively conserving synaptic flow", NeurIPS 2020), summed over
  all parameters as a network score.
- :func:`naswot`: the score of Mellor, Turner, Storkey and Crowley, "Neural Architecture
  Search without Training", ICML 2021: how differently the network's ReLUs split a
  batch of images.
- :func:`zero_cost_features`: both, with log parameter and mult-add counts, as a dict.

All work on a deep copy and leave the caller's model (weights, buffers, mode) as it was.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.overrides import TorchFunctionMode

from pnas.nets.complexity import count_mult_adds, count_params


def _logits(output: Any) -> torch.Tensor:
    """The main output of a network that may also return auxiliary logits."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"the model must return a tensor (or a tuple starting with one), got {type(output).__name__}")
    return output


def _without_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every batch-norm layer of ``module`` by an identity, in place."""
    if isinstance(module, _BatchNorm):
        return nn.Identity()
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _without_batch_norm(child)
    return module


def synflow(model: nn.Module, input_shape: Sequence[int]) -> float:
    """``log1p`` of SynFlow's sum over parameters of ``|theta * dR/dtheta|``.

    Why this form: with every weight made positive and an all-ones input, ``R`` (the
    summed output) is the total "synaptic flow" through the network, and each weight's
    share of it rewards architectures whose layers all pass signal, without data and
    without the layer collapse that gradient-based scores suffer. The raw score spans
    dozens of orders of magnitude across cells, so its ``log1p`` is returned (a network
    whose output ignores its weights scores 0). Float64 throughout, as the products of
    many positive weights overflow float32 in deep networks; a network deep enough to
    overflow float64 gets ``inf``.

    Batch norm is replaced by the identity, as the zero-cost-proxy implementations
    (Abdelfattah et al., 2021) do: with batch statistics a single constant input would
    be normalised to BN's bias and carry no flow; eval-mode BN with an untrained
    network's running statistics (mean 0, variance 1) is nearly the identity anyway, and
    removing it makes the score independent of whatever statistics the model has
    accumulated. Its affine weights would only count the same flow a second time.
    Dropout and drop-path are off (eval mode), so the score is deterministic.

    ``input_shape`` is one example's shape, e.g. ``(3, 32, 32)``.
    """
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be one example's positive sizes, e.g. (3, 32, 32), got {input_shape!r}")
    net = _without_batch_norm(copy.deepcopy(model)).eval().double()
    params = [p for p in net.parameters()]
    with torch.no_grad():
        for p in params:
            p.abs_()
    for p in params:
        p.requires_grad_(True)
        p.grad = None
    device = params[0].device if params else torch.device("cpu")
    x = torch.ones((1,) + shape, dtype=torch.float64, device=device)
    total = _logits(net(x)).sum()
    if not params or not total.requires_grad:
        return 0.0
    grads = torch.autograd.grad(total, params, allow_unused=True)
    score = 0.0
    with torch.no_grad():
        for p, g in zip(params, grads):
            if g is not None:
                score += float((p * g).abs().sum())
    return math.log1p(score)


class _ReluCodes(TorchFunctionMode):
    """Sees every ReLU the forward pass applies, module or functional, and adds its units'
    agreement counts to the kernel."""

    RELUS: frozenset[Callable[..., Any]] = frozenset(
        {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}
    )

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.kernel = torch.zeros((batch, batch), dtype=torch.float64)
        self.units = 0

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in self.RELUS and isinstance(out, torch.Tensor) and out.dim() > 0:
            self._add(out)
        return out

    def _add(self, out: torch.Tensor) -> None:
        # +1 for an active unit, -1 for an inactive one: s_i . s_j = agreements - disagreements,
        # so agreements (= units - Hamming distance) are (units + s_i . s_j) / 2.
        signs = (out.detach().reshape(out.shape[0], -1) > 0).to(torch.float64) * 2.0 - 1.0
        self.kernel += ((signs @ signs.T + signs.shape[1]) / 2.0).cpu()
        self.units += signs.shape[1]


def relu_kernel(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, int]:
    """NASWOT's kernel ``K[i, j]`` = number of ReLU units on which images i and j agree
    (both active or both inactive), and the number of units, for tests and inspection."""
    if images.dim() < 2 or images.shape[0] < 1:
        raise ValueError(f"images must be a batch (N, C, H, W) with N >= 1, got shape {tuple(images.shape)}")
    net = copy.deepcopy(model).eval()
    for module in net.modules():  # the untrained network's batch statistics, as in training
        if isinstance(module, _BatchNorm):
            module.train()
    parameter = next(net.parameters(), None)
    x = images.to(device=parameter.device, dtype=parameter.dtype) if parameter is not None else images
    recorder = _ReluCodes(images.shape[0])
    with torch.no_grad(), recorder:
        net(x)
    return recorder.kernel, recorder.units


def naswot(model: nn.Module, images: torch.Tensor) -> float:
    """``log |det K|`` of the ReLU-code kernel of a batch (Mellor et al., 2021).

    Why: a network whose ReLUs already give different images different on/off patterns
    can tell them apart before training; the determinant is large when the batch's codes
    are far apart (near-orthogonal rows) and collapses when two images look the same
    to it.

    The units are every ReLU the forward pass applies, caught with a torch function mode
    so that both ``nn.ReLU`` modules and the functional ``F.relu`` calls of
    :class:`pnas.nets.cell.CellModule` and the network head count; one unit per element
    of each ReLU's output, per example. A ReLU the cell computes once and shares among
    the ops that read the same input counts once. A unit is active when its output is
    positive. The model runs in eval mode (no dropout or drop-path, so the score is
    deterministic) except its batch norms, which use the batch's statistics like the
    untrained network in training (on a copy: the caller's running statistics stay).

    ``K`` has integer entries, so a non-singular ``K`` has ``|det K| >= 1``; a singular
    one (two images with the same code, or no ReLU at all) gets that floor, 0, instead
    of ``-inf``, so the feature stays finite.
    """
    kernel, units = relu_kernel(model, images)
    if units == 0:
        return 0.0
    sign, logabsdet = torch.linalg.slogdet(kernel)
    value = float(logabsdet)
    if sign.item() <= 0 or not math.isfinite(value):
        return 0.0
    return max(value, 0.0)


def zero_cost_features(
    model: nn.Module, input_shape: Sequence[int], images: torch.Tensor | None = None
) -> dict[str, float]:
    """The zero-cost features of one untrained network, ready to append to a predictor's input.

    ``synflow``, ``params`` and ``mult_adds`` (both ``log1p`` of the count, since sizes
    span orders of magnitude across a space); ``naswot`` too when a batch of ``images``
    (from the study's data) is given. ``input_shape`` is one example's ``(C, H, W)``.
    """
    features = {
        "synflow": synflow(model, input_shape),
        "params": math.log1p(count_params(model)),
        "mult_adds": math.log1p(count_mult_adds(model, input_shape)),
    }
    if images is not None:
        features["naswot"] = naswot(model, images)
    return features


__all__ = ["naswot", "relu_kernel", "synflow", "zero_cost_features"]
