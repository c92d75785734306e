"""benchmarks/accuracy.py with a tiny random encoder: a run's record, and ``--run-of`` scoring
another variant's finished run without training it again."""

import json
import sys
from pathlib import Path

import pytest
from samples import TYPES

from spertmt.schema import Document, Entity, Relation

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import accuracy  # noqa: E402


def docs(count: int) -> list[Document]:
    names, cities = ["John", "Anna", "Paul"], ["Paris", "Rome", "Oslo", "Lima"]
    return [
        Document(
            (names[i % 3], "lives", "in", cities[i % 4], "."),
            (Entity("Peop", 0, 1), Entity("Loc", 3, 4)),
            (Relation("Live_In", 0, 1),),
        )
        for i in range(count)
    ]


@pytest.fixture()
def bench(tiny_bert_dir, tmp_path, monkeypatch):
    """A tiny config with train/dev/test files; results go to tmp_path, not the repository."""
    (tmp_path / "types.json").write_text(json.dumps(TYPES.to_dict()))
    for split, count in (("train", 4), ("dev", 3), ("test", 3)):
        (tmp_path / f"{split}.json").write_text(json.dumps([d.to_dict() for d in docs(count)]))
    config = tmp_path / "tiny.toml"
    config.write_text(
        f"""
[model]
encoder = "{tiny_bert_dir}"
max_span_width = 3

[data]
train = "{tmp_path / "train.json"}"
dev = "{tmp_path / "dev.json"}"
test = "{tmp_path / "test.json"}"
types = "{tmp_path / "types.json"}"

[train]
epochs = 1
neg_entity_count = 5
neg_relation_count = 5
device = "cpu"
eval_every = 0
"""
    )
    monkeypatch.setattr(accuracy, "RESULTS", tmp_path / "results")
    return config, tmp_path


def run(config, variant, *, overrides=(), **kwargs):
    _, tmp = config
    return accuracy.run_one(
        str(config[0]),
        variant,
        1,
        list(overrides),
        force=kwargs.pop("force", False),
        workdir=tmp / "runs",
        threads=1,
        **kwargs,
    )


def test_run_of_scores_the_finished_run_of_another_variant(bench):
    first = json.loads(run(bench, "base").read_text())
    assert first["trained_as"] == "base" and first["threshold_tuning"] is None
    runs = sorted(p.name for p in (bench[1] / "runs").iterdir())

    grid = {"relation_threshold": [0.2, 0.6]}
    tuned = json.loads(run(bench, "base-tuned", run_of="base", tune_grid=grid).read_text())
    assert sorted(p.name for p in (bench[1] / "runs").iterdir()) == runs  # nothing trained
    assert tuned["variant"] == "base-tuned" and tuned["trained_as"] == "base"
    assert tuned["train_git_commit"] == first["git_commit"]
    assert tuned["metrics_default_thresholds"] == first["metrics"]
    assert [r["setting"] for r in tuned["threshold_tuning"]["dev_rows"]] == [
        {"relation_threshold": 0.2},
        {"relation_threshold": 0.6},
    ]
    assert (
        accuracy._dev_relation_f1(tuned)
        == tuned["threshold_tuning"]["chosen"]["relation_strict_micro_f1"]
    )


def test_run_of_refuses_a_run_trained_with_other_settings(bench):
    run(bench, "base")
    with pytest.raises(SystemExit, match=r"model\.max_span_width.*only inference settings"):
        run(bench, "wider", run_of="base", overrides=["model.max_span_width=4"])
    # thresholds and decision rules may differ: that is the point of --run-of
    assert run(bench, "strict", run_of="base", overrides=["model.relation_threshold=0.9"])
    assert run(bench, "product", run_of="base", overrides=["model.relation_score=product"])


def test_run_of_needs_a_finished_run(bench):
    with pytest.raises(SystemExit, match="no finished run.*train it first"):
        run(bench, "tuned", run_of="missing")


@pytest.mark.parametrize(
    ("dataset", "slug"),
    [
        ("conll04:test", "conll04-test"),
        ("/data/my set/test.json", "test"),
        ("../x/dev split.jsonl", "dev-split"),
        ("C:\\data\\held out.json", "held-out"),
    ],
)
def test_result_file_names_never_hold_a_path(dataset, slug):
    assert accuracy._slug(dataset) == slug


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
        # re-scorings of the spertmt runs, not trained on their own
        (*key, "spertmt-preset-thresholds", 20): [record(1, 0.0, 0.0, 0.0, "spertmt")],
        (*key, "spertmt-score-modes", 20): [record(1, 0.0, 0.0, 0.0, "spertmt")],
    }
    rows = [line for line in accuracy._effects(groups) if line.startswith("| conll04")]
    assert rows == [
        "| conll04:test | spertmt-no-B | 1,2 | 1.50 ± 0.71 | 0.50 ± 0.71 | 0.00 ± 1.41 |"
    ]


HEADLINE = "relation_strict_micro_f1"


def tuned(seed, scores):
    """A record whose dev tuning scored each relation threshold as given."""
    rows = [
        {"setting": {"entity_threshold": 0.8, "relation_threshold": t}, HEADLINE: f}
        for t, f in scores.items()
    ]
    return {"seed": seed, "threshold_tuning": {"dev_rows": rows}}


def test_preset_setting_is_the_best_mean_over_seeds_not_any_single_seed():
    records = [tuned(1, {0.5: 66.0, 0.6: 64.0}), tuned(2, {0.5: 58.0, 0.6: 63.0})]
    setting, mean = accuracy.preset_setting(records)
    assert setting == {"entity_threshold": 0.8, "relation_threshold": 0.6}
    assert mean == pytest.approx(63.5)


def test_preset_setting_counts_only_settings_every_run_scored():
    records = [tuned(1, {0.5: 60.0, 0.9: 99.0}), tuned(2, {0.5: 61.0})]
    assert accuracy.preset_setting(records)[0]["relation_threshold"] == 0.5
    assert accuracy.preset_setting([*records, {"seed": 3}]) is None  # one run not tuned


def test_run_of_scores_with_its_own_inference_settings(bench, monkeypatch):
    """A re-scored run uses the thresholds and rules its command sets, not the checkpoint's."""
    import tune_thresholds

    seen = []
    real_tune = tune_thresholds.tune

    def spy(model, *args, **kwargs):
        seen.append(model.config)
        return real_tune(model, *args, **kwargs)

    monkeypatch.setattr(tune_thresholds, "tune", spy)
    run(bench, "base")
    overrides = ["model.entity_overlap=resolve", "model.relation_threshold=0.9"]
    grid = {"entity_threshold": [0.5]}
    run(bench, "flat", run_of="base", overrides=overrides, tune_grid=grid)
    # no grid: the run's own settings are scored, as one row
    plain = json.loads(run(bench, "flat-plain", run_of="base", overrides=overrides).read_text())
    assert [(c.entity_overlap, c.relation_threshold) for c in seen] == [("resolve", 0.9)] * 2
    assert [r["setting"] for r in plain["threshold_tuning"]["dev_rows"]] == [{}]
    assert "the config's settings" in accuracy._chosen([plain])
