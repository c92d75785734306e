"""benchmarks/plots.py on small synthetic records: which variants each figure shows, the
ablation deltas, per-epoch dev scores (read from metrics.jsonl, stored by the runner, added to
old records), the PNGs and the Markdown that embeds them; drawing tests skip without
matplotlib."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import plots  # noqa: E402
import records  # noqa: E402
import report  # noqa: E402
import run_experiments  # noqa: E402

EXPERIMENT = """
dataset = "toy"

[[variant]]
name = "spert"
config = "configs/spert.toml"
seeds = [1, 2]
description = "the SpERT preset"

[[variant]]
name = "spert-flat"
run_of = "spert"
seeds = [1, 2]
description = "spert, overlaps resolved"

[[variant]]
name = "spertmt"
config = "configs/spertmt.toml"
seeds = [1, 2]
description = "the SpERT.MT preset"

[[variant]]
name = "spertmt-flat"
run_of = "spertmt"
seeds = [1, 2]
description = "spertmt, overlaps resolved"

[[variant]]
name = "spertmt-no-B"
removed = "x"
seeds = [1, 2]
description = "spertmt without B"

[[variant]]
name = "spertmt-lambda-rel2"
removed = "x"
seeds = [1]
description = "a screening variant"

[[comparison]]
name = "fair"
label = "equal decoding"
variant = "spertmt-flat"
baseline = "spert-flat"
metric = "relation_strict.micro"
"""

SPERT = {"entity_binary_head": False, "relation_binary_head": False, "iou_mode": "off"}
SPERTMT = {"entity_binary_head": True, "relation_binary_head": True, "iou_mode": "head"}


def record(variant, seed, relation, *, model=None, trained_as=None, dev=60.0, **extra):
    """A run record with just what the report and the plots read."""
    model = model or (SPERTMT if variant.startswith("spertmt") else SPERT)
    return {
        "variant": variant,
        "trained_as": trained_as or variant,
        "seed": seed,
        "dataset": "toy:test",
        "encoder": "minilm",
        "epochs": 20,
        "train_data": "toy:train",
        "train_seconds": 60.0,
        "command": "python benchmarks/run_experiments.py toy.toml",
        "config": {"model": {"encoder": "minilm", **model}, "train": {"seed": seed}},
        "dev_metrics": {"relation_strict": {"micro": {"f1": dev}}},
        "metrics": {
            "relation_strict": {"micro": {"f1": relation}, "macro": {"f1": relation - 1}},
            "relation_boundaries": {"micro": {"f1": relation + 1}},
            "entity": {"micro": {"f1": 80.0}},
        },
        **extra,
    }


def history(*values):
    return [
        {"epoch": epoch, "step": 10 * epoch, "relation_strict": {"micro": v, "macro": v - 1}}
        for epoch, v in enumerate(values, start=1)
    ]


def toy_records():
    return [
        record("spert", 1, 60.0, dev_history=history(20.0, 50.0, 58.0)),
        record("spert", 2, 62.0, dev_history=history(22.0, 52.0, 59.0)),
        record("spert-flat", 1, 63.0, trained_as="spert", dev_history=history(20.0, 50.0, 58.0)),
        record("spert-flat", 2, 64.0, trained_as="spert", dev_history=history(22.0, 52.0, 59.0)),
        record("spertmt", 1, 61.0, dev=65.0),
        record("spertmt", 2, 61.5, dev=66.0),
        record("spertmt-flat", 1, 63.5, trained_as="spertmt"),
        record("spertmt-flat", 2, 63.0, trained_as="spertmt"),
        record("spertmt-no-B", 1, 59.0, dev=64.0),
        record("spertmt-no-B", 2, 60.5, dev=65.5),
        record("spertmt-no-B", 3, 50.0),  # no spertmt seed 3: unpaired, left out
        record("spertmt-lambda-rel2", 1, 62.0),
    ]


PUBLISHED = {
    "toy": plots.DatasetInfo(
        "toy",
        "Toy",
        ("relation_strict", "micro"),
        (
            plots.Published("SpERT", "spert", "bert-base-cased", 71.47, "a paper"),
            plots.Published("SpERT.MT", "spertmt", "bert-base-cased", 73.61, "another paper"),
        ),
    )
}


@pytest.fixture()
def experiment(tmp_path):
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "toy.toml").write_text(EXPERIMENT)
    return run_experiments.load_experiment(folder / "toy.toml")


def test_the_score_chart_shows_presets_and_compared_variants_beside_the_published_numbers(
    experiment,
):
    (figures,) = plots.plan_figures(toy_records(), [experiment], PUBLISHED)
    bars = figures.scores.bars
    assert [bar.label for bar in bars] == [
        "SpERT, published (bert-base-cased)",
        "spert (n=2)",
        "spert-flat (n=2)",
        "SpERT.MT, published (bert-base-cased)",
        "spertmt (n=2)",
        "spertmt-flat (n=2)",
    ]  # the ablation and the screening variant stay in the table
    assert [bar.family for bar in bars] == ["spert"] * 3 + ["spertmt"] * 3
    assert bars[0].published.value == 71.47 and bars[0].std is None
    assert bars[1].values == (60.0, 62.0) and bars[1].runs == ("seed 1", "seed 2")
    assert bars[1].mean == 61.0 and bars[1].std == pytest.approx(2**0.5)
    assert figures.scores.settings == "minilm encoder, 20 epochs, train→test"


def test_a_second_encoder_is_named_in_the_labels_and_the_headline_metric_is_the_datasets(
    experiment,
):
    extra = [record("spert", 1, 70.0, encoder="mpnet")]
    published = {"toy": PUBLISHED["toy"].__class__("toy", "Toy", ("relation_boundaries", "micro"))}
    (figures,) = plots.plan_figures(toy_records() + extra, [experiment], published)
    labels = [bar.label for bar in figures.scores.bars]
    assert labels[:2] == ["spert [minilm] (n=2)", "spert [mpnet] (n=1)"]
    assert figures.scores.bars[0].values == (61.0, 63.0)  # boundaries = strict + 1 here


def test_without_comparisons_the_presets_are_shown(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text(EXPERIMENT.split("[[comparison]]")[0])
    (figures,) = plots.plan_figures(
        toy_records(), [run_experiments.load_experiment(path)], PUBLISHED
    )
    assert [bar.label for bar in figures.scores.bars if not bar.published] == [
        "spert (n=2)",
        "spertmt (n=2)",
    ]


def test_ablations_are_paired_by_seed_against_their_base(experiment):
    (figures,) = plots.plan_figures(toy_records(), [experiment], PUBLISHED)
    (row,) = figures.ablations.rows
    assert (row.base, row.variant, row.label) == ("spertmt", "spertmt-no-B", "B: IoU head")
    assert row.runs == ("seed 1", "seed 2")
    assert row.test == pytest.approx((-2.0, -1.0))
    assert row.dev == pytest.approx((-1.0, -0.5))


def test_curves_come_from_the_runs_that_have_a_history_one_per_training_run(experiment):
    (figures,) = plots.plan_figures(toy_records(), [experiment], PUBLISHED)
    curves = figures.curves.curves
    assert [(c.variant, c.run) for c in curves] == [("spert", "seed 1"), ("spert", "seed 2")]
    assert curves[0].epochs == (1, 2, 3) and curves[0].values == (20.0, 50.0, 58.0)
    assert figures.without_history == ("spertmt",)


def test_dev_history_keeps_the_last_dev_evaluation_of_each_epoch(tmp_path):
    def report_of(f1):
        return {
            "entity": {"micro": {"f1": 80.0}, "macro": {"f1": 70.0}, "per_type": {}},
            "relation_strict": {"micro": {"f1": f1}, "macro": {"f1": f1 - 1}},
        }

    lines = [
        {"event": "start"},
        {"event": "eval", "split": "dev", "epoch": 2, "step": 20, "report": report_of(40.0)},
        {"event": "eval", "split": "dev", "epoch": 1, "step": 10, "report": report_of(10.0)},
        {"event": "resume", "epoch": 1},
        {"event": "eval", "split": "dev", "epoch": 2, "step": 20, "report": report_of(42.123456)},
        {"event": "eval", "split": "test", "epoch": 2, "step": 20, "report": report_of(99.0)},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + '\n{"event": "ev')
    assert records.dev_history(path) == [
        {
            "entity": {"macro": 70.0, "micro": 80.0},
            "epoch": 1,
            "relation_strict": {"macro": 9.0, "micro": 10.0},
            "step": 10,
        },
        {
            "entity": {"macro": 70.0, "micro": 80.0},
            "epoch": 2,
            "relation_strict": {"macro": 41.1235, "micro": 42.1235},
            "step": 20,
        },
    ]
    assert records.dev_history(tmp_path / "missing.jsonl") is None


def test_the_runner_stores_the_dev_history_of_the_run_folder(tmp_path, monkeypatch):
    config = tmp_path / "tiny.toml"
    config.write_text('[model]\nencoder = "minilm"\n[train]\nepochs = 2\n')
    (tmp_path / "toy.toml").write_text(
        f'dataset = "toy"\n[[variant]]\nname = "base"\nconfig = "{config}"\nseeds = [1]\n'
        'description = "d"\n'
    )
    experiment = run_experiments.load_experiment(tmp_path / "toy.toml")
    variant = experiment.variant("base")
    run_config, _ = run_experiments._run_config(experiment, variant, 1, None)
    run_dir = tmp_path / "runs" / "toy" / "base-seed1"
    (run_dir / "model").mkdir(parents=True)  # a finished run: reused, nothing trains
    (run_dir / "config.json").write_text(json.dumps(run_config.to_dict()))
    scores = {"relation_strict": {"micro": {"f1": 50.0}, "macro": {"f1": 49.0}}}
    (run_dir / "results.json").write_text(
        json.dumps({"test": scores, "dev": scores, "wall_time_s": 1.0})
    )
    (run_dir / "metrics.jsonl").write_text(
        json.dumps({"event": "eval", "split": "dev", "epoch": 1, "step": 5, "report": scores})
    )
    monkeypatch.setattr(run_experiments, "RESULTS", tmp_path / "results")
    path, trained = run_experiments.run_one(
        experiment,
        variant,
        1,
        threads=None,
        force=False,
        workdir=tmp_path / "runs",
        command="test",
    )
    assert not trained
    assert json.loads(path.read_text())["dev_history"] == [
        {"epoch": 1, "relation_strict": {"macro": 49.0, "micro": 50.0}, "step": 5}
    ]


def test_add_dev_history_fills_old_records_from_matching_run_folders(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    old = record("spert", 1, 60.0)
    other = record("spert", 2, 60.0)
    done = record("spertmt", 1, 60.0, dev_history=history(1.0))
    for name, r in (("a", old), ("b", other), ("c", done)):
        (results / f"{name}.json").write_text(json.dumps(r))
    scores = {"relation_strict": {"micro": {"f1": 30.0}, "macro": {"f1": 29.0}}}
    line = json.dumps({"event": "eval", "split": "dev", "epoch": 1, "step": 5, "report": scores})
    for seed, model in ((1, SPERT), (2, SPERTMT)):  # seed 2's folder was trained otherwise
        run_dir = tmp_path / "runs" / "toy" / f"spert-seed{seed}"
        run_dir.mkdir(parents=True)
        (run_dir / "metrics.jsonl").write_text(line)
        config = {"model": {"encoder": "minilm", **model}, "train": {"seed": seed, "threads": 4}}
        (run_dir / "config.json").write_text(json.dumps(config))

    assert plots.add_dev_history(results, tmp_path / "runs") == [results / "a.json"]
    assert json.loads((results / "a.json").read_text())["dev_history"] == [
        {"epoch": 1, "relation_strict": {"macro": 29.0, "micro": 30.0}, "step": 5}
    ]
    assert "dev_history" not in json.loads((results / "b.json").read_text())


def write_toy_bench(tmp_path, monkeypatch):
    results, experiments = tmp_path / "results", tmp_path / "experiments"
    results.mkdir()
    experiments.mkdir()
    (experiments / "toy.toml").write_text(EXPERIMENT)
    for r in toy_records():
        name = f"toy-test_{r['variant']}_{r['encoder']}_seed{r['seed']}.json"
        (results / name).write_text(json.dumps(r))
    monkeypatch.setattr(report, "RESULTS", results)
    monkeypatch.setattr(report, "SUMMARY", tmp_path / "docs" / "results.md")
    monkeypatch.setattr(report, "EXPERIMENTS", experiments)
    return tmp_path / "docs"


def test_the_report_draws_the_figures_and_embeds_them(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    docs = write_toy_bench(tmp_path, monkeypatch)
    figures = docs / "img" / "results"
    figures.mkdir(parents=True)
    (figures / "gone_scores.png").write_bytes(b"stale")
    report.write_report()

    names = sorted(p.name for p in figures.iterdir())
    assert names == ["toy_ablations.png", "toy_dev_curves.png", "toy_scores.png"]
    for name in names:
        data = (figures / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) < 200_000
        assert b"tEXt" not in data  # no Software (or other) metadata
    text = (docs / "results.md").read_text()
    assert text.index("## Headline") < text.index("## Figures") < text.index("## Every variant")
    for name in names:
        assert f"](img/results/{name})" in text
    assert "Runs with curves: `spert` (seed 1, seed 2)" in text
    assert "No curves for `spertmt`: their records hold no per-epoch dev scores" in text
    assert "`spert` 61.00 ± 1.41 (n=2), `spert-flat` 63.50 ± 0.71 (n=2)" in text
    assert "`spertmt-no-B` − `spertmt` test −1.50 ± 0.71, dev −0.75 ± 0.35" in text
    assert "drew 3 figures" in capsys.readouterr().out

    first = {name: (figures / name).read_bytes() for name in names}
    report.write_report()
    assert {name: (figures / name).read_bytes() for name in names} == first  # deterministic


def test_without_matplotlib_the_report_says_so_and_embeds_what_exists(
    tmp_path, monkeypatch, capsys
):
    docs = write_toy_bench(tmp_path, monkeypatch)
    monkeypatch.setattr(plots, "matplotlib_available", lambda: False)
    figures = docs / "img" / "results"
    figures.mkdir(parents=True)
    (figures / "toy_scores.png").write_bytes(b"kept")
    report.write_report()

    assert "matplotlib is not installed" in capsys.readouterr().out
    text = (docs / "results.md").read_text()
    assert "![toy test relation F1 (strict, micro) per variant](img/results/toy_scores.png)" in text
    assert "*(toy_ablations.png not drawn yet: it needs matplotlib" in text
    assert (figures / "toy_scores.png").read_bytes() == b"kept"


def test_the_published_numbers_are_the_papers(tmp_path):
    published = plots.load_published()
    assert {name: info.metric for name, info in published.items()} == {
        "conll04": ("relation_strict", "micro"),
        "scierc": ("relation_boundaries", "micro"),
        "ade": ("relation_strict", "macro"),
    }
    values = {(n, p.name): p.value for n, info in published.items() for p in info.systems}
    assert values == {
        ("conll04", "SpERT"): 71.47,
        ("conll04", "SpERT.MT"): 73.61,
        ("scierc", "SpERT"): 50.84,
        ("scierc", "SpERT.MT"): 53.72,
        ("ade", "SpERT"): 78.84,
        ("ade", "SpERT.MT"): 83.72,
    }
    bad = tmp_path / "bad.toml"
    bad.write_text('[toy]\nmetric = "relation_strict.micro"\n[[toy.system]]\nname = "X"\n')
    with pytest.raises(SystemExit, match="bad.toml, \\[toy\\]: a system needs"):
        plots.load_published(bad)


def test_cross_validation_runs_without_dev_data_are_pooled_and_say_why_they_have_no_curves():
    def fold_record(variant, fold, relation):
        found = record(variant, 1, relation, dev_history=[], fold=fold, folds_declared=2)
        found.update(dataset=f"ade:{fold}:test", dev_metrics=None, threshold_tuning=None)
        return found

    runs = [
        fold_record("spertmt", 0, 70.0),
        fold_record("spertmt", 1, 72.0),
        fold_record("spertmt-no-D", 0, 69.0),
        fold_record("spertmt-no-D", 1, 70.0),
    ]
    (figures,) = plots.plan_figures(runs, [], {})
    (bar,) = figures.scores.bars
    assert bar.label == "spertmt (n=2)" and bar.runs == ("fold 0 seed 1", "fold 1 seed 1")
    (row,) = figures.ablations.rows
    assert row.test == pytest.approx((-1.0, -2.0)) and row.dev == ()
    assert figures.curves is None
    assert (figures.without_history, figures.without_dev) == ((), ("spertmt",))
    text = "\n".join(plots.markdown([figures], Path("/nonexistent"), "img/results"))
    assert (
        "`spertmt-no-D` − `spertmt` test −1.50 ± 0.71, dev – (fold 0 seed 1, fold 1 seed 1)" in text
    )
    assert "No curves for `spertmt`: these runs evaluated no dev split." in text


@pytest.mark.parametrize(
    ("variant", "base", "part"),
    [
        ("spertmt-no-B", "spertmt", "B"),
        ("headline-spertmt-no-AC", "headline-spertmt", "AC"),
        ("headline-spertmt-no-iou-cls", "headline-spertmt", "iou-cls"),
    ],
)
def test_an_ablation_s_name_gives_its_base_and_the_part_removed(variant, base, part):
    match = plots._ABLATION.match(variant)
    assert match and (match["base"], match["part"]) == (base, part)
    assert part in plots.COMPONENTS


def test_training_seconds_add_up_the_processes_of_a_resumed_run(tmp_path):
    lines = [
        {"event": "start", "time": 1000.0},
        {"event": "train", "time": 1010.0},
        {"event": "checkpoint", "time": 1100.0},
        {"event": "train", "time": 1130.0},  # the stopped process's last line: its lost epoch
        {"event": "resume", "epoch": 1, "time": 5000.0},
        {"event": "eval"},  # no time: not counted, not an error
        {"event": "end", "time": 5200.0, "wall_time_s": 200.0},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + '\n{"event": "tra')
    assert records.training_seconds(path) == 130.0 + 200.0
    path.write_text(json.dumps({"event": "train", "time": 3.0}))
    assert records.training_seconds(path) is None  # no start: nothing to measure from
    assert records.training_seconds(tmp_path / "missing.jsonl") is None
