"""benchmarks/run_experiments.py and report.py with a tiny random encoder: declared variants,
records, resuming, ``run_of`` re-deciding another variant's runs, and the report's statistics."""

import json
import sys
from pathlib import Path

import pytest
from samples import TYPES, lives_in, write_training_config

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import records  # noqa: E402
import report  # noqa: E402
import run_experiments  # noqa: E402

VARIANTS = """
[grids]
relation = { relation_threshold = [0.2, 0.6] }

[[variant]]
name = "base"
config = "CONFIG"
seeds = [1]
description = "the tiny base"

[[variant]]
name = "base-tuned"
run_of = "base"
seeds = [1]
tune = "relation"
description = "base, relation threshold chosen on dev"

[[variant]]
name = "base-flat"
run_of = "base"
overrides = ["decision.entity_overlap=resolve", "decision.relation_threshold=0.9"]
seeds = [1]
description = "base with overlaps resolved, re-scored as one row"

[[variant]]
name = "gone"
removed = "rejected on dev"
seeds = [1]
description = "a variant the library no longer has"
"""


@pytest.fixture()
def bench(tiny_bert_dir, tmp_path, monkeypatch):
    """A tiny config and experiment; records and runs go to tmp_path, not the repository."""
    config = write_training_config(
        tmp_path,
        tiny_bert_dir,
        "epochs = 1\nneg_entity_count = 5\nneg_relation_count = 5\neval_every = 0",
        model="max_span_width = 3",
    )
    (tmp_path / "experiments").mkdir()
    experiment = tmp_path / "experiments" / "tiny.toml"
    experiment.write_text('dataset = "tiny"\n' + VARIANTS.replace("CONFIG", str(config)))
    monkeypatch.setattr(run_experiments, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(report, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(report, "SUMMARY", tmp_path / "results.md")
    monkeypatch.setattr(report, "EXPERIMENTS", tmp_path / "experiments")
    return experiment, tmp_path


def run(bench, *extra):
    experiment, tmp = bench
    return run_experiments.main(
        [str(experiment), "--workdir", str(tmp / "runs"), "--threads", "1", *extra]
    )


def result_path_name(bench, variant):
    return next((bench[1] / "results").glob(f"test_{variant}_*_seed1.json")).name


def result(bench, variant):
    path = next((bench[1] / "results").glob(f"test_{variant}_*_seed1.json"))
    return json.loads(path.read_text())


def test_the_plan_runs_once_and_a_second_call_skips_what_is_done(bench, capsys):
    assert run(bench) == 0
    out = capsys.readouterr().out
    assert "4 runs declared, 1 of removed variants, 0 done, 3 to run" in out
    runs = sorted(p.name for p in (bench[1] / "runs" / "tiny").iterdir())
    assert runs == ["base-seed1"]  # the run_of variants trained nothing

    base = result(bench, "base")
    assert base["trained_as"] == "base" and base["threshold_tuning"] is None
    metrics = bench[1] / "runs" / "tiny" / "base-seed1" / "metrics.jsonl"
    assert base["train_seconds"] == run_experiments.training_seconds(metrics) > 0
    assert base["train_precisions"] == ["fp32"]  # what the run's start line says it used
    assert base["hardware"]["cpu"] and "torch" in base["versions"]
    assert base["command"].startswith("python benchmarks/run_experiments.py")

    tuned = result(bench, "base-tuned")
    assert tuned["trained_as"] == "base" and tuned["train_git_commit"] == base["git_commit"]
    assert tuned["metrics_default_thresholds"] == base["metrics"]
    assert [r["setting"] for r in tuned["threshold_tuning"]["dev_rows"]] == [
        {"relation_threshold": 0.2},
        {"relation_threshold": 0.6},
    ]
    # per test document (correct, gold, predicted), summing to the tuned test scores
    strict = tuned["document_counts"]["relation_strict"]
    correct, gold, pred = (sum(t[k] for t in strict) for k in range(3))
    f1 = 200 * correct / (gold + pred) if gold + pred else 0.0
    assert f1 == pytest.approx(tuned["metrics"]["relation_strict"]["micro"]["f1"])
    assert base["document_counts"] is None  # untuned: no test predictions of its own
    # no grid: the variant's own decision rule, scored as one row
    flat = result(bench, "base-flat")
    rows = flat["threshold_tuning"]["dev_rows"]
    assert [r["setting"] for r in rows] == [{}]
    assert rows[0]["rule"]["entity_overlap"] == "resolve"
    assert rows[0]["rule"]["relation_threshold"] == 0.9

    text = (bench[1] / "results.md").read_text()
    assert "| base | 1 | 1 |" in text and "| base-tuned | 1 | 1 |" in text
    assert "- `base`: the tiny base" in text
    table = json.loads((bench[1] / "results" / "table.json").read_text())
    base_rows = [row for row in table if row["preset"] == "base"]
    assert {row["metric"] for row in base_rows} == {
        "relation_strict micro F1",
        "relation_strict macro F1",
        "entity micro F1",
    }
    assert all(row["n"] == 1 and row["protocol"] == "train->test" for row in base_rows)
    assert base_rows[0]["records"] == [result_path_name(bench, "base")]

    assert run(bench) == 0
    assert "3 done, 0 to run" in capsys.readouterr().out


def test_list_shows_done_todo_and_removed(bench, capsys):
    assert run(bench, "--list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["todo", "tiny"] and lines[-2].split()[0] == "removed"
    assert lines[-1] == "0 done, 3 to run; no ETA: 1 run never timed"  # 2 re-decide its run


def test_missing_data_stops_the_plan_before_its_first_run_and_names_who_needs_it(bench, capsys):
    (bench[1] / "dev.json").unlink()
    assert run(bench) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: [E101]") and "dev.json" in err
    assert "tiny.toml variant 'base' data.dev=" in err and "Traceback" not in err
    assert not (bench[1] / "runs" / "tiny").exists()  # nothing trained, nothing claimed
    assert run(bench, "--list") == 0  # the plan can still be looked at


def test_a_run_that_fails_on_bad_input_is_named_and_the_plan_goes_on(bench, capsys, monkeypatch):
    from spertmt import training
    from spertmt.errors import DataError

    def bad_document(config, **kwargs):
        raise DataError("document 2 has no tokens", code="E105", file="train.json")

    monkeypatch.setattr(training, "train", bad_document)
    assert run(bench) == 1
    captured = capsys.readouterr()
    assert "[1/3] tiny base seed 1: failed: [E105]" in captured.err
    assert "tiny base-tuned seed 1: not run, its run failed" in captured.out
    assert "3 failed (above): tiny base seed 1, tiny base-tuned seed 1, tiny base-flat" in (
        captured.err
    )
    assert not (bench[1] / "results").exists() or not list((bench[1] / "results").glob("*.json"))


def test_run_of_refuses_a_run_trained_with_other_settings(bench):
    experiment, tmp = bench
    run(bench, "--only", "base")
    text = experiment.read_text() + (
        '\n[[variant]]\nname = "wider"\nrun_of = "base"\nseeds = [1]\n'
        'overrides = ["model.max_span_width=4"]\ndescription = "x"\n'
    )
    experiment.write_text(text)
    with pytest.raises(SystemExit, match=r"model\.max_span_width.*only the decision rule"):
        run(bench, "--only", "wider")


def test_run_of_needs_a_finished_run(bench):
    with pytest.raises(SystemExit, match="no finished run of base"):
        run(bench, "--only", "base-tuned")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[variant]]\nname = "a"\nseeds = [1]\ndescription = "x"\n', "exactly one of"),
        ('[[variant]]\nname = "a"\nrun_of = "b"\nseeds = [1]\n', "missing 'description'"),
        (
            '[[variant]]\nname = "a"\nconfig = "c"\nseeds = [1]\ndescription = "x"\nbogus = 1\n',
            "unknown field",
        ),
        (
            '[[variant]]\nname = "a"\nconfig = "c"\ntune = "nope"\nseeds = [1]\n'
            'description = "x"\n',
            "no grid named",
        ),
    ],
)
def test_a_bad_experiment_file_names_the_variant(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text('dataset = "x"\n' + text)
    with pytest.raises(SystemExit, match=message):
        run_experiments.load_experiment(path)


def test_the_declared_conll04_experiment_loads():
    experiment = run_experiments.load_experiment(ROOT / "benchmarks/experiments/conll04.toml")
    names = [v.name for v in experiment.variants]
    assert "spert" in names and "spertmt-preset-thresholds" in names
    for variant in experiment.variants:
        if variant.config:
            run_experiments._run_config(experiment, variant, 1, None)  # every config loads


@pytest.mark.parametrize(
    ("dataset", "slug"),
    [
        ("conll04:test", "conll04-test"),
        ("/data/my set/test.json", "test"),
        ("../x/dev split.jsonl", "dev-split"),
    ],
)
def test_result_file_names_never_hold_a_path(dataset, slug):
    assert run_experiments._slug(dataset) == slug


def record(seed, relation, entity, dev, trained_as=None):
    return {
        "seed": seed,
        **({"trained_as": trained_as} if trained_as else {}),
        "metrics": {
            "relation_strict": {"micro": {"f1": relation}},
            "entity": {"micro": {"f1": entity}},
        },
        "threshold_tuning": {"chosen": {"relation_strict_micro_f1": dev}},
    }


def test_component_effects_pair_the_ablation_with_the_full_preset_by_seed():
    key = ("conll04:test", "minilm")
    groups = {
        (*key, "spertmt", 20): [record(1, 62.0, 83.0, 65.0), record(2, 61.0, 84.0, 64.0)],
        (*key, "spertmt-no-B", 20): [
            record(1, 60.0, 82.0, 66.0),
            record(2, 60.0, 84.0, 63.0),
            record(3, 10.0, 10.0, 10.0),
        ],  # seed 3: no full run
        (*key, "spertmt-preset-thresholds", 20): [record(1, 0.0, 0.0, 0.0, "spertmt")],
        # another protocol (train+dev, no dev scores), not an ablation
        (*key, "spertmt-train-dev", 20): [
            {**record(1, 66.0, 85.0, None), "train_data": "conll04:train_dev",
             "threshold_tuning": None, "dev_metrics": None}
        ],
    }  # fmt: skip
    rows = [line for line in report._effects(groups) if line.startswith("| conll04")]
    assert rows == [
        "| conll04:test | spertmt-no-B | 1,2 | 1.50 ± 0.71 | 0.50 ± 0.71 | 0.00 ± 1.41 |"
    ]


HEADLINE = "relation_strict_micro_f1"


def tuned(seed, scores):
    rows = [
        {"setting": {"entity_threshold": 0.8, "relation_threshold": t}, HEADLINE: f}
        for t, f in scores.items()
    ]
    return {"seed": seed, "threshold_tuning": {"dev_rows": rows}}


def test_preset_setting_is_the_best_mean_over_seeds_not_any_single_seed():
    records_ = [tuned(1, {0.5: 66.0, 0.6: 64.0}), tuned(2, {0.5: 58.0, 0.6: 63.0})]
    setting, mean = report.preset_setting(records_)
    assert setting == {"entity_threshold": 0.8, "relation_threshold": 0.6}
    assert mean == pytest.approx(63.5)


def test_preset_setting_counts_only_settings_every_run_scored():
    records_ = [tuned(1, {0.5: 60.0, 0.9: 99.0}), tuned(2, {0.5: 61.0})]
    assert report.preset_setting(records_)[0]["relation_threshold"] == 0.5
    assert report.preset_setting([*records_, {"seed": 3}]) is None


def test_records_carry_the_hardware():
    info = records.hardware()
    assert info["cpu"] and isinstance(info["cpu_flags"], list) and info["cores"] >= 1


def test_removed_variants_keep_their_description_and_say_why(bench):
    described = report.variant_descriptions()
    assert described["gone"] == (
        "a variant the library no longer has; removed from the library, rejected on dev"
    )


def test_the_declared_variants_reproduce_the_training_of_their_records():
    """Rerunning a declaration trains what its committed records were trained with."""
    experiment = run_experiments.load_experiment(ROOT / "benchmarks/experiments/conll04.toml")
    checked = 0
    for variant in experiment.variants:
        if variant.removed:
            continue
        for seed in variant.seeds:
            config, _ = run_experiments._run_config(experiment, variant, seed, None)
            path = (
                records.RESULTS
                / run_experiments.result_path(experiment, variant, seed, config).name
            )
            if not path.exists():
                continue
            recorded = json.loads(path.read_text())
            assert run_experiments.training_differences(recorded["config"], config) == [], path.name
            checked += 1
    assert checked >= 30


def test_one_variant_name_means_one_thing_across_experiment_files(bench):
    experiments = bench[1] / "experiments"
    (experiments / "other.toml").write_text(
        'dataset = "other"\n[[variant]]\nname = "base"\nremoved = "x"\nseeds = [1]\n'
        'description = "something else"\n'
    )
    with pytest.raises(SystemExit, match="described differently"):
        report.variant_descriptions()


def test_the_committed_experiment_files_give_each_variant_name_one_meaning():
    descriptions = report.variant_descriptions()  # raises where two files disagree
    assert {"spert", "spert-fast", "spertmt-fast"} <= set(descriptions)


FOLDS = """
dataset = "ade"
also_no_overlap = true

[[variant]]
name = "cv"
config = "CONFIG"
folds = [0, 1]
seeds = [1]
description = "the tiny model, cross-validated"
"""


@pytest.fixture()
def folds_bench(bench, monkeypatch):
    """Two ADE-style folds in a data folder of their own, and an experiment over them."""
    _, tmp = bench
    data = tmp / "data" / "ade"
    data.mkdir(parents=True)
    (data / "ade_types.json").write_text(json.dumps(TYPES.to_dict()))
    for fold in (0, 1):
        for split, count in (("train", 4), ("test", 2 + fold)):
            path = data / f"ade_split_{fold}_{split}.json"
            path.write_text(json.dumps([d.to_dict() for d in lives_in(count)]))
    monkeypatch.setenv("SPERTMT_DATA_DIR", str(tmp / "data"))
    config = tmp / "tiny.toml"
    text = config.read_text()
    text = text.replace(f'dev = "{tmp / "dev.json"}"', 'dev = "none"')
    text = text.replace(f'types = "{tmp / "types.json"}"\n', "")
    config.write_text(text)
    experiment = tmp / "experiments" / "ade.toml"
    experiment.write_text(FOLDS.replace("CONFIG", str(config)))
    return experiment, tmp


def test_cross_validation_runs_every_fold_and_pools_them_in_the_report(folds_bench, capsys):
    experiment, tmp = folds_bench
    args = [str(experiment), "--workdir", str(tmp / "runs"), "--threads", "1"]
    assert run_experiments.main([*args, "--list"]) == 0
    assert "todo     ade cv fold 0 seed 1\ntodo     ade cv fold 1 seed 1" in capsys.readouterr().out
    assert run_experiments.main(args) == 0
    assert sorted(p.name for p in (tmp / "runs" / "ade").iterdir()) == [
        "cv-fold0-seed1",
        "cv-fold1-seed1",
    ]
    records_ = {
        fold: json.loads(
            next((tmp / "results").glob(f"ade-{fold}-test_cv_*_seed1.json")).read_text()
        )
        for fold in (0, 1)
    }
    for fold, record in records_.items():
        assert record["fold"] == fold and record["folds_declared"] == 2
        assert (
            record["dataset"] == f"ade:{fold}:test" and record["train_data"] == f"ade:{fold}:train"
        )
        assert set(record["metrics_no_overlap"]) >= {"entity", "relation_strict"}
        assert len(record["document_counts"]["relation_strict"]) == 2 + fold
    rows = json.loads((tmp / "results" / "table.json").read_text())
    pooled = [r for r in rows if r["dataset"] == "ade" and r["preset"] == "cv"]
    assert {r["protocol"] for r in pooled} == {"2-fold", "2-fold no-overlap"}
    macro = next(r for r in pooled if r["protocol"] == "2-fold" and "strict macro" in r["metric"])
    values = [records_[f]["metrics"]["relation_strict"]["macro"]["f1"] for f in (0, 1)]
    assert macro["n"] == 2 and macro["mean"] == pytest.approx(sum(values) / 2, abs=0.01)
    text = (tmp / "results.md").read_text()
    assert "| ade:2-fold | " in text and "2 folds (0,1) × seed 1" in text
    assert run_experiments.main(args) == 0  # everything done: nothing runs again
    assert "2 runs declared, 0 of removed variants, 2 done, 0 to run" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("folds", "message"),
    [("[0, 0]", "a fold is listed twice"), ('["a"]', "folds is a list of fold numbers")],
)
def test_bad_folds_name_the_variant(tmp_path, folds, message):
    path = tmp_path / "x.toml"
    path.write_text(FOLDS.replace("folds = [0, 1]", f"folds = {folds}"))
    with pytest.raises(SystemExit, match=rf"variant 0 \(cv\): {message}"):
        run_experiments.load_experiment(path)


def test_the_first_eta_of_a_session_comes_from_earlier_records(bench, capsys):
    assert run(bench) == 0
    capsys.readouterr()
    recorded = result(bench, "base")["train_seconds"]
    import shutil

    shutil.rmtree(bench[1] / "runs" / "tiny" / "base-seed1")  # trained again, timed by the record
    assert run(bench, "--only", "base", "--force") == 0
    out = capsys.readouterr().out
    assert f"[1/1, ETA ~{recorded / 60:.0f} min from earlier runs] tiny base seed 1" in out
    assert run(bench, "--list") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 done, 0 to run"


def test_the_eta_times_each_run_by_records_of_the_same_training(bench, capsys, monkeypatch):
    assert run(bench, "--only", "base") == 0
    recorded = result(bench, "base")["train_seconds"]
    experiment, _ = bench
    text = experiment.read_text()
    # one more seed of the same training, one of another batch size (never timed)
    text = text.replace(
        'seeds = [1]\ndescription = "the tiny base"',
        'seeds = [1, 2]\ndescription = "the tiny base"',
    )
    text += (
        '\n[[variant]]\nname = "wide"\nconfig = "CONFIG"\noverrides = ["train.batch_size=4"]\n'
        'seeds = [1]\ndescription = "the tiny base, batch 4"\n'
    ).replace("CONFIG", str(bench[1] / "tiny.toml"))
    experiment.write_text(text)
    capsys.readouterr()
    assert run(bench, "--list") == 0
    last = capsys.readouterr().out.splitlines()[-1]
    # base seed 2 is timed by base seed 1; the run_of variants cost nothing; wide is not timed
    assert last == (
        f"1 done, 4 to run; ETA ~{recorded / 60:.0f} min from earlier runs (+1 run never timed)"
    )


def test_a_training_never_recorded_is_timed_from_its_data_under_another_recipe(
    bench, capsys, monkeypatch
):
    experiment = run_experiments.load_experiment(bench[0])
    variant = experiment.variant("base")
    config = run_experiments._run_config(experiment, variant, 1, None, None)[0]
    data, *recipe = run_experiments.training_key(config.to_dict())
    other = ("mpnet", 2, "fp32", 20)
    earlier = {  # this data under another recipe; both recipes on another dataset
        (data, *other): 3000.0,
        ("other:train", *other): 1000.0,
        ("other:train", *recipe): 200.0,
    }
    monkeypatch.setattr(run_experiments, "_earlier_training_seconds", lambda: dict(earlier))
    assert run(bench, "--list") == 0
    # base: 3000 s × 200 / 1000 = 10 min; its two re-decisions cost nothing
    assert capsys.readouterr().out.splitlines()[-1] == (
        "0 done, 3 to run; ETA ~10 min from earlier runs (1 scaled from other trainings)"
    )
    del earlier[(data, *other)]  # nothing connects this data to a recorded recipe
    assert run(bench, "--list") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 done, 3 to run; no ETA: 1 run never timed"


def test_scaled_seconds_average_every_connecting_record():
    earlier = {
        ("a", "r1"): 100.0,
        ("b", "r1"): 50.0,
        ("b", "r2"): 100.0,
        ("c", "r1"): 10.0,
        ("c", "r2"): 40.0,
    }
    # a under r2: 100 × 100/50 = 200 (through b), 100 × 40/10 = 400 (through c)
    assert run_experiments.scaled_seconds(("a", "r2"), earlier) == 300.0
    assert run_experiments.scaled_seconds(("d", "r2"), earlier) is None
    assert run_experiments.scaled_seconds(("a", "r3"), earlier) is None


@pytest.mark.parametrize(
    "config, key",
    [
        (
            {"data": {"train": "ade:7:train"}, "model": {"encoder": "/x/mpnet"},
             "train": {"batch_size": 8, "precision": "auto", "epochs": 20}},
            ("ade:F:train", "mpnet", 8, "auto", 20),
        ),
        ({"data": {"train": "conll04:train"}, "model": {}, "train": {}}, None),
    ],
)  # fmt: skip
def test_the_training_key_groups_folds_and_names_the_encoder(config, key):
    assert run_experiments.training_key(config) == key


def test_tune_metric_chooses_the_rule_by_the_named_dev_score(bench):
    experiment, _ = bench
    text = experiment.read_text().replace(
        'dataset = "tiny"\n', 'dataset = "tiny"\ntune_metric = "entity_micro_f1"\n'
    )
    experiment.write_text(text)
    assert run(bench, "--only", "base", "base-tuned") == 0
    tuning = result(bench, "base-tuned")["threshold_tuning"]
    assert tuning["metric"] == "entity_micro_f1"
    rows = tuning["dev_rows"]
    assert tuning["chosen"]["entity_micro_f1"] == max(r["entity_micro_f1"] for r in rows)


def test_the_default_tune_metric_is_relation_strict_micro(bench):
    assert run(bench, "--only", "base", "base-tuned") == 0
    assert result(bench, "base-tuned")["threshold_tuning"]["metric"] == "relation_strict_micro_f1"


def test_a_bad_tune_metric_names_the_file_and_the_choices(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('dataset = "tiny"\ntune_metric = "relation_f1"\n')
    with pytest.raises(SystemExit, match=r"x\.toml: tune_metric 'relation_f1' is not one of"):
        run_experiments.load_experiment(path)


def test_the_tune_metrics_are_those_the_tuner_knows():
    from spertmt.inference.tuning import METRICS

    assert run_experiments.TUNING_METRICS == METRICS


def test_list_shows_a_stopped_run_s_epochs_and_the_eta_counts_only_what_is_left(
    bench, capsys, monkeypatch
):
    class EveryTrainingTook(dict):  # an earlier record of 80 minutes for any training
        def get(self, key, default=None):
            return 4800.0

    monkeypatch.setattr(run_experiments, "_earlier_training_seconds", EveryTrainingTook)
    config = bench[1] / "tiny.toml"
    config.write_text(config.read_text().replace("epochs = 1", "epochs = 4"))
    assert run(bench, "--list") == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "0 done, 3 to run; ETA ~80 min from earlier runs"
    )
    checkpoint = bench[1] / "runs" / "tiny" / "base-seed1" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "training.json").write_text(json.dumps({"epochs_completed": 3}))
    assert run(bench, "--list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "partial  tiny base seed 1 (epoch 3 of 4 checkpointed)"
    assert lines[-1] == "0 done, 3 to run; ETA ~20 min from earlier runs"  # a quarter is left


def test_the_first_run_of_a_training_never_timed_times_the_runs_after_it(bench, capsys):
    experiment, _ = bench
    experiment.write_text(
        experiment.read_text()
        + (
            '\n[[variant]]\nname = "wide"\nconfig = "CONFIG"\noverrides = ["train.batch_size=4"]\n'
            'seeds = [1, 2]\ndescription = "the tiny base, batch 4"\n'
        ).replace("CONFIG", str(bench[1] / "tiny.toml"))
    )
    assert run(bench, "--only", "wide") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert lines[0] == "[1/2, no ETA: 2 runs never timed] tiny wide seed 1"
    assert lines[1].startswith("[2/2, ETA ~") and lines[1].endswith("] tiny wide seed 2")


class EveryTrainingTook(dict):
    """Earlier records that say any training took 80 minutes."""

    def get(self, key, default=None):
        return 4800.0


def test_a_time_limit_starts_only_runs_expected_to_end_before_it(bench, capsys, monkeypatch):
    monkeypatch.setattr(run_experiments, "_earlier_training_seconds", EveryTrainingTook)
    assert run(bench, "--time-limit", "1h") == 0
    out = capsys.readouterr().out
    assert "[1/3] tiny base seed 1: not started, expected to take ~80 min with 60 min left" in out
    # the re-decisions of a run that was not started wait for it, without an error
    assert "[2/3] tiny base-tuned seed 1: not started, its run was not (--time-limit)" in out
    assert out.rstrip().endswith("3 runs not started: expected to end after --time-limit")
    assert not (bench[1] / "runs" / "tiny" / "base-seed1").exists()
    assert not (bench[1] / "results").exists()

    assert run(bench, "--time-limit", "1h30m") == 0  # 80 minutes fit
    out = capsys.readouterr().out
    assert "not started" not in out and "wrote " in out
    assert result(bench, "base")["metrics"]


@pytest.mark.parametrize(
    "text, seconds",
    [("2h50m", 10200.0), ("170m", 10200.0), ("170", 10200.0), ("90s", 90.0), ("1.5h", 5400.0)],
)
def test_time_limits_are_read_as_durations(text, seconds):
    assert run_experiments.parse_duration(text) == seconds


def test_a_bad_time_limit_says_how_to_write_one(bench, capsys):
    with pytest.raises(SystemExit) as stop:
        run(bench, "--time-limit", "soon")
    assert stop.value.code == 2
    assert "'soon' is not a duration: write it as 2h50m, 170m" in capsys.readouterr().err


def test_a_second_worker_leaves_the_runs_of_the_first_to_it(bench, capsys):
    workdir = bench[1] / "runs"
    # another process (here: a second open file of this one) holds base seed 1
    with run_experiments.claimed(workdir, "tiny", "base-seed1") as mine:
        assert mine
        assert run_experiments.held_elsewhere(workdir, "tiny", "base-seed1")
        assert run(bench) == 0
        out = capsys.readouterr().out
        assert "[1/3] tiny base seed 1: another worker has it; tried again at the end" in out
        assert "[2/3] tiny base-tuned seed 1: another worker trains its run; left to it" in out
        assert "[3/3] tiny base-flat seed 1: another worker trains its run; left to it" in out
        assert "  tiny base seed 1: left to the worker that holds it" in out
        assert not (workdir / "tiny" / "base-seed1").exists()
    assert not run_experiments.held_elsewhere(workdir, "tiny", "base-seed1")  # released
    assert run(bench) == 0
    assert "another worker" not in capsys.readouterr().out
    assert result(bench, "base-flat")["trained_as"] == "base"


def test_a_run_whose_worker_stopped_is_taken_up_at_the_end(bench, capsys, monkeypatch):
    import contextlib

    real, calls = run_experiments.claimed, []

    @contextlib.contextmanager
    def held_once(workdir, dataset, name):  # base seed 1 is held when first reached, then free
        calls.append(name)
        if name == "base-seed1" and calls.count(name) == 1:
            yield False
        else:
            with real(workdir, dataset, name) as mine:
                yield mine

    monkeypatch.setattr(run_experiments, "claimed", held_once)
    assert run(bench) == 0
    out = capsys.readouterr().out
    assert "[1/3] tiny base seed 1: another worker has it; tried again at the end" in out
    assert "[2/3] tiny base-tuned seed 1: its run is not finished; tried again at the end" in out
    for variant in ("base", "base-tuned", "base-flat"):
        assert result(bench, variant)["trained_as"] == "base"


def test_a_file_system_without_locks_is_noted_and_the_runs_still_go_ahead(
    bench, capsys, monkeypatch
):
    import errno
    import fcntl

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    monkeypatch.setattr(run_experiments, "_LOCKS_FAILED", set())
    assert run(bench) == 0
    captured = capsys.readouterr()
    assert "note: cannot lock files in" in captured.err and "(No locks available)" in captured.err
    assert "another worker" not in captured.out
    assert result(bench, "base-tuned")["trained_as"] == "base"


WORKER = """
import pathlib, sys, time
sys.path.insert(0, {benchmarks!r})
import report, run_experiments
import spertmt.training

tmp = pathlib.Path({tmp!r})
run_experiments.RESULTS = report.RESULTS = tmp / "results"
report.SUMMARY, report.EXPERIMENTS = tmp / "results.md", tmp / "experiments"
real_train = spertmt.training.train


def train(config, **kwargs):  # meet the other worker inside a training before going on
    gate = tmp / "gate"
    gate.mkdir(exist_ok=True)
    (gate / str(config.train.seed)).touch()
    waited = time.monotonic()
    while len(list(gate.iterdir())) < 2 and time.monotonic() - waited < 120:
        time.sleep(0.05)
    return real_train(config, **kwargs)


spertmt.training.train = train
sys.exit(run_experiments.main(
    [{experiment!r}, "--workdir", str(tmp / "runs"), "--threads", "1", "--only", "base"]
))
"""


def test_two_workers_started_with_the_same_command_train_each_run_once(bench):
    import subprocess

    experiment, tmp = bench
    experiment.write_text(
        experiment.read_text().replace(
            'seeds = [1]\ndescription = "the tiny base"',
            'seeds = [1, 2]\ndescription = "the tiny base"',
        )
    )
    script = WORKER.format(
        benchmarks=str(ROOT / "benchmarks"), tmp=str(tmp), experiment=str(experiment)
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    # each worker trained one seed, at the same time (each waited inside its training until
    # the other one was in its own): the second found the first one's run claimed
    assert sorted(p.name for p in (tmp / "gate").iterdir()) == ["1", "2"], outputs
    assert "tiny base seed 1: another worker has it" in "".join(outputs), outputs
    for seed in (1, 2):
        metrics = tmp / "runs" / "tiny" / f"base-seed{seed}" / "metrics.jsonl"
        events = [json.loads(line).get("event") for line in metrics.read_text().splitlines()]
        assert events.count("start") == 1, (seed, outputs)  # trained once, by one worker
    assert len(list((tmp / "results").glob("test_base_*_seed*.json"))) == 2
