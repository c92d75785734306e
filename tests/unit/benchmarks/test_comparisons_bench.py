"""Declared comparisons (``[[comparison]]`` in an experiment file): parsing, the paired
per-seed computation of ``report.py`` and the Headline it renders, on small synthetic records."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402
import run_experiments  # noqa: E402
from run_experiments import Comparison  # noqa: E402

VARIANTS = """
dataset = "toy"

[[variant]]
name = "new"
removed = "x"
seeds = [1, 2, 3]
description = "the new model"

[[variant]]
name = "old"
removed = "x"
seeds = [2, 3, 4]
description = "the old model"
"""

COMPARISON = """
[[comparison]]
name = "fair"
label = "equal decoding"
variant = "new"
baseline = "old"
metric = "relation_strict.micro"
"""


def experiment_file(tmp_path: Path, text: str, name: str = "toy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def record(variant, seed, relation, entity, *, dataset="toy:test", encoder="minilm", **extra):
    """A run record with just what the report reads."""
    return {
        "variant": variant,
        "seed": seed,
        "dataset": dataset,
        "encoder": encoder,
        "epochs": 20,
        "train_data": "toy:train",
        "train_seconds": 60.0,
        "command": "python benchmarks/run_experiments.py toy.toml",
        "dev_metrics": {"relation_strict": {"micro": {"f1": 50.0}}},
        "metrics": {
            "relation_strict": {"micro": {"f1": relation}, "macro": {"f1": relation - 1}},
            "relation_boundaries": {"micro": {"f1": relation + 1}},
            "entity": {"micro": {"f1": entity}},
        },
        **extra,
    }


def test_a_comparison_is_parsed_with_entity_f1_as_its_default_second_metric(tmp_path):
    text = VARIANTS + COMPARISON + 'note = "both tuned on dev"\n'
    experiment = run_experiments.load_experiment(experiment_file(tmp_path, text))
    assert experiment.comparisons == (
        Comparison(
            name="fair",
            label="equal decoding",
            variant="new",
            baseline="old",
            metric=("relation_strict", "micro"),
            also=(("entity", "micro"),),
            note="both tuned on dev",
        ),
    )


def test_also_lists_further_metrics_and_drops_the_headline_metric(tmp_path):
    text = VARIANTS + COMPARISON + 'also = ["relation_strict.micro", "relation_strict.macro"]\n'
    (comparison,) = run_experiments.load_experiment(experiment_file(tmp_path, text)).comparisons
    assert comparison.also == (("relation_strict", "macro"),) and comparison.note == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("bogus = 1\n", r"comparison 0 \(fair\): unknown field\(s\) \['bogus'\]"),
        ('also = "entity.micro"\n', "also is a list of metrics"),
        ('also = ["entity.weighted"]\n', "is not SETTING.AVERAGE"),
        (COMPARISON, "comparison 1 \\(fair\\): the name is used twice"),
    ],
)
def test_a_bad_comparison_names_the_file_and_the_comparison(tmp_path, extra, message):
    path = experiment_file(tmp_path, VARIANTS + COMPARISON + extra)
    with pytest.raises(SystemExit, match=message):
        run_experiments.load_experiment(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('baseline = "old"', 'baseline = "older"', "baseline 'older' is not a variant"),
        ('baseline = "old"', 'baseline = "new"', "variant and baseline are the same"),
        ('metric = "relation_strict.micro"', 'metric = "relation.micro"', "SETTING one of"),
        ('metric = "relation_strict.micro"\n', "", "missing 'metric'"),
    ],
)
def test_a_comparison_must_name_two_variants_of_its_file_and_a_known_metric(
    tmp_path, old, new, message
):
    path = experiment_file(tmp_path, VARIANTS + COMPARISON.replace(old, new))
    with pytest.raises(SystemExit, match=message):
        run_experiments.load_experiment(path)


def test_an_unknown_top_level_key_is_refused(tmp_path):
    path = experiment_file(tmp_path, VARIANTS + "[[comparisons]]\nname = 'x'\n")
    with pytest.raises(SystemExit, match=r"unknown top-level key\(s\) \['comparisons'\]"):
        run_experiments.load_experiment(path)


FAIR = Comparison("fair", "equal decoding", "new", "old", ("relation_strict", "micro"))


def test_the_comparison_pairs_only_the_seeds_both_variants_have():
    new = [record("new", 1, 99.0, 99.0), record("new", 2, 62.0, 80.0), record("new", 3, 61.0, 82.0)]
    old = [record("old", 4, 10.0, 10.0), record("old", 3, 60.0, 83.0), record("old", 2, 62.5, 80.0)]
    row = report.paired_comparison(FAIR, new, old)
    assert row["seeds"] == [2, 3]
    assert row["unpaired_seeds"] == {"variant": [1], "baseline": [4]}
    relation, entity = row["metrics"]
    assert relation["metric"] == "relation_strict micro F1"
    assert relation["variant"] == [62.0, 61.0] and relation["baseline"] == [62.5, 60.0]
    assert relation["differences"] == [-0.5, 1.0]
    assert relation["variant_mean"] == 61.5 and relation["baseline_mean"] == 61.25
    assert relation["mean"] == 0.25 and relation["std"] == pytest.approx(1.06, abs=0.005)
    assert entity["metric"] == "entity micro F1"
    assert entity["differences"] == [0.0, -1.0] and entity["mean"] == -0.5


def test_the_differences_come_from_unrounded_scores():
    new = [record("new", 1, 60.004, 80.0), record("new", 2, 60.004, 80.0)]
    old = [record("old", 1, 59.996, 80.0), record("old", 2, 60.004, 80.0)]
    relation = report.paired_comparison(FAIR, new, old)["metrics"][0]
    assert relation["variant"] == [60.0, 60.0] and relation["baseline"] == [60.0, 60.0]
    assert relation["differences"] == [0.01, 0.0]


def test_one_common_seed_has_no_std_and_none_has_no_mean():
    one = report.paired_comparison(
        FAIR, [record("new", 1, 61.0, 80.0)], [record("old", 1, 60.0, 80.0)]
    )
    assert one["metrics"][0]["mean"] == 1.0 and one["metrics"][0]["std"] is None
    none = report.paired_comparison(
        FAIR, [record("new", 1, 61.0, 80.0)], [record("old", 2, 60.0, 80.0)]
    )
    assert none["seeds"] == [] and none["metrics"][0]["mean"] is None


def test_pairs_trained_in_different_arithmetic_are_named():
    # "auto" resolves per machine: bf16 where the CPU has it natively, fp32 elsewhere
    auto = {"train": {"precision": "auto"}}
    bf16_machine = {"cpu_flags": ["avx2", "avx512_bf16"]}
    new = [
        record("new", 1, 61.0, 80.0, config=auto, train_precisions=["fp32"]),
        record("new", 2, 62.0, 80.0, config=auto, train_precisions=["bf16"]),
        record("new", 3, 62.0, 80.0, config=auto, train_precisions=["bf16", "fp32"]),
    ]
    old = [
        record("old", 1, 60.0, 80.0, config=auto, hardware=bf16_machine),  # an older record
        record("old", 2, 60.0, 80.0, config=auto, hardware=bf16_machine),
        record("old", 3, 60.0, 80.0, config=auto, train_precisions=["bf16"]),
    ]
    row = report.paired_comparison(FAIR, new, old)
    assert row["precision_differs"] == [
        "1: `new` fp32, `old` bf16 (inferred)",
        "3: `new` bf16+fp32, `old` bf16",
    ]
    same = report.paired_comparison(FAIR, new[1:2], old[1:2])
    assert same["precision_differs"] == []
    # a declared recipe comparison (fp32 against auto) differs in arithmetic on purpose
    fp32 = [record("old", 1, 60.0, 80.0, config={"train": {"precision": "fp32"}})]
    assert report.paired_comparison(FAIR, new[:1], fp32)["precision_differs"] == []


def test_two_records_of_one_seed_in_one_group_are_an_error():
    twice = [record("new", 1, 61.0, 80.0, _path="a.json"), record("new", 1, 62.0, 80.0)]
    with pytest.raises(SystemExit, match="new: two records of seed 1"):
        report.paired_comparison(FAIR, twice, [record("old", 1, 60.0, 80.0)])


def test_rows_are_per_encoder_and_only_from_the_experiment_s_own_records(tmp_path):
    experiment = run_experiments.load_experiment(experiment_file(tmp_path, VARIANTS + COMPARISON))
    records_ = [
        record("new", 2, 62.0, 80.0, encoder="mpnet"),
        record("new", 2, 61.0, 80.0),
        record("old", 2, 60.0, 80.0),
        record("old", 2, 0.0, 0.0, dataset="other:test"),  # another dataset: not this one
        record("old", 2, 0.0, 0.0, experiment="benchmarks/experiments/other.toml"),
    ]
    rows = report.comparison_rows([experiment], records_)
    assert [(r["encoder"], r["seeds"]) for r in rows] == [("minilm", [2]), ("mpnet", [])]
    assert rows[0]["metrics"][0]["differences"] == [1.0]
    assert rows[0]["protocol"] == "train->test" and rows[0]["epochs"] == 20


def test_the_report_leads_with_the_headline_in_declaration_order(tmp_path, monkeypatch):
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    second = COMPARISON.replace('"fair"', '"unfair"').replace("equal decoding", "decoding differs")
    experiment_file(
        experiments,
        VARIANTS
        + COMPARISON
        + 'note = "the same rule"\n'
        + second.replace('baseline = "old"', 'baseline = "new"').replace(
            'variant = "new"', 'variant = "old"'
        ),
    )
    results = tmp_path / "results"
    results.mkdir()
    for r in [
        record("new", 1, 61.0, 80.0),
        record("new", 2, 63.0, 81.0),
        record("new", 3, 62.0, 82.0),
        record("old", 2, 62.0, 80.0),
        record("old", 3, 60.0, 83.0),
        record("old", 4, 60.0, 83.0),
    ]:
        (results / f"toy-test_{r['variant']}_minilm_seed{r['seed']}.json").write_text(json.dumps(r))
    monkeypatch.setattr(report, "RESULTS", results)
    monkeypatch.setattr(report, "SUMMARY", tmp_path / "results.md")
    monkeypatch.setattr(report, "EXPERIMENTS", experiments)
    report.write_report()

    text = (tmp_path / "results.md").read_text()
    assert text.index("## Headline") < text.index("## Every variant")
    rows = [line for line in text.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert rows[0].startswith("| 1 | equal decoding | toy:test, minilm, 20 epochs |")
    assert "| 2,3 (unpaired: `new` 1; `old` 4) |" in rows[0]
    assert "`new`: 63.00, 62.00 (62.50) | `old`: 62.00, 60.00 (61.00) |" in rows[0]
    assert "| +1.00, +2.00 | **+1.50 ± 0.71** |" in rows[0]
    assert "Entity F1 (micro): +1.00, \u22121.00 → +0.00 ± 1.41 |" in rows[0]
    assert rows[1].startswith("| 2 | decoding differs |") and "**\u22121.50 ± 0.71**" in rows[1]
    assert "1. `new` − `old`: the same rule." in text
    assert "different arithmetic" not in text  # both sides fp32 (the records' default)

    data = json.loads((results / "comparisons.json").read_text())
    assert [(row["name"], row["variant"], row["baseline"]) for row in data] == [
        ("fair", "new", "old"),
        ("unfair", "old", "new"),
    ]
    assert data[0]["records"] == {
        "variant": [f"toy-test_new_minilm_seed{seed}.json" for seed in (1, 2, 3)],
        "baseline": [f"toy-test_old_minilm_seed{seed}.json" for seed in (2, 3, 4)],
    }


def test_the_conll04_headline_is_fresh_seeds_then_equal_decoding_then_published_defaults():
    experiment = run_experiments.load_experiment(ROOT / "benchmarks/experiments/conll04.toml")
    fresh, first, second, *_ = experiment.comparisons
    assert fresh.headline and not any(c.headline for c in experiment.comparisons[1:])
    assert (fresh.variant, fresh.baseline) == ("headline-spertmt", "headline-spert")
    assert set(experiment.variant(fresh.variant).seeds).isdisjoint(
        experiment.variant("mt-fast-iou-cls").seeds
    )
    assert (first.variant, first.baseline) == ("spertmt-flat", "spert-flat")
    assert (second.variant, second.baseline) == ("spertmt-preset-thresholds", "spert")
    assert second.label.startswith("decoding differs")
    assert all(c.metric == ("relation_strict", "micro") for c in experiment.comparisons)


def counted(variant, seed, per_document, entity=80.0):
    """A record whose relation strict micro F1 is that of its ``(correct, gold, predicted)``."""
    correct, gold, pred = (sum(t[k] for t in per_document) for k in range(3))
    return record(
        variant,
        seed,
        200 * correct / (gold + pred),
        entity,
        document_counts={"relation_strict": [list(t) for t in per_document]},
    )


def test_records_with_document_counts_get_a_paired_bootstrap_interval():
    new = [counted("new", s, [(3, 4, 4), (2, 2, 3), (1, 3, 2)]) for s in (1, 2)]
    old = [counted("old", s, [(2, 4, 4), (2, 2, 3), (0, 3, 2)]) for s in (1, 2)]
    relation, entity = report.paired_comparison(FAIR, new, old)["metrics"]
    boot = relation["bootstrap"]
    assert boot["difference"] == relation["mean"] and boot["seeds"] == 2 and boot["documents"] == 3
    assert boot["low"] <= boot["difference"] <= boot["high"]
    assert boot["resamples"] == report.BOOTSTRAP_RESAMPLES
    assert entity["bootstrap"] is None  # no per-document entity counts in these records
    assert "[95% CI " in report._mean_std(relation)


def test_no_bootstrap_without_counts_on_every_paired_record():
    new = [counted("new", 1, [(3, 4, 4)]), record("new", 2, 61.0, 80.0)]
    old = [counted("old", 1, [(2, 4, 4)]), counted("old", 2, [(2, 4, 4)])]
    assert report.paired_comparison(FAIR, new, old)["metrics"][0]["bootstrap"] is None


def test_headline_json_holds_the_headline_comparison_per_dataset(tmp_path):
    text = VARIANTS + COMPARISON + "headline = true\n" + COMPARISON.replace('"fair"', '"other"')
    experiment = run_experiments.load_experiment(experiment_file(tmp_path, text))
    assert [c.headline for c in experiment.comparisons] == [True, False]
    records_ = [
        counted("new", 2, [(3, 4, 4), (1, 2, 2)], entity=81.0),
        counted("new", 3, [(2, 4, 4), (2, 2, 2)], entity=82.0),
        counted("old", 2, [(2, 4, 4), (1, 2, 2)], entity=80.0),
        counted("old", 3, [(2, 4, 4), (1, 2, 2)], entity=83.0),
    ]
    entries = report.headline_entries(report.comparison_rows([experiment], records_))
    assert list(entries) == ["toy"]
    toy = entries["toy"]
    assert toy["metric"] == "relation_strict micro F1" and toy["seeds"] == [2, 3]
    assert toy["spertmt"] == [66.67, 66.67] and toy["spert"] == [50.0, 50.0]
    assert toy["differences"] == [16.67, 16.67] and toy["mean"] == 16.67
    assert toy["bootstrap"]["difference"] == 16.67
    assert toy["entity"]["differences"] == [1.0, -1.0]
    assert (toy["comparison"], toy["variant"], toy["baseline"]) == ("fair", "new", "old")


def test_only_one_comparison_of_a_file_may_be_the_headline(tmp_path):
    text = (
        VARIANTS
        + COMPARISON
        + "headline = true\n"
        + COMPARISON.replace('"fair"', '"other"')
        + "headline = true\n"
    )
    with pytest.raises(SystemExit, match="only one comparison may be the headline"):
        run_experiments.load_experiment(experiment_file(tmp_path, text))


def test_a_comparison_scores_test_unless_it_names_dev(tmp_path):
    text = VARIANTS + COMPARISON + COMPARISON.replace('"fair"', '"fair-dev"') + 'split = "dev"\n'
    test, dev = run_experiments.load_experiment(experiment_file(tmp_path, text)).comparisons
    assert (test.split, dev.split) == ("test", "dev")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('split = "train"\n', r"split 'train' is not one of \['test', 'dev'\]"),
        ('split = "dev"\nheadline = true\n', "a headline compares test scores, not dev"),
    ],
)
def test_a_bad_split_is_refused(tmp_path, extra, message):
    with pytest.raises(SystemExit, match=message):
        run_experiments.load_experiment(experiment_file(tmp_path, VARIANTS + COMPARISON + extra))


def test_a_re_scored_variant_cannot_be_compared_on_dev(tmp_path):
    rescored = (
        '\n[[variant]]\nname = "old-tuned"\nremoved = "x"\nseeds = [2]\ntune = "t"\n'
        'description = "old, thresholds chosen on dev"\n'
    )
    text = (
        "grids = { t = { relation_threshold = [0.4, 0.5] } }\n"
        + VARIANTS
        + rescored
        + COMPARISON.replace('baseline = "old"', 'baseline = "old-tuned"')
        + 'split = "dev"\n'
    )
    with pytest.raises(SystemExit, match="baseline 'old-tuned' is re-scored"):
        run_experiments.load_experiment(experiment_file(tmp_path, text))
    on_test = text.replace('split = "dev"\n', "")
    (comparison,) = run_experiments.load_experiment(experiment_file(tmp_path, on_test)).comparisons
    assert comparison.split == "test"


def dev_scored(variant, seed, dev_relation, dev_entity, test_counts):
    """A record with per-document test counts and its own dev scores."""
    made = counted(variant, seed, test_counts)
    made["dev_metrics"] = {
        "relation_strict": {"micro": {"f1": dev_relation}},
        "entity": {"micro": {"f1": dev_entity}},
    }
    return made


def test_a_dev_comparison_pairs_dev_scores_without_a_bootstrap():
    dev = Comparison("fair-dev", "on dev", "new", "old", ("relation_strict", "micro"), split="dev")
    new = [dev_scored("new", s, 60.0 + s, 80.0, [(3, 4, 4), (2, 2, 3)]) for s in (1, 2)]
    old = [dev_scored("old", s, 59.0, 81.0, [(2, 4, 4), (1, 2, 3)]) for s in (1, 2)]
    row = report.paired_comparison(dev, new, old)
    relation, entity = row["metrics"]
    assert row["split"] == "dev"
    assert relation["metric"] == "relation_strict micro F1"
    assert relation["variant"] == [61.0, 62.0] and relation["differences"] == [2.0, 3.0]
    assert relation["bootstrap"] is None  # the per-document counts are of test
    assert entity["metric"] == "entity micro F1" and entity["mean"] == -1.0
    on_test = report.paired_comparison(FAIR, new, old)
    assert on_test["split"] == "test" and on_test["metrics"][0]["bootstrap"] is not None


def test_a_record_without_dev_scores_is_named():
    dev = Comparison("fair-dev", "on dev", "new", "old", ("relation_strict", "micro"), split="dev")
    old_record = record("old", 1, 60.0, 80.0, _path="results/toy-test_old_minilm_seed1.json")
    del old_record["dev_metrics"]
    with pytest.raises(SystemExit, match="toy-test_old_minilm_seed1.json: no dev_metrics"):
        report.paired_comparison(dev, [record("new", 1, 61.0, 80.0)], [old_record])


def test_a_dev_row_of_the_headline_says_dev_in_its_data_and_metric():
    dev = Comparison("fair-dev", "on dev", "new", "old", ("relation_strict", "micro"), split="dev")
    row = {
        **report.paired_comparison(
            dev,
            [dev_scored("new", 1, 61.0, 80.0, [(1, 2, 2)])],
            [dev_scored("old", 1, 60.0, 81.0, [(1, 2, 2)])],
        ),
        "label": "on dev",
        "dataset": "toy:test",
        "encoder": "minilm",
        "epochs": 20,
    }
    (line,) = [text for text in report._headline([row]) if text.startswith("| 1 |")]
    assert "| toy:dev, minilm, 20 epochs | Rel. strict F1 (micro) (dev) |" in line
    assert "Entity F1 (micro) (dev): \u22121.00" in line
