"""benchmarks/paper_table.py: the published numbers beside ours, and the README's copy."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import paper_table  # noqa: E402
import plots  # noqa: E402


def table_row(dataset, preset, metric, mean, std, n, protocol="train->test"):
    return {
        "dataset": dataset,
        "encoder": "minilm",
        "preset": preset,
        "protocol": protocol,
        "metric": metric,
        "mean": mean,
        "std": std,
        "n": n,
        "records": [],
    }


def test_cells_come_from_the_table_rows_in_each_dataset_s_published_metric():
    published = plots.load_published()
    rows = [
        paper_table.Row("ours: spert", "minilm", {"conll04": "spert", "ade": "spert"}),
        paper_table.Row("ours: other", "minilm", {"scierc": "missing"}),
    ]
    table = [
        table_row("conll04", "spert", "relation_strict micro F1", 60.02, 0.6, 3),
        table_row("conll04", "spert", "relation_strict macro F1", 1.0, 0.0, 3),  # not the metric
        table_row("ade", "spert", "relation_strict macro F1", 70.5, 1.25, 4, protocol="10-fold"),
        table_row("ade", "spert", "relation_strict macro F1", 9.0, 0.0, 4, "10-fold no-overlap"),
    ]
    lines = paper_table.paper_table(table, published, rows)
    assert lines[0].startswith("| test F1, % | CoNLL04: rel. strict micro |")
    assert "ADE: rel. strict macro (10 folds)" in lines[0]
    assert lines[2] == (
        "| SpERT, published | 71.47 (bert-base-cased) | 50.84 (SciBERT) | 78.84 (bert-base-cased) |"
    )
    assert (
        lines[4]
        == "| ours: spert, minilm | 60.02 ± 0.60 (3 seeds) | – | 70.50 ± 1.25 (4 of 10 folds) |"
    )
    assert lines[5] == "| ours: other, minilm | – | – | – |"


def test_the_readme_table_is_replaced_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{paper_table.START}\nold\n{paper_table.END}\nafter\n")
    assert paper_table.update_readme(["| new |"], readme)
    assert readme.read_text() == f"intro\n{paper_table.START}\n| new |\n{paper_table.END}\nafter\n"
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not paper_table.update_readme(["| new |"], plain)
    assert plain.read_text() == "no markers\n"


def test_the_committed_rows_name_variants_of_the_experiment_files():
    import report

    declared = {
        (experiment.dataset, variant.name)
        for experiment in report.load_experiments()
        for variant in experiment.variants
    }
    for row in paper_table.load_rows():
        for dataset, variant in row.variants.items():
            assert (dataset, variant) in declared, (row.label, dataset, variant)


def test_a_bad_row_names_the_file(tmp_path):
    path = tmp_path / "rows.toml"
    path.write_text('[[row]]\nlabel = "x"\n')
    with pytest.raises(SystemExit, match=r"rows.toml, row 0: needs label, encoder"):
        paper_table.load_rows(path)


def test_the_readme_carries_the_table_markers():
    text = (ROOT / "README.md").read_text()
    assert text.index(paper_table.START) < text.index(paper_table.END)


def test_a_row_s_protocol_picks_its_cells():
    published = plots.load_published()
    rows = [paper_table.Row("final", "minilm", {"conll04": "spert-td"}, "train+dev->test")]
    table = [
        table_row("conll04", "spert-td", "relation_strict micro F1", 1.0, None, 1),
        table_row(
            "conll04", "spert-td", "relation_strict micro F1", 70.0, None, 1, "train+dev->test"
        ),
    ]
    assert paper_table.paper_table(table, published, rows)[-1] == (
        "| final, minilm | 70.00 (1 seed) | – | – |"
    )


def test_a_cell_says_how_many_of_its_declared_runs_it_holds():
    published = plots.load_published()
    rows = [
        paper_table.Row("part", "minilm", {"conll04": "a", "scierc": "b", "ade": "c"}),
        paper_table.Row("none", "minilm", {"conll04": "d", "ade": "e"}),
    ]
    table = [
        table_row("conll04", "a", "relation_strict micro F1", 62.5, 1.03, 2),
        table_row("scierc", "b", "relation_boundaries micro F1", 40.4, None, 1),
        table_row("ade", "c", "relation_strict macro F1", 79.57, 3.08, 4, protocol="10-fold"),
    ]
    declared = {("conll04", "a"): 3, ("scierc", "b"): 1, ("ade", "c"): 10, ("conll04", "d"): 2}
    declared[("ade", "e")] = 10
    lines = paper_table.paper_table(table, published, rows, declared)
    assert lines[-2] == (
        "| part, minilm | 62.50 ± 1.03 (2 of 3 seeds) | 40.40 (1 seed) "
        "| 79.57 ± 3.08 (4 of 10 folds) |"
    )
    assert lines[-1] == "| none, minilm | – (0 of 2 seeds) | – | – (0 of 10 folds) |"
    # More records than declared (seeds added by hand): the count alone.
    more = paper_table.paper_table(table, published, rows[:1], {("conll04", "a"): 1})
    assert "62.50 ± 1.03 (2 seeds)" in more[-1]


def test_declared_runs_count_folds_for_cross_validation_and_skip_removed_variants():
    import report

    declared = paper_table.declared_runs(report.load_experiments())
    assert declared[("ade", "spert")] == 10
    assert declared[("conll04", "spert")] == 6  # seeds 1-6: issue 15's six-seed check
    removed = {
        (experiment.dataset, variant.name)
        for experiment in report.load_experiments()
        for variant in experiment.variants
        if variant.removed
    }
    assert not removed & set(declared)
