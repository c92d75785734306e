"""Choose a decision rule on development data: every setting of a grid, one encoder pass.

The decision rule acts only after the encoder (:mod:`spertmt.decoding`), so the documents are
encoded once (:meth:`~spertmt.inference.predictor.Predictor.encode`) and re-decided under each
setting of the grid (:meth:`~spertmt.inference.predictor.Predictor.decode`); the rows equal
predicting every setting from scratch. The best setting maximises the chosen metric, then
entity micro F1, then comes first in grid order (a deterministic tie-break).

Thresholds are chosen on dev data, never on test: :func:`tune_rule` does not know which split
it is given, ``spertmt tune`` refuses a split named ``test``.

Example:
    >>> result = tune_rule(predictor, dev_docs, {"relation_threshold": [0.4, 0.5, 0.6]})
    ... # doctest: +SKIP
    >>> result.best.rule.relation_threshold  # doctest: +SKIP
    0.5
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spertmt.config import DecisionRule, ModelConfig
from spertmt.errors import ConfigError
from spertmt.evaluation.metrics import evaluate_documents
from spertmt.inference.predictor import Predictor, ProgressHook
from spertmt.schema import Document

METRICS = (
    "relation_strict_micro_f1",
    "relation_strict_macro_f1",
    "relation_boundaries_micro_f1",
    "entity_micro_f1",
    "entity_macro_f1",
)
"""The metrics a grid can be tuned for."""


@dataclass(frozen=True)
class TuningRow:
    """One setting of the grid and its scores.

    Attributes:
        setting: The grid's fields and their values in this row.
        rule: The whole decision rule of this row.
        scores: The headline numbers (:data:`METRICS`), in percent.
        seconds: Time to decide and score this row.
    """

    setting: dict[str, Any]
    rule: DecisionRule
    scores: dict[str, float]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "setting": self.setting,
            "rule": dataclasses.asdict(self.rule),
            **self.scores,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class TuningResult:
    """Every row of a grid and the best one.

    Attributes:
        metric: What was maximised.
        base: The rule the grid's settings were applied to.
        grid: The grid.
        rows: One row per setting, in grid order.
        best: The chosen row.
        encode_seconds: Time of the one encoder pass.
    """

    metric: str
    base: DecisionRule
    grid: dict[str, list[Any]]
    rows: tuple[TuningRow, ...]
    best: TuningRow
    encode_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "base": dataclasses.asdict(self.base),
            "grid": self.grid,
            "rows": [row.to_dict() for row in self.rows],
            "best": self.best.to_dict(),
            "encode_seconds": self.encode_seconds,
        }


def default_grid(config: ModelConfig) -> dict[str, list[Any]]:
    """A grid over the fields that act on a model with ``config``'s heads.

    Relation threshold and overlap handling always; τ_e with head A; the IoU threshold with
    head B1; τ_r with head C.
    """
    steps = [0.3, 0.4, 0.5, 0.6, 0.7]
    grid: dict[str, list[Any]] = {
        "relation_threshold": steps,
        "entity_overlap": ["allow", "resolve"],
    }
    if config.entity_binary_head:
        grid["entity_threshold"] = steps
    if config.iou_mode == "head":
        grid["iou_threshold"] = [0.0, 0.3, 0.5]
    if config.relation_binary_head:
        grid["relation_binary_threshold"] = steps
    return grid


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``field=v1,v2,...`` items (``decision.`` prefix optional) into a grid.

    Raises:
        ConfigError: For an item that is not ``field=v1,...`` (E212), an unknown field (E201)
            or a bad value (E203, E206).

    Example:
        >>> parse_grid(["relation_threshold=0.4,0.5", "decision.entity_overlap=allow,resolve"])
        {'relation_threshold': [0.4, 0.5], 'entity_overlap': ['allow', 'resolve']}
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        name = key.strip().removeprefix("decision.")
        if not sep or not values.strip():
            raise ConfigError(
                f"grid item {item!r} must look like field=v1,v2 (e.g. relation_threshold=0.4,0.5)",
                code="E212",
            )
        parsed = []
        for value in values.split(","):
            text = value.strip()
            try:
                literal: Any = float(text)
            except ValueError:
                literal = text
            parsed.append(getattr(DecisionRule().replace(**{name: literal}), name))
        grid[name] = parsed
    return grid


def tune_rule(
    predictor: Predictor,
    gold: Sequence[Document],
    grid: Mapping[str, Sequence[Any]],
    *,
    base: DecisionRule | None = None,
    metric: str = "relation_strict_micro_f1",
    batch_size: int = 32,
    no_overlap: bool = False,
    on_row: Callable[[TuningRow], None] | None = None,
    progress: ProgressHook | None = None,
) -> TuningResult:
    """Score every setting of ``grid`` on ``gold`` and choose the best.

    Args:
        predictor: The model to tune.
        gold: Development documents with gold entities and relations.
        grid: Decision-rule fields and the values to try for each (all combinations).
        base: The rule the settings are applied to (default: the predictor's).
        metric: One of :data:`METRICS`.
        batch_size: Documents per forward pass of the encoder pass.
        no_overlap: Score without overlapping entities (ADE's second setting).
        on_row: Called with each row as soon as it is scored (progress, logging).
        progress: Called with the number of documents encoded after each batch of the one
            encoder pass.

    Returns:
        All rows and the best.

    Raises:
        ConfigError: For an unknown metric or field, or a bad value (naming it).
    """
    if metric not in METRICS:
        raise ConfigError(
            f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}", code="E203"
        )
    base = base if base is not None else predictor.rule
    names = list(grid)
    settings = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())
    ]
    rules = [base.replace(**setting) for setting in settings]  # validates before the encoder runs
    start = time.perf_counter()
    encoded = predictor.encode(gold, batch_size=batch_size, progress=progress)
    encode_seconds = round(time.perf_counter() - start, 3)
    types = predictor.model.types
    rows = []
    for setting, rule in zip(settings, rules, strict=True):
        start = time.perf_counter()
        report = evaluate_documents(
            gold, predictor.decode(encoded, rule=rule), types, no_overlap=no_overlap
        )
        data = report.to_dict()
        scores = {
            "relation_strict_micro_f1": data["relation_strict"]["micro"]["f1"],
            "relation_strict_macro_f1": data["relation_strict"]["macro"]["f1"],
            "relation_boundaries_micro_f1": data["relation_boundaries"]["micro"]["f1"],
            "entity_micro_f1": data["entity"]["micro"]["f1"],
            "entity_macro_f1": data["entity"]["macro"]["f1"],
        }
        row = TuningRow(setting, rule, scores, round(time.perf_counter() - start, 3))
        rows.append(row)
        if on_row is not None:
            on_row(row)
    best = max(
        enumerate(rows),
        key=lambda item: (item[1].scores[metric], item[1].scores["entity_micro_f1"], -item[0]),
    )[1]
    return TuningResult(
        metric=metric,
        base=base,
        grid={name: list(values) for name, values in grid.items()},
        rows=tuple(rows),
        best=best,
        encode_seconds=encode_seconds,
    )
