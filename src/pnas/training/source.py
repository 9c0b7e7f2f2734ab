"""What to train: a cell's text, a named network, or a study's R-th best cell, made into a RunSpec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pnas.evaluation.data import dataset_classes, dataset_fingerprint, load_dataset
from pnas.nets.registry import NAMED_NETWORKS, NetworkConfig, network_config
from pnas.space import Cell, space_from_config
from pnas.training.config import (
    DEFAULT_CELLS_PER_STACK,
    DEFAULT_DROP_PATH,
    DEFAULT_FILTERS,
    DataInfo,
    NetworkChoices,
    TrainConfig,
)
from pnas.training.run import RunError, RunSpec


def parse_cell(text: str) -> Cell:
    try:
        return Cell.parse(text)
    except ValueError as exc:
        raise RunError(
            f"{text!r} is neither a cell nor a named network ({exc}); a cell reads like "
            f"'sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)', the networks are {', '.join(NAMED_NETWORKS)}"
        ) from None


def cell_from_study(storage: str | Path, study: str | None, rank: int) -> tuple[Cell, dict[str, Any]]:
    """The ``rank``-th best trained cell of a study (1 = best), and the study's configuration."""
    from pnas.storage.base import StoreError
    from pnas.study.api import load_study

    if not Path(storage).expanduser().exists():
        raise RunError(f"--storage {storage}: no such study file")
    try:
        with load_study(study, storage) as handle:
            best, config, name = handle.best(rank), handle.config, handle.name
    except StoreError as exc:
        raise RunError(str(exc)) from None
    space = space_from_config(config.get("space") or {})
    if not isinstance(space.initial_cells()[0], Cell):
        raise RunError(
            f"study {name!r} searched the {space.name} space, whose cells are not PNAS cells; "
            "pnas train builds networks from PNAS cells only"
        )
    if len(best) < rank:
        raise RunError(
            f"study {name!r} has {len(best)} trained cell{'s' if len(best) != 1 else ''}, so it has no rank {rank}: "
            f"pass --rank between 1 and {max(len(best), 1)}"
        )
    return Cell.parse(best[rank - 1].cell), config


def data_info(config: TrainConfig) -> DataInfo:
    """The data set as the network sees it; loading it here also checks it before anything is written."""
    splits = load_dataset(
        config.dataset, data_dir=config.data_dir, image_size=config.image_size, train_subset=config.train_subset,
        val_size=config.val_size, seed=config.seed,
    )  # fmt: skip
    classes = dataset_classes(config.dataset, data_dir=config.data_dir, image_size=config.image_size)
    return DataInfo(
        dataset=config.dataset, channels=splits.channels, image_size=splits.image_size,
        num_classes=splits.num_classes, mean=tuple(splits.mean), std=tuple(splits.std), classes=classes,
    )  # fmt: skip


def network_for(target: Cell | str, data: DataInfo, choices: NetworkChoices, aux_head: bool) -> NetworkConfig:
    """The network to train: a named one (its own sizes unless overridden) or a cell's, sized for the data."""
    given = {
        key: value
        for key, value in dict(
            network=choices.network, cells_per_stack=choices.cells_per_stack, filters=choices.filters,
            stem_multiplier=choices.stem_multiplier, concat=choices.concat, drop_path=choices.drop_path,
            dropout=choices.dropout,
        ).items()
        if value is not None
    }  # fmt: skip
    sized = dict(in_channels=data.channels, image_size=data.image_size, num_classes=data.num_classes, aux_head=aux_head)
    try:
        if isinstance(target, str):
            return network_config(target, **sized, **given)
        defaults: dict[str, Any] = dict(
            cells_per_stack=DEFAULT_CELLS_PER_STACK,
            filters=DEFAULT_FILTERS,
            drop_path=DEFAULT_DROP_PATH,
            stem_multiplier=3,
        )
        return NetworkConfig(cell=target, **{**defaults, **sized, **given})
    except ValueError as exc:
        raise RunError(str(exc)) from None


def make_spec(target: Cell | str, config: TrainConfig, choices: NetworkChoices) -> RunSpec:
    data = data_info(config)
    fingerprint = dataset_fingerprint(config.dataset, data_dir=config.data_dir, image_size=config.image_size)
    return RunSpec(network_for(target, data, choices, aux_head=config.aux_weight > 0), config, data, fingerprint)
