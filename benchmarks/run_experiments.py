"""Run declared experiments (``benchmarks/experiments/*.toml``): resumable, one record per run.

For every variant and seed of the experiment files given, in file order:

- a run whose record (``benchmarks/results/<dataset>-test_<variant>_<encoder>_seed<N>.json``)
  exists is skipped (``--force`` redoes it);
- a trained variant trains into ``runs/benchmarks/<dataset>/<variant>-seed<N>`` and resumes
  there from its last epoch when a session stopped it; a finished run folder is reused;
- a ``run_of`` variant re-decides another variant's finished runs (no training; only the
  decision rule may differ);
- a variant with ``folds`` (cross-validation, ADE's 10 folds) runs every fold and seed: fold F
  trains on ``<dataset>:F:train`` and tests on ``<dataset>:F:test`` in
  ``runs/benchmarks/<dataset>/<variant>-fold<F>-seed<N>``; ``report.py`` pools the folds;
- ``also_no_overlap = true`` at the top of a file scores every run's test split a second time
  without overlapping entities (``metrics_no_overlap``, ADE's second setting);
- with ``tune``, the decision rule is chosen on the run's **dev** split
  (:func:`spertmt.inference.tuning.tune_rule`) and the test split is scored once with it;
  ``tune_metric`` at the top of a file names the dev score it maximises (default
  ``relation_strict_micro_f1``; SciERC's protocol is ``relation_boundaries_micro_f1``);
- the record holds the command, seed, commit, config, encoder, hardware and versions, the
  precision each training process used (``train_precisions``: ``train.precision = "auto"``
  resolves per machine, and a run resumed elsewhere may mix them), and ``docs/results.md`` is
  regenerated (``report.py``, which names any compared pair trained in different arithmetic).

Before its first run the command checks that every planned run's datasets can be found: a
missing one stops it at once (exit 2), naming the file, the variant and the field, with the fix.
A run stopped by bad input (a library error: data, config, checkpoint) is named with its error
code, the runs that re-decide it are skipped, and the rest of the plan goes on (exit 1).

An experiment file may also declare ``[[comparison]]`` tables (two of its variants, a metric, a
label and a note): nothing is run for them; :func:`load_experiment` checks them and
``report.py`` puts them, paired by seed, in the Headline section of ``docs/results.md``.

Progress shows done/total runs and an ETA: each run left is timed by the recorded runs of the
same training (data, encoder, batch size, precision, epochs: :func:`training_key`), scaled by
how this session's finished runs compared with their estimates (the machine's load as it is
now). A training never recorded is timed from its data under another recorded recipe, scaled
by what the two recipes cost on a dataset that has both (:func:`scaled_seconds`; said as
"scaled"); one that nothing connects (an encoder and batch size never recorded) is counted,
not timed. ``--list`` ends with the same estimate for everything left. ``--threads 1``
leaves the second core free for other work.

``--time-limit 2h50m`` (a cluster job's wall time, a session's end) starts only runs expected
to end before the limit, by the same estimate, and goes on to shorter runs; a run never timed
is started (a stopped run resumes at its last epoch anyway). The same command started twice
or more shares the plan: each run is claimed by one worker (an advisory lock under
``<workdir>/.claims/``, freed when its process ends, killed or not), the others go on to the
next run and try it again at the end of their pass (resuming it if its worker has stopped),
and a re-decision is left to the worker that trains its run.

Usage::

    python benchmarks/run_experiments.py benchmarks/experiments/conll04.toml --threads 1
    python benchmarks/run_experiments.py benchmarks/experiments/conll04.toml --only spert
    python benchmarks/run_experiments.py benchmarks/experiments/conll04.toml --list
    python benchmarks/run_experiments.py benchmarks/experiments/ade.toml --folds 0 1
    python benchmarks/run_experiments.py benchmarks/experiments/*.toml --time-limit 2h50m &
    python benchmarks/run_experiments.py benchmarks/experiments/*.toml --time-limit 2h50m
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import (  # noqa: E402
    RESULTS,
    ROOT,
    changed_files,
    dev_history,
    git_commit,
    hardware,
    shown,
    training_precisions,
    training_seconds,
    versions,
    write_json,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

WORKDIR = ROOT / "runs" / "benchmarks"


@dataclass(frozen=True)
class Variant:
    """One declared variant of an experiment (see ``benchmarks/experiments/conll04.toml``)."""

    name: str
    seeds: tuple[int, ...]
    description: str
    config: str | None = None
    overrides: tuple[str, ...] = ()
    run_of: str | None = None
    tune: dict[str, list[Any]] | None = None
    removed: str | None = None
    folds: tuple[int, ...] = ()


SETTINGS = ("entity", "relation_strict", "relation_boundaries")
"""The evaluation settings a comparison's metric can name (``EvalReport.to_dict`` keys)."""
AVERAGES = ("micro", "macro")
TUNING_METRICS = (
    "relation_strict_micro_f1",
    "relation_strict_macro_f1",
    "relation_boundaries_micro_f1",
    "entity_micro_f1",
    "entity_macro_f1",
)
"""What ``tune_metric`` can name: :data:`spertmt.inference.tuning.METRICS`, kept here so that
reading an experiment file needs no torch (a test checks the two agree)."""


@dataclass(frozen=True)
class Comparison:
    """One declared comparison: ``variant`` minus ``baseline``, paired by seed.

    ``report.py`` renders every comparison in the Headline section of ``docs/results.md`` and
    writes it to ``benchmarks/results/comparisons.json``. Metrics are ``(setting, average)``
    pairs, e.g. ``("relation_strict", "micro")``; written ``"relation_strict.micro"`` in TOML.
    ``headline`` marks the comparison that is the dataset's entry of
    ``benchmarks/results/headline.json`` (at most one per experiment file). ``split`` is the
    split whose scores are compared: ``"test"`` (the records' ``metrics``) or ``"dev"`` (their
    ``dev_metrics``: the final model's dev scores under its training config's decision rule,
    so only for variants that are not re-scored, without ``run_of`` or ``tune``); a headline
    compares test scores.
    """

    name: str
    label: str
    variant: str
    baseline: str
    metric: tuple[str, str]
    also: tuple[tuple[str, str], ...] = (("entity", "micro"),)
    note: str = ""
    headline: bool = False
    split: str = "test"


@dataclass(frozen=True)
class Experiment:
    """An experiment file: its dataset, variants and comparisons, in file order."""

    path: Path
    dataset: str
    variants: tuple[Variant, ...] = field(default_factory=tuple)
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)
    also_no_overlap: bool = False
    tune_metric: str = "relation_strict_micro_f1"

    def variant(self, name: str) -> Variant:
        """The variant called ``name``."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise SystemExit(f"{self.path}: no variant named {name!r}")


_FIELDS = {f.name for f in dataclasses.fields(Variant)}
_COMPARISON_FIELDS = {f.name for f in dataclasses.fields(Comparison)}
COMPARISON_SPLITS = {"test": "metrics", "dev": "dev_metrics"}
"""A comparison's ``split`` and the record field that holds its scores."""
_TOP_LEVEL = {"dataset", "grids", "variant", "comparison", "also_no_overlap", "tune_metric"}


def parse_metric(text: object, where: str) -> tuple[str, str]:
    """``"relation_strict.micro"`` → ``("relation_strict", "micro")``; a bad name names ``where``.

    Args:
        text: The metric as written in the experiment file.
        where: The file and table the metric comes from, for the error message.

    Returns:
        The evaluation setting and the average.

    Raises:
        SystemExit: When the metric is not ``SETTING.AVERAGE`` with a known setting and average.
    """
    setting, _, average = str(text).partition(".")
    if setting not in SETTINGS or average not in AVERAGES:
        raise SystemExit(
            f"{where}: metric {text!r} is not SETTING.AVERAGE with SETTING one of "
            f"{list(SETTINGS)} and AVERAGE one of {list(AVERAGES)} "
            '(e.g. "relation_strict.micro")'
        )
    return setting, average


def _comparisons(path: Path, data: dict[str, Any], variants: list[Variant]) -> list[Comparison]:
    """The ``[[comparison]]`` tables of an experiment file, checked against its variants."""
    names = {variant.name for variant in variants}
    comparisons: list[Comparison] = []
    seen: set[str] = set()
    for index, raw in enumerate(data.get("comparison", [])):
        where = f"{path}, comparison {index} ({raw.get('name', '?')})"
        unknown = set(raw) - _COMPARISON_FIELDS
        if unknown:
            raise SystemExit(
                f"{where}: unknown field(s) {sorted(unknown)}; fields: {sorted(_COMPARISON_FIELDS)}"
            )
        for required in ("name", "label", "variant", "baseline", "metric"):
            if required not in raw:
                raise SystemExit(f"{where}: missing {required!r}")
        if raw["name"] in seen:
            raise SystemExit(f"{where}: the name is used twice")
        seen.add(raw["name"])
        for side in ("variant", "baseline"):
            if raw[side] not in names:
                raise SystemExit(
                    f"{where}: {side} {raw[side]!r} is not a variant of this file; "
                    f"variants: {sorted(names)}"
                )
        if raw["variant"] == raw["baseline"]:
            raise SystemExit(f"{where}: variant and baseline are the same variant")
        also = raw.get("also", ["entity.micro"])
        if isinstance(also, str) or not isinstance(also, list):
            raise SystemExit(f'{where}: also is a list of metrics, e.g. ["entity.micro"]')
        metric = parse_metric(raw["metric"], where)
        split = raw.get("split", "test")
        if split not in COMPARISON_SPLITS:
            raise SystemExit(f"{where}: split {split!r} is not one of {list(COMPARISON_SPLITS)}")
        if split != "test" and raw.get("headline", False):
            raise SystemExit(f"{where}: a headline compares test scores, not {split}")
        if split == "dev":
            for side in ("variant", "baseline"):
                rescored = next(v for v in variants if v.name == raw[side])
                if rescored.run_of or rescored.tune is not None:
                    raise SystemExit(
                        f"{where}: {side} {raw[side]!r} is re-scored (run_of or tune): its "
                        "records' dev scores are of its training's decision rule, not of the "
                        "rule its test scores use; compare it on test"
                    )
        comparisons.append(
            Comparison(
                name=raw["name"],
                label=raw["label"],
                variant=raw["variant"],
                baseline=raw["baseline"],
                metric=metric,
                also=tuple(m for m in (parse_metric(text, where) for text in also) if m != metric),
                note=raw.get("note", ""),
                headline=bool(raw.get("headline", False)),
                split=split,
            )
        )
    headlines = [c.name for c in comparisons if c.headline]
    if len(headlines) > 1:
        raise SystemExit(f"{path}: only one comparison may be the headline, not {headlines}")
    return comparisons


def _folds(where: str, raw: object) -> tuple[int, ...]:
    """A variant's ``folds``: distinct non-negative fold numbers."""
    if not isinstance(raw, (list, tuple)) or not all(
        isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in raw
    ):
        raise SystemExit(f"{where}: folds is a list of fold numbers, e.g. [0, 1, 2]")
    if len(set(raw)) != len(raw):
        raise SystemExit(f"{where}: a fold is listed twice in {list(raw)}")
    return tuple(raw)


def load_experiment(path: Path) -> Experiment:
    """Read and check an experiment file; every problem names the file and the variant."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(data) - _TOP_LEVEL
    if unknown:
        raise SystemExit(
            f"{path}: unknown top-level key(s) {sorted(unknown)}; keys: {sorted(_TOP_LEVEL)}"
        )
    if "dataset" not in data:
        raise SystemExit(f"{path}: missing 'dataset'")
    grids = data.get("grids", {})
    variants = []
    seen = set()
    for index, raw in enumerate(data.get("variant", [])):
        where = f"{path}, variant {index} ({raw.get('name', '?')})"
        unknown = set(raw) - _FIELDS
        if unknown:
            raise SystemExit(
                f"{where}: unknown field(s) {sorted(unknown)}; fields: {sorted(_FIELDS)}"
            )
        for required in ("name", "seeds", "description"):
            if required not in raw:
                raise SystemExit(f"{where}: missing {required!r}")
        if raw["name"] in seen:
            raise SystemExit(f"{where}: the name is used twice")
        seen.add(raw["name"])
        kinds = [key for key in ("config", "run_of", "removed") if key in raw]
        if len(kinds) != 1:
            raise SystemExit(f"{where}: give exactly one of config, run_of or removed")
        tune = raw.get("tune")
        if isinstance(tune, str):
            if tune not in grids:
                raise SystemExit(f"{where}: no grid named {tune!r} in [grids]")
            tune = grids[tune]
        variants.append(
            Variant(
                name=raw["name"],
                seeds=tuple(raw["seeds"]),
                description=raw["description"],
                config=raw.get("config"),
                overrides=tuple(raw.get("overrides", ())),
                run_of=raw.get("run_of"),
                tune={k: list(v) for k, v in tune.items()} if tune else None,
                removed=raw.get("removed"),
                folds=_folds(where, raw.get("folds", ())),
            )
        )
    also_no_overlap = data.get("also_no_overlap", False)
    if not isinstance(also_no_overlap, bool):
        raise SystemExit(f"{path}: also_no_overlap is true or false")
    tune_metric = data.get("tune_metric", "relation_strict_micro_f1")
    if tune_metric not in TUNING_METRICS:
        raise SystemExit(
            f"{path}: tune_metric {tune_metric!r} is not one of {', '.join(TUNING_METRICS)}"
        )
    experiment = Experiment(
        path,
        data["dataset"],
        tuple(variants),
        tuple(_comparisons(path, data, variants)),
        also_no_overlap=also_no_overlap,
        tune_metric=tune_metric,
    )
    for variant in experiment.variants:
        if variant.run_of is not None:
            base = experiment.variant(variant.run_of)
            if base.config is None:
                raise SystemExit(
                    f"{path}: {variant.name} runs of {base.name}, which trains nothing"
                )
            if variant.folds != base.folds:
                raise SystemExit(
                    f"{path}: {variant.name} must list the folds of {base.name} "
                    f"({list(base.folds)}), not {list(variant.folds)}"
                )
    return experiment


def _slug(dataset: str) -> str:
    """A file-name part for a dataset: ``conll04:test`` → ``conll04-test``."""
    if "/" in dataset or dataset.endswith((".json", ".jsonl")):
        dataset = Path(dataset).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.replace(":", "-")).strip("-") or "data"


def _run_config(
    experiment: Experiment,
    variant: Variant,
    seed: int,
    threads: int | None,
    fold: int | None = None,
):
    """The run configuration of one (variant, seed[, fold]); a run_of variant takes its base's
    config. A fold trains on ``<dataset>:<fold>:train`` and tests on ``<dataset>:<fold>:test``
    (cross-validation, as ADE's 10 folds)."""
    from spertmt.config import load_config

    trained = experiment.variant(variant.run_of) if variant.run_of else variant
    overrides = [
        *trained.overrides,
        *(variant.overrides if variant.run_of else ()),
        f"train.seed={seed}",
    ]
    if fold is not None:
        overrides += [
            f"data.train={experiment.dataset}:{fold}:train",
            f"data.test={experiment.dataset}:{fold}:test",
        ]
    if threads:
        overrides.append(f"train.threads={threads}")
    assert trained.config is not None
    return load_config(ROOT / trained.config, overrides=overrides), overrides


def result_path(experiment: Experiment, variant: Variant, seed: int, config) -> Path:
    """Where the record of one run goes."""
    dataset = config.data.test or config.data.train
    encoder = Path(config.model.encoder).name
    return RESULTS / f"{_slug(dataset)}_{variant.name}_{encoder}_seed{seed}.json"


def training_differences(trained: dict[str, Any], config) -> list[str]:
    """The ``section.key`` settings of a saved run config that differ from ``config``.

    Only training counts (model, train and data sections); the decision rule and
    ``train.threads`` may differ. A config of spertmt 0.1 is migrated first, and a key the
    saved config lacks (added to spertmt after the run) counts as its default, which every
    new key keeps equal to the behaviour before it (``train.precision = "fp32"``).
    """
    from spertmt.config import RunConfig, migrate_run_dict

    trained = migrate_run_dict(trained)
    ours = config.to_dict()
    defaults = RunConfig().to_dict()

    def saved(section: str, key: str) -> Any:
        values = trained.get(section, {})
        return values[key] if key in values else defaults[section].get(key)

    differ = sorted(
        f"{section}.{key}"
        for section in ("model", "train", "data")
        for key in set(trained.get(section, {})) | set(ours[section])
        if saved(section, key) != ours[section].get(key)
        and not (section == "train" and key == "threads")
    )
    return differ


def _check_same_training(config, run_dir: Path, variant: Variant) -> None:
    """Refuse to reuse a finished run that was not trained exactly as ``config`` says."""
    trained = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    differ = training_differences(trained, config)
    if differ:
        what = (
            "a run_of variant may change only the decision rule"
            if variant.run_of
            else ("move the folder away or remove it to train again")
        )
        raise SystemExit(
            f"{variant.name}: {run_dir} was trained with other settings ({', '.join(differ)}); "
            + what
        )


def _load_run(model_dir: Path, config):
    """A finished run's checkpoint, a predictor with the run's own decision rule (not the one
    saved with the checkpoint: a run_of variant may change it) and a reader of its splits."""
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents
    from spertmt.inference.predictor import Predictor
    from spertmt.model.checkpoint import checkpoint_types_file, load_checkpoint

    checkpoint = load_checkpoint(model_dir)
    predictor = Predictor(checkpoint.model, checkpoint.tokenizer, config.decision)

    def load(name: str):
        types_file = checkpoint_types_file(model_dir)
        ref = resolve_dataset(name, data_dir=config.data.data_dir, types=types_file)
        return read_documents(ref.path, types=checkpoint.types)

    return checkpoint, predictor, load


def _tune_and_score(
    model_dir: Path,
    config,
    grid: dict[str, list[Any]] | None,
    *,
    no_overlap: bool,
    metric: str = "relation_strict_micro_f1",
) -> dict[str, Any]:
    """Choose the decision rule on the run's dev split (with a ``grid``, maximising ``metric``),
    then score its test split once; ``no_overlap`` adds the test scores without overlapping
    entities (SpERT's ``--no_overlapping``, ADE's second setting) under the same rule."""
    from spertmt.evaluation.metrics import document_counts, evaluate_documents
    from spertmt.inference.tuning import tune_rule

    checkpoint, predictor, load = _load_run(model_dir, config)
    scored: dict[str, Any] = {}
    rule = None
    if grid is not None:
        if config.data.dev is None:
            raise SystemExit("tuning needs a dev split (data.dev) to choose the decision rule on")
        result = tune_rule(predictor, load(config.data.dev), grid, metric=metric)
        rule = result.best.rule
        scored.update(
            metric=metric,
            grid=result.grid,
            dev_rows=[row.to_dict() for row in result.rows],
            chosen=result.best.to_dict(),
        )
    test_gold = load(config.data.test)
    predictions = predictor.predict(test_gold, rule=rule)
    scored["test"] = evaluate_documents(test_gold, predictions, checkpoint.types).to_dict()
    # Per test document (correct, gold, predicted) for each setting: what report.py's paired
    # bootstrap over documents resamples (micro F1 only).
    scored["document_counts"] = {
        setting: [list(triple) for triple in triples]
        for setting, triples in document_counts(test_gold, predictions, checkpoint.types).items()
    }
    if no_overlap:
        scored["test_no_overlap"] = evaluate_documents(
            test_gold, predictions, checkpoint.types, no_overlap=True
        ).to_dict()
    return scored


def _run_name(variant: str, seed: int, fold: int | None) -> str:
    """A run folder's name: ``<variant>-seed<N>``, or ``<variant>-fold<F>-seed<N>``."""
    return f"{variant}-seed{seed}" if fold is None else f"{variant}-fold{fold}-seed{seed}"


def run_finished(run_dir: Path) -> bool:
    """Whether a run folder holds a finished training (its results and its model)."""
    return (run_dir / "results.json").exists() and (run_dir / "model").is_dir()


def epochs_completed(run_dir: Path) -> int | None:
    """Epochs a stopped run has checkpointed (what ``--resume`` continues from); ``None``
    when the run folder has no checkpoint, or has finished."""
    if (run_dir / "results.json").exists():
        return None
    try:
        record = json.loads((run_dir / "checkpoint" / "training.json").read_text(encoding="utf-8"))
        return int(record["epochs_completed"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def missing_data(plan: list[tuple[Experiment, Variant, int, int | None]], configs) -> list[str]:
    """One line per dataset a planned run cannot find (its file, variant and the fix), so that
    a campaign stops before its first run rather than hours in; empty when all resolve."""
    from spertmt.data.datasets import resolve_dataset
    from spertmt.errors import SpertMTError

    problems: dict[str, list[str]] = {}  # message -> the runs that need it
    seen: set[tuple[str, str | None]] = set()
    for experiment, variant, seed, fold in plan:
        data = configs[experiment.path, variant.name, seed, fold].data
        for role, spec in (("train", data.train), ("dev", data.dev), ("test", data.test)):
            if spec is None or (str(spec), data.data_dir) in seen:
                continue
            seen.add((str(spec), data.data_dir))
            try:
                resolve_dataset(spec, data_dir=data.data_dir)
            except SpertMTError as error:
                problems.setdefault(str(error), []).append(
                    f"{shown(experiment.path)} variant {variant.name!r} data.{role}={spec!r}"
                )
    return [f"{message}\n  needed by {'; '.join(who)}" for message, who in problems.items()]


def run_one(
    experiment: Experiment,
    variant: Variant,
    seed: int,
    *,
    threads: int | None,
    force: bool,
    workdir: Path,
    command: str,
    fold: int | None = None,
) -> tuple[Path, bool] | None:
    """Run (or skip) one (variant, seed[, fold]); returns its record path and whether it
    trained."""
    from spertmt.training import train

    config, overrides = _run_config(experiment, variant, seed, threads, fold)
    target = result_path(experiment, variant, seed, config)
    if target.exists() and not force:
        return None
    run_dir = workdir / experiment.dataset / _run_name(variant.run_of or variant.name, seed, fold)
    commit = git_commit()  # the code that runs, not what HEAD is when the run ends
    changed = changed_files() if commit.endswith("-dirty") else None
    trained_now = False
    started = time.perf_counter()
    finished = run_finished(run_dir)
    if variant.run_of and not finished:
        raise SystemExit(
            f"{variant.name}: no finished run of {variant.run_of} in {run_dir}; run it first"
        )
    if not finished and run_dir.exists() and not (run_dir / "checkpoint").exists():
        shutil.rmtree(run_dir)  # stopped before its first checkpoint: nothing to resume
    if (run_dir / "config.json").exists():
        _check_same_training(config, run_dir, variant)  # before reusing or resuming a run
    if finished:
        saved = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        test_metrics, dev_metrics, wall = saved["test"], saved["dev"], float(saved["wall_time_s"])
    else:
        result = train(config, output_dir=run_dir, resume=(run_dir / "checkpoint").exists())
        test_metrics, dev_metrics = result.test, result.dev
        wall = time.perf_counter() - started
        trained_now = True
    grid = variant.tune
    if variant.run_of and grid is None:
        grid = {}  # one row: the run's own decision rule, re-scored
    scored = (
        _tune_and_score(
            run_dir / "model",
            config,
            grid,
            no_overlap=experiment.also_no_overlap,
            metric=experiment.tune_metric,
        )
        if grid is not None or experiment.also_no_overlap
        else None
    )
    tuning = scored if grid is not None else None
    source = (
        result_path(experiment, experiment.variant(variant.run_of), seed, config)
        if variant.run_of
        else target
    )
    previous = json.loads(source.read_text(encoding="utf-8")) if source.exists() else {}
    record = {
        "experiment": shown(experiment.path),
        "dataset": config.data.test or config.data.train,
        "train_data": config.data.train,
        "split": "test",
        "variant": variant.name,
        "trained_as": variant.run_of or variant.name,
        "encoder": config.model.encoder,
        "seed": seed,
        **({"fold": fold, "folds_declared": len(variant.folds)} if fold is not None else {}),
        "epochs": config.train.epochs,
        "metrics": tuning["test"] if tuning else test_metrics,
        "metrics_default_thresholds": test_metrics,
        **({"metrics_no_overlap": scored["test_no_overlap"]} if experiment.also_no_overlap else {}),
        "dev_metrics": dev_metrics,
        # Dev F1 per epoch from the run folder's metrics.jsonl: report.py's learning curves.
        "dev_history": dev_history(run_dir / "metrics.jsonl"),
        "threshold_tuning": tuning
        and {
            k: v
            for k, v in tuning.items()
            if k not in ("test", "document_counts", "test_no_overlap")
        },
        "document_counts": scored and scored["document_counts"],
        "wall_seconds": round(wall, 1),
        # every process that trained it, when it was resumed (wall: only this one's part)
        "train_seconds": training_seconds(run_dir / "metrics.jsonl") or round(wall, 1),
        # what train.precision resolved to on the machines that trained it ("auto" differs)
        "train_precisions": training_precisions(run_dir / "metrics.jsonl"),
        "command": command,
        "overrides": overrides,
        "config": config.to_dict(),
        "versions": versions(),
        "hardware": hardware(),
        "git_commit": commit,
        **({"changed_files": changed} if changed else {}),
        "train_git_commit": commit
        if trained_now
        else previous.get("train_git_commit", previous.get("git_commit", "unknown")),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(target, record)
    return target, trained_now


TrainingKey = tuple[str, str, int, str, int]
"""What a run's training time depends on most: training data (folds alike), encoder, batch
size, precision and epochs."""


def training_key(config: dict[str, Any]) -> TrainingKey | None:
    """The :data:`TrainingKey` of a run config (``RunConfig.to_dict()``, as records hold it).

    Example:
        >>> training_key({"data": {"train": "ade:3:train"}, "model": {"encoder": "minilm"},
        ...               "train": {"batch_size": 2, "precision": "fp32", "epochs": 20}})
        ('ade:F:train', 'minilm', 2, 'fp32', 20)
    """
    try:
        data, model, train = config["data"], config["model"], config["train"]
        return (
            re.sub(r":\d+:", ":F:", str(data["train"])),
            Path(str(model["encoder"])).name,
            int(train["batch_size"]),
            str(train.get("precision", "fp32")),
            int(train["epochs"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _earlier_training_seconds() -> dict[TrainingKey, float]:
    """The mean recorded training time of the trained runs (not of re-decided ``run_of``
    records) per :data:`TrainingKey`: the ETA of runs of the same training."""
    seconds: dict[TrainingKey, list[float]] = {}
    for path in RESULTS.glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or record.get("variant") != record.get("trained_as"):
            continue
        took = record.get("train_seconds")
        key = training_key(record.get("config") or {})
        if isinstance(took, (int, float)) and key is not None:
            seconds.setdefault(key, []).append(float(took))
    return {key: statistics.fmean(values) for key, values in seconds.items()}


def scaled_seconds(key: TrainingKey, earlier: dict[TrainingKey, float]) -> float | None:
    """An estimate for a training never recorded, from trainings that were: its data under
    another recipe, scaled by what that recipe costs against this one on a third dataset.

    A recipe is a key without its data (encoder, batch size, precision, epochs). Time is taken
    as the data's share times the recipe's, so ``t(D, R) ≈ t(D, R') · t(D', R) / t(D', R')``,
    averaged over every ``D'``, ``R'`` the records hold; None when none connects (a recipe or
    a dataset never recorded at all, e.g. MPNet at SpERT's batch 2).

    Example:
        >>> earlier = {("conll04", "minilm", 2, "fp32", 20): 2400.0,
        ...            ("conll04", "minilm", 8, "auto", 20): 900.0,
        ...            ("ade", "minilm", 8, "auto", 20): 2100.0}
        >>> scaled_seconds(("ade", "minilm", 2, "fp32", 20), earlier)
        5600.0
        >>> scaled_seconds(("ade", "mpnet", 2, "fp32", 20), earlier) is None
        True
    """
    data, recipe = key[0], key[1:]
    found = []
    for (other_data, *other), seconds in earlier.items():
        other_recipe = tuple(other)
        if other_data == data or other_recipe == recipe or not seconds:
            continue
        here = earlier.get((data, *other_recipe))  # this data, the other recipe
        there = earlier.get((other_data, *recipe))  # the other data, this recipe
        if here and there:
            found.append(here * there / seconds)
    return statistics.fmean(found) if found else None


def eta_text(estimates: list[float | None], pace: float | None = None, scaled: int = 0) -> str:
    """The ETA of the runs left from their estimated seconds (``None``: no earlier run of that
    training), scaled by ``pace`` (this session's measured/estimated time) when known.

    Example:
        >>> eta_text([0.0, None])
        'no ETA: 1 run never timed'
        >>> eta_text([600.0, 1200.0, None])
        'ETA ~30 min from earlier runs (+1 run never timed)'
        >>> print(eta_text([600.0], pace=1.5))
        ETA ~15 min at this session's pace
        >>> print(eta_text([600.0, 5600.0], scaled=1))
        ETA ~103 min from earlier runs (1 scaled from other trainings)
    """
    known = [e for e in estimates if e is not None]
    unknown = len(estimates) - len(known)
    if not sum(known):  # nothing timed but re-decisions, which cost nothing
        return f"no ETA: {unknown} run{'s' if unknown > 1 else ''} never timed" if unknown else ""
    minutes = sum(known) * (pace or 1.0) / 60
    text = f"ETA ~{minutes:.0f} min " + ("at this session's pace" if pace else "from earlier runs")
    if scaled:
        text += f" ({scaled} scaled from other trainings)"
    if unknown:
        text += f" (+{unknown} run{'s' if unknown > 1 else ''} never timed)"
    return text


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``2h50m``, ``170m``, ``90s`` or ``1h`` (a bare number is
    minutes): ``--time-limit``.

    Example:
        >>> parse_duration("2h50m"), parse_duration("170"), parse_duration("45s")
        (10200.0, 10200.0, 45.0)
    """
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned) * 60
    match = re.fullmatch(
        r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", cleaned
    )
    if not cleaned or match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: write it as 2h50m, 170m, 90s or 170 (minutes)"
        )
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@contextlib.contextmanager
def claimed(workdir: Path, dataset: str, name: str) -> Iterator[bool]:
    """Claim one run for this process while the block runs: yields ``False`` when another
    process (a second worker started with the same command) holds it.

    The claim is an advisory lock on ``<workdir>/.claims/<dataset>/<name>.lock``: it goes
    with the process, so a worker that is killed frees its runs at once, and the run folder
    keeps whatever it checkpointed for the next worker to resume. Workers coordinate only
    where the folder's file system has working locks (a local disk; NFS with its lock
    service): where locking fails, a note says so and the run goes ahead unclaimed.
    """
    with _locked(workdir / ".claims" / dataset / f"{name}.lock", wait=False) as mine:
        yield mine


_LOCKS_FAILED: set[Path] = set()  # folders whose file system refused a lock (noted once)


@contextlib.contextmanager
def _locked(path: Path, *, wait: bool) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path`` while the block runs; yields ``False`` when another
    process holds it and ``wait`` is off (with ``wait``, blocks until it is free)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: one worker at a time
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        except OSError as error:  # ENOLCK, ENOSYS: this file system has no locks
            if path.parent not in _LOCKS_FAILED:
                _LOCKS_FAILED.add(path.parent)
                print(
                    f"note: cannot lock files in {shown(path.parent)} ({error.strerror}): "
                    "workers started beside this one would not see its runs; run one at a time",
                    file=sys.stderr,
                )
            yield True
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def held_elsewhere(workdir: Path, dataset: str, name: str) -> bool:
    """Whether another process holds the claim on a run (:func:`claimed`) right now."""
    with claimed(workdir, dataset, name) as mine:
        return not mine


def main(argv: list[str] | None = None) -> int:
    from spertmt.errors import SpertMTError

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiments", nargs="+", type=Path, help="experiment files (TOML)")
    parser.add_argument("--only", nargs="+", default=None, metavar="VARIANT")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="only these seeds")
    parser.add_argument(
        "--folds", nargs="+", type=int, default=None, help="only these folds (cross-validation)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per run (1: leave a core free)"
    )
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--force", action="store_true", help="redo runs whose record exists")
    parser.add_argument("--list", action="store_true", help="show the plan and what is done")
    parser.add_argument(
        "--time-limit",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="start only runs expected to end within DURATION of the start (2h50m, 170m)",
    )
    args = parser.parse_args(argv)
    command = " ".join(
        shlex.quote(a)
        for a in [
            "python",
            "benchmarks/run_experiments.py",
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )

    experiments = [load_experiment(path) for path in args.experiments]
    # (experiment, variant, seed, fold): folds (cross-validation) outside, seeds inside.
    plan = [
        (experiment, variant, seed, fold)
        for experiment in experiments
        for variant in experiment.variants
        if args.only is None or variant.name in args.only
        for fold in (variant.folds or (None,))
        if args.folds is None or fold in args.folds
        for seed in variant.seeds
        if args.seeds is None or seed in args.seeds
    ]
    runnable = [(e, v, s, f) for e, v, s, f in plan if v.removed is None]
    # Each run's config, read once: where its record goes, and what its training costs.
    configs = {(e.path, v.name, s, f): _run_config(e, v, s, None, f)[0] for e, v, s, f in runnable}
    done = {
        (e.path, v.name, s, f)
        for e, v, s, f in runnable
        if result_path(e, v, s, configs[e.path, v.name, s, f]).exists()
    }

    def named(experiment: Experiment, variant: Variant, seed: int, fold: int | None) -> str:
        where = "" if fold is None else f" fold {fold}"
        return f"{experiment.dataset} {variant.name}{where} seed {seed}"

    todo = [
        (e, v, s, f) for e, v, s, f in runnable if args.force or (e.path, v.name, s, f) not in done
    ]
    if not args.list:
        missing = missing_data(todo, configs)
        if missing:
            for line in missing:
                print(f"error: {line}", file=sys.stderr)
            return 2
    earlier = _earlier_training_seconds()

    def progress(experiment: Experiment, variant: Variant, seed: int, fold: int | None):
        """``(epochs checkpointed, epochs)`` of a stopped run that will resume, else None."""
        if variant.run_of is not None:
            return None
        run_dir = args.workdir / experiment.dataset / _run_name(variant.name, seed, fold)
        completed = epochs_completed(run_dir)
        epochs = configs[experiment.path, variant.name, seed, fold].train.epochs
        return None if completed is None else (min(completed, epochs), epochs)

    def finished_run(experiment: Experiment, name: str) -> bool:
        return run_finished(args.workdir / experiment.dataset / name)

    def estimate(experiment: Experiment, variant: Variant, seed: int, fold: int | None):
        """Recorded seconds of a run of the same training, less the share of the epochs a
        stopped run has already checkpointed; 0 for a re-decision."""
        if variant.run_of is not None or finished_run(
            experiment, _run_name(variant.name, seed, fold)
        ):
            return 0.0  # re-deciding or re-scoring a finished run: no training
        key = training_key(configs[experiment.path, variant.name, seed, fold].to_dict())
        seconds = earlier.get(key) if key is not None else None
        if seconds is None and key is not None:
            seconds = scaled_seconds(key, earlier)
        partial = progress(experiment, variant, seed, fold)
        if seconds is not None and partial is not None and partial[1] > 0:
            seconds *= 1 - partial[0] / partial[1]
        return seconds

    def scaled(experiment: Experiment, variant: Variant, seed: int, fold: int | None) -> bool:
        """Whether the run's estimate is :func:`scaled_seconds` (no record of its training)."""
        if variant.run_of is not None or finished_run(
            experiment, _run_name(variant.name, seed, fold)
        ):
            return False
        key = training_key(configs[experiment.path, variant.name, seed, fold].to_dict())
        return (
            key is not None
            and earlier.get(key) is None
            and estimate(experiment, variant, seed, fold) is not None
        )

    if args.list:
        for experiment, variant, seed, fold in plan:
            state, detail = "todo", ""
            if variant.removed:
                state = "removed"
            elif (experiment.path, variant.name, seed, fold) in done:
                state = "done"
            elif partial := progress(experiment, variant, seed, fold):
                state, detail = "partial", f" (epoch {partial[0]} of {partial[1]} checkpointed)"
            print(f"{state:8} {named(experiment, variant, seed, fold)}{detail}")
        eta = eta_text([estimate(*run) for run in todo], scaled=sum(scaled(*r) for r in todo))
        print(f"{len(runnable) - len(todo)} done, {len(todo)} to run" + (f"; {eta}" if eta else ""))
        return 0
    print(
        f"{len(plan)} runs declared, {len(plan) - len(runnable)} of removed variants, "
        f"{len(runnable) - len(todo)} done, {len(todo)} to run"
    )
    estimates = [estimate(*run) for run in todo]
    rescaled = [scaled(*run) for run in todo]  # estimates from other trainings' records
    paces: list[float] = []  # measured / estimated time of this session's trained runs
    deadline = None if args.time_limit is None else time.monotonic() + args.time_limit
    left_out: list[str] = []  # runs that would not end before the deadline
    failed: list[str] = []  # runs stopped by a SpertMTError (bad data, config, checkpoint)
    broken: set[tuple[str, str]] = set()  # their (dataset, run name): no run_of waits on them
    not_started: set[tuple[str, str]] = set()  # their (dataset, run name): no run_of waits on them
    waiting = {  # (dataset, run name) of the trained runs still to do in this plan
        (e.dataset, _run_name(v.name, s, f)) for e, v, s, f in todo if v.run_of is None
    }

    def attempt(index: int) -> bool:
        """Run ``todo[index]`` unless it is done, another worker holds it or its run, or it
        would end after the deadline; ``False`` when it should be tried again at the end."""
        nonlocal earlier
        experiment, variant, seed, fold = todo[index]
        name, tag = named(experiment, variant, seed, fold), f"[{index + 1}/{len(todo)}]"
        config = configs[experiment.path, variant.name, seed, fold]
        own = _run_name(variant.name, seed, fold)
        if not args.force and result_path(experiment, variant, seed, config).exists():
            print(f"{tag} {name}: done by another worker", flush=True)
            return True
        source = _run_name(variant.run_of, seed, fold) if variant.run_of else None
        if source is not None:
            if (experiment.dataset, source) in broken:
                print(f"{tag} {name}: not run, its run failed (above)", flush=True)
                failed.append(name)
                return True
            if (experiment.dataset, source) in not_started:
                print(f"{tag} {name}: not started, its run was not (--time-limit)", flush=True)
                left_out.append(name)
                return True
            if held_elsewhere(args.workdir, experiment.dataset, source):
                print(f"{tag} {name}: another worker trains its run; left to it", flush=True)
                return True
            if (experiment.dataset, source) in waiting and not finished_run(experiment, source):
                # its run was held by a worker that has stopped since: it is retried first
                print(f"{tag} {name}: its run is not finished; tried again at the end", flush=True)
                return False
        with claimed(args.workdir, experiment.dataset, own) as mine:
            if not mine:
                print(f"{tag} {name}: another worker has it; tried again at the end", flush=True)
                return False
            if not args.force and result_path(experiment, variant, seed, config).exists():
                return True  # finished by another worker since the check above
            if estimates[index] is None or rescaled[index]:  # perhaps timed by another worker
                earlier = _earlier_training_seconds()
                estimates[index:] = [estimate(*run) for run in todo[index:]]
                rescaled[index:] = [scaled(*run) for run in todo[index:]]
            expected, guessed = estimates[index], rescaled[index]
            pace = statistics.fmean(paces) if paces else None
            if deadline is not None and expected:
                needed, left = expected * (pace or 1.0), deadline - time.monotonic()
                if needed > left:
                    print(
                        f"{tag} {name}: not started, expected to take ~{needed / 60:.0f} min "
                        f"with {max(left, 0) / 60:.0f} min left (--time-limit)",
                        flush=True,
                    )
                    left_out.append(name)
                    not_started.add((experiment.dataset, own))
                    return True
            eta = eta_text(estimates[index:], pace, scaled=sum(rescaled[index:]))
            print(f"[{index + 1}/{len(todo)}{', ' + eta if eta else ''}] {name}", flush=True)
            started = time.perf_counter()
            try:
                outcome = run_one(
                    experiment,
                    variant,
                    seed,
                    threads=args.threads,
                    force=args.force,
                    workdir=args.workdir,
                    command=command,
                    fold=fold,
                )
            except SpertMTError as error:  # bad data or config: named, and the plan goes on
                print(f"{tag} {name}: failed: {error}", file=sys.stderr, flush=True)
                failed.append(name)
                broken.add((experiment.dataset, own))
                waiting.discard((experiment.dataset, own))
                return True
        waiting.discard((experiment.dataset, own))
        if outcome is not None:
            path, trained = outcome
            if trained and expected and not guessed:  # the machine's load as it is now
                paces.append((time.perf_counter() - started) / expected)
            if trained and (expected is None or guessed):  # the first of its training times
                earlier = _earlier_training_seconds()  # the rest
                estimates[index + 1 :] = [estimate(*run) for run in todo[index + 1 :]]
                rescaled[index + 1 :] = [scaled(*run) for run in todo[index + 1 :]]
            print(f"wrote {shown(path)}", flush=True)
        from report import write_report

        # One worker at a time, so that a report from older records never replaces a newer
        # one. Not the README's copy of the paper's table (write_report's default): a tracked
        # file outside the campaign's outputs, which would mark the tree dirty for the next
        # run; `python benchmarks/report.py` updates it.
        with _locked(args.workdir / ".claims" / "report.lock", wait=True):
            write_report()
        return True

    again = [index for index in range(len(todo)) if not attempt(index)]
    # Runs another worker held when this one reached them: done now if that worker has
    # stopped (its run resumes here from its last checkpoint), else still left to it.
    for index in again:
        if not attempt(index):
            print(f"  {named(*todo[index])}: left to the worker that holds it", flush=True)
    if left_out:
        print(
            f"{len(left_out)} run{'s' if len(left_out) > 1 else ''} not started: "
            "expected to end after --time-limit"
        )
    if failed:
        print(f"{len(failed)} failed (above): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
