"""A sweep file's tables as parsed, before any ``TrialSpec`` is built.

``ConfigTables`` is what naming the key of a bad value needs (:mod:`synprune.config.validate`
reads it); :class:`~synprune.config.loader.SweepConfig` extends it with the grid's specs. Keeping
it here, below both, means the loader imports validation and validation never imports the
loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synprune.config.checks import merged
from synprune.config.grid import ArmSource, Cut
from synprune.config.tuned import tuned_params
from synprune.config.tuning import TuningConfig
from synprune.errors import ConfigError
from synprune.experiment.spec import TrainSpec


@dataclass(frozen=True)
class Resources:
    """Per-trial resources: ``cpu`` (Ray CPUs = torch threads), ``gpu`` (fraction ok),
    ``workers`` (> 1: data-parallel Ray Train workers inside the trial)."""

    cpu: float = 1.0
    gpu: float = 0.0
    workers: int = 1

    @property
    def threads(self) -> int:
        return max(1, int(self.cpu))


@dataclass(frozen=True)
class ConfigTables:
    """The file's grid and tables (``[train]``, ``[models.*]``, ``[regularizers.*]``,
    ``[datasets.*]``, ``[tuning]``, the tuned file) exactly as parsed."""

    path: Path
    grid: Mapping[str, tuple[Any, ...]]  # the fixed axes (AXES)
    arms: tuple[ArmSource, ...]  # the regularizer axis with its swept fields, then extras
    model_sweeps: Mapping[str, Mapping[str, tuple[Any, ...]]]
    train_sweeps: Mapping[str, tuple[Any, ...]]
    cuts: tuple[Cut, ...]
    train: TrainSpec
    models: Mapping[str, Mapping[str, Any]]
    regularizers: Mapping[str, Mapping[str, Any]]
    datasets: Mapping[str, Mapping[str, Any]]
    tuning: TuningConfig
    tuned_path: Path | None
    tuned: Mapping[str, Any]

    def err(self, msg: str) -> ConfigError:
        return ConfigError(f"{self.path}: {msg}")

    def reg_table(self, name: str) -> dict[str, Any]:
        """The params a regularizer's tables give: ``[regularizers.NAME]``; a composite
        ``a+b``: ``{a: [regularizers.a], b: [regularizers.b]}`` under ``[regularizers."a+b"]``."""
        own = dict(self.regularizers.get(name, {}))
        if "+" not in name:
            return own
        parts = {p: dict(self.regularizers.get(p, {})) for p in name.split("+")}
        return merged(parts, own)

    def tuned_params(self, model: str, dataset: str, regularizer: str) -> dict[str, Any]:
        """The tuned file's params for one (model, dataset, regularizer); ``{}`` if none."""
        return tuned_params(self.tuned, model, dataset, regularizer)
