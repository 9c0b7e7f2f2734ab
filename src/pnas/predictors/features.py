"""A surrogate for small budgets: an ensemble of small MLPs on a fixed-length feature vector of the cell.

With tens of trained cells a sequence model over tokens has too little to learn from; a feature
vector that already says which operator sequences connect input to output (the path encoding,
:mod:`pnas.space.paths`, which BANANAS found the best encoding for such predictors; White et al.,
AAAI 2021) lets a small network rank cells from few examples. The members train together, as one
batched network (full batch: the data are small), each on its own 4/5 of the cells as in the
paper's ensembles, and the members' spread is an honest "I do not know" for the acquisition
functions (:mod:`pnas.predictors.acquisition`). A guided search refits after every batch, so the
fit must be quick: the network is two matrix products, and at these sizes torch's per-step
overhead would be most of the cost, so forward, gradients and Adam are written out in numpy.

Features (``features``, comma-separated): ``paths`` (the path encoding), ``tokens`` (one-hot
of each block's tokens, padded to the space's size) and ``zero-cost`` (SynFlow and the log
parameter and mult-add counts of a small proxy network of the cell, :mod:`pnas.nets.zero_cost`,
and with a batch of the study's images its NASWOT score: a few hundredths of a second per cell,
kept once computed, see :class:`ZeroCostFeatures`). Features are
standardised per column before fitting, so counts and scores of any scale sit together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pnas.evaluation.base import Probe
from pnas.predictors.ensemble import fold_indices, member_seed
from pnas.predictors.neural import check_training_data
from pnas.space.base import SearchSpace

FEATURE_SETS = ("paths", "tokens", "zero-cost")
COSTLY_FEATURES = frozenset({"zero-cost"})
"""Feature sets that build a network per cell: a guided search computes them only for the cells that
matter (the trained ones and the best of a cheap first ranking), and keeps them in its study."""

ZERO_COST_COLUMNS = ("synflow", "params", "mult_adds")
"""The data-free zero-cost features; ``naswot`` follows them when the study has images (a probe)."""

DATA_FREE_INPUT = (3, 32, 32)
"""The input of the proxy network when the study has no images (NAS-Bench-201's CIFAR-sized input)."""

CACHE_CELLS = 50_000
"""Cells whose features are kept between fits (a guided search refits every step on mostly the same cells)."""


class FeatureCaches:
    """The feature rows a process keeps between fits, each a pure function of the cell: the cheap rows
    (paths, tokens) by space, size and feature set, and the data-free zero-cost rows by space and size.

    :meth:`reset` empties them, as a new process starts (a test may give another ``limit``)."""

    def __init__(self, limit: int = CACHE_CELLS) -> None:
        self.limit = limit
        self.cheap: dict[tuple[str, int, str], dict[Any, np.ndarray]] = {}
        self.data_free: dict[tuple[str, int], ZeroCostFeatures] = {}

    def reset(self, limit: int = CACHE_CELLS) -> None:
        self.limit, self.cheap, self.data_free = limit, {}, {}


CACHES = FeatureCaches()
"""This process's cached feature rows."""


def parse_features(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError("features must name at least one feature set: paths, tokens, zero-cost")
    for name in names:
        if name not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {name!r}: choose from {', '.join(FEATURE_SETS)} (comma-separated)")
    return names


def token_features(space: SearchSpace, cells: Sequence[Any]) -> np.ndarray:
    """One-hot of every token of every block, blocks padded to ``space.max_level`` (absent: all zeros)."""
    spec = space.token_spec
    width = spec.inputs_per_block * spec.input_vocab + spec.ops_per_block * spec.op_vocab
    out = np.zeros((len(cells), space.max_level * width), dtype=np.float32)
    for row, cell in enumerate(cells):
        for b, (inputs, ops) in enumerate(space.encode(cell)[: space.max_level]):
            base = b * width
            for i, token in enumerate(inputs):
                out[row, base + i * spec.input_vocab + token] = 1.0
            base += spec.inputs_per_block * spec.input_vocab
            for i, token in enumerate(ops):
                out[row, base + i * spec.op_vocab + token] = 1.0
    return out


def proxy_network(space: SearchSpace, cell: Any, *, in_channels: int = 3, num_classes: int = 10) -> Any:
    """The cell's small untrained network that zero-cost proxies score (the space's own,
    :meth:`~pnas.space.base.SearchSpace.proxy_network`: its skeleton narrowed to one cell per stage, so a
    proxy costs a few hundredths of a second per cell), its weights drawn from a seed of the cell's text."""
    # the initial weights from the cell alone: a row computed again (another process, a resumed study) is
    # the same row, and the caller's random state is left as it was
    seed = int.from_bytes(hashlib.sha256(space.format(cell).encode()).digest()[:8], "little")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.proxy_network(cell, in_channels=in_channels, num_classes=num_classes)


def zero_cost_row(space: SearchSpace, cell: Any, probe: Probe | None = None) -> np.ndarray:
    """SynFlow, log parameters and log mult-adds of the cell's proxy network, and with a ``probe`` of the
    study's images its NASWOT score on them (the network then takes the images' channels and classes)."""
    from pnas.nets.zero_cost import zero_cost_features

    if probe is None:
        model = proxy_network(space, cell)
        found = zero_cost_features(model, DATA_FREE_INPUT)
        return np.array([found[k] for k in ZERO_COST_COLUMNS], dtype=np.float64)
    images = probe.images
    shape = tuple(int(n) for n in images.shape[1:])
    model = proxy_network(space, cell, in_channels=shape[0], num_classes=probe.num_classes)
    found = zero_cost_features(model, shape, images)
    return np.array([found[k] for k in (*ZERO_COST_COLUMNS, "naswot")], dtype=np.float64)


class ZeroCostFeatures:
    """The zero-cost rows of one study's cells, each computed once.

    What is computed is also queued for :meth:`take_new`, so a strategy can keep it in the study's store
    and hand it back with :meth:`remember` when the study resumes: a resumed search builds no network
    it has already scored. ``computed`` counts the rows this object built (for tests and reports).
    """

    def __init__(self, space: SearchSpace, probe: Probe | None = None) -> None:
        self.space, self.probe = space, probe
        self.columns = ZERO_COST_COLUMNS + (("naswot",) if probe is not None else ())
        self.known: dict[Any, np.ndarray] = {}
        self.computed = 0
        self._new: list[Any] = []

    def rows(self, cells: Sequence[Any]) -> np.ndarray:
        """[len(cells), len(columns)], computing only the rows not known yet."""
        for cell in dict.fromkeys(cells):
            if cell not in self.known:
                self.known[cell] = zero_cost_row(self.space, cell, self.probe)
                self.computed += 1
                self._new.append(cell)
        if not cells:
            return np.zeros((0, len(self.columns)))
        return np.stack([self.known[c] for c in cells])

    def take_new(self) -> tuple[list[Any], np.ndarray]:
        """The cells scored since the last call, and their rows (to store)."""
        cells, self._new = self._new, []
        rows = np.stack([self.known[c] for c in cells]) if cells else np.zeros((0, len(self.columns)))
        return cells, rows

    def remember(self, cells: Sequence[Any], rows: np.ndarray) -> None:
        """Rows computed before (read back from a store): not computed again."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.shape != (len(cells), len(self.columns)):
            raise ValueError(
                f"stored zero-cost rows have shape {rows.shape}, expected ({len(cells)}, {len(self.columns)}): "
                "they were computed with other features"
            )
        for cell, row in zip(cells, rows):
            self.known.setdefault(cell, row)

    def clear(self) -> None:
        self.known.clear()
        self._new.clear()


def shared_zero_cost(space: SearchSpace) -> ZeroCostFeatures:
    """Data-free zero-cost rows shared by every predictor of a process that was given no study's rows."""
    source = CACHES.data_free.setdefault((space.name, space.max_level), ZeroCostFeatures(space))
    if len(source.known) > CACHES.limit:
        source.clear()
    return source


def _cheap_rows(space: SearchSpace, name: str, cells: Sequence[Any]) -> np.ndarray:
    known = CACHES.cheap.setdefault((space.name, space.max_level, name), {})
    missing = [c for c in dict.fromkeys(cells) if c not in known]
    if len(known) + len(missing) > CACHES.limit:
        known.clear()
        missing = list(dict.fromkeys(cells))
    if missing:
        if name == "paths":
            rows = np.asarray(space.path_encodings(missing), dtype=np.float32)
        else:
            rows = token_features(space, missing)
        known.update(zip(missing, rows))
    return np.stack([known[c] for c in cells])


def cell_features(
    space: SearchSpace,
    cells: Sequence[Any],
    features: Sequence[str],
    zero_cost: ZeroCostFeatures | None = None,
) -> np.ndarray:
    """The cells' feature vectors, [len(cells), width] (float64): the named sets side by side.
    Zero-cost rows come from ``zero_cost`` (default: data-free rows shared in this process)."""
    if not cells:
        return np.zeros((0, 1))
    parts = []
    for name in features:
        if name == "zero-cost":
            parts.append((zero_cost or shared_zero_cost(space)).rows(cells))
        else:
            parts.append(_cheap_rows(space, name, cells).astype(np.float64))
    return np.concatenate(parts, axis=1)


class FeatureEnsemble:
    """``ensemble`` MLPs (one hidden layer of ``hidden`` ReLUs) on :func:`cell_features`, fitted together."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        ensemble: int = 5,
        features: str = "paths",
        hidden: int = 64,
        epochs: int = 300,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
    ) -> None:
        if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
            raise ValueError(f"ensemble must be a positive integer, got {ensemble!r}")
        self.space, self.seed, self.size = space, int(seed), ensemble
        self.features = parse_features(features)
        self.hidden, self.epochs, self.lr, self.weight_decay = hidden, epochs, lr, weight_decay
        self.weights: dict[str, torch.Tensor] | None = None
        self.zero_cost: ZeroCostFeatures | None = None

    @property
    def costly_features(self) -> tuple[str, ...]:
        return tuple(name for name in self.features if name in COSTLY_FEATURES)

    def use_zero_cost(self, source: ZeroCostFeatures) -> None:
        """Take zero-cost rows from ``source`` (a study's, with its images) instead of the process's data-free ones."""
        self.zero_cost = source

    def _features(self, cells: Sequence[Any]) -> np.ndarray:
        return cell_features(self.space, list(cells), self.features, self.zero_cost)

    def fit(self, cells: Sequence[Any], accuracies: Sequence[float]) -> None:
        targets = check_training_data(cells, accuracies).double().numpy()
        x = self._features(list(cells))
        # a feature no training cell has says nothing the data could teach: leave it out (its weights would
        # stay random and add noise to every prediction of a cell that has it), which also keeps fits quick
        columns = np.flatnonzero(x.any(axis=0))
        x = x[:, columns]
        # 0/1 columns (paths, tokens) stay as they are; others (zero-cost scores, counts) are standardised
        binary = np.all((x == 0) | (x == 1), axis=0)
        shift = np.where(binary, 0.0, x.mean(axis=0))
        spread = x.std(axis=0)
        spread = np.where(binary | (spread < 1e-12), 1.0, spread)
        x = (x - shift) / spread
        count, width, members = x.shape[0], x.shape[1], self.size
        mask = np.zeros((members, count))
        for m, keep in enumerate(fold_indices(count, members, self.seed)):
            mask[m, keep] = 1.0
        mask /= mask.sum()
        mean = float(targets.mean())
        scale = float(targets.std()) if count > 1 and targets.std() > 1e-8 else 1.0
        y = (targets - mean) / scale
        rng = np.random.default_rng(member_seed(self.seed, members))
        shapes = {
            "w1": (members, width, self.hidden),
            "b1": (members, 1, self.hidden),
            "w2": (members, self.hidden, 1),
            "b2": (members, 1, 1),
        }
        flat = np.zeros(sum(int(np.prod(shape)) for shape in shapes.values()))
        params, offset = {}, 0
        for name, shape in shapes.items():  # views into one flat vector, which Adam updates in one go
            params[name] = flat[offset : offset + int(np.prod(shape))].reshape(shape)
            offset += int(np.prod(shape))
        params["w1"][...] = rng.uniform(-1, 1, shapes["w1"]) / np.sqrt(width)
        params["w2"][...] = rng.uniform(-1, 1, shapes["w2"]) / np.sqrt(self.hidden)
        adam = _Adam(flat, self.lr, self.weight_decay)
        for _ in range(self.epochs):
            hidden = x @ params["w1"] + params["b1"]
            active = np.maximum(hidden, 0.0)
            out = (active @ params["w2"])[..., 0] + params["b2"][..., 0]
            d_out = 2.0 * mask * (out - y)  # of sum(mask * (out - y)^2), mask normalised to sum 1
            d_hidden = d_out[..., None] * np.transpose(params["w2"], (0, 2, 1)) * (hidden > 0)
            adam.step(np.concatenate([
                (x.T @ d_hidden).ravel(),
                d_hidden.sum(axis=1).ravel(),
                (np.transpose(active, (0, 2, 1)) @ d_out[..., None]).ravel(),
                d_out.sum(axis=1),
            ]))  # fmt: skip
        self.weights = {k: torch.from_numpy(v.copy()) for k, v in params.items()}
        self.weights["columns"] = torch.from_numpy(columns.astype(np.int64))
        self.weights["shift"] = torch.from_numpy(shift)
        self.weights["spread"] = torch.from_numpy(spread)
        self.weights["target"] = torch.tensor([mean, scale], dtype=torch.float64)

    def predict_members(self, cells: Sequence[Any]) -> np.ndarray:
        """[members, len(cells)] predicted accuracies."""
        if self.weights is None:
            raise ValueError("the predictor has not been fitted: call fit() or load_state_dict() before predicting")
        w = {k: v.numpy() for k, v in self.weights.items()}
        x = (self._features(list(cells))[:, w["columns"]] - w["shift"]) / w["spread"]
        hidden = np.maximum(x @ w["w1"] + w["b1"], 0.0)
        out = (hidden @ w["w2"])[..., 0] + w["b2"][..., 0]
        mean, scale = w["target"].tolist()
        return np.asarray(out * scale + mean)

    def predict(self, cells: Sequence[Any]) -> np.ndarray:
        return np.asarray(self.predict_members(cells).mean(axis=0), dtype=np.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.weights is None:
            raise ValueError("the predictor has not been fitted: nothing to save")
        return {k: v.clone() for k, v in self.weights.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = {"w1", "b1", "w2", "b2", "target", "columns", "shift", "spread"}
        if set(state) != expected or state["w1"].shape[0] != self.size:
            raise ValueError(
                f"weights do not fit this {self.size}-member feature ensemble "
                "(build it with the same space and options as the one that saved them)"
            )
        self.weights = {k: v if k == "columns" else v.double() for k, v in state.items()}


class _Adam:
    """Adam (Kingma and Ba, 2015) on one flat parameter vector, with L2 weight decay added to the
    gradient as torch's ``Adam`` does."""

    def __init__(self, params: np.ndarray, lr: float, weight_decay: float) -> None:
        self.params, self.lr, self.weight_decay = params, lr, weight_decay
        self.first = np.zeros_like(params)
        self.second = np.zeros_like(params)
        self.steps = 0

    def step(self, grad: np.ndarray, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.steps += 1
        grad = grad + self.weight_decay * self.params
        self.first *= beta1
        self.first += (1 - beta1) * grad
        self.second *= beta2
        self.second += (1 - beta2) * grad * grad
        step = self.lr / (1 - beta1**self.steps)
        self.params -= step * self.first / (np.sqrt(self.second / (1 - beta2**self.steps)) + eps)


def build_features(space: SearchSpace, *, seed: int = 0, ensemble: int = 5, **options: Any) -> FeatureEnsemble:
    """An ensemble of small MLPs on the cell's path encoding (or tokens), trained together."""
    return FeatureEnsemble(space, seed=seed, ensemble=ensemble, **options)
