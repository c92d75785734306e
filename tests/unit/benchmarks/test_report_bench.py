"""benchmarks/report.py: a record the report cannot read is named, dirty records are listed."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402

RECORD = {
    "dataset": "conll04",
    "encoder": "minilm",
    "variant": "spert",
    "epochs": 20,
    "seed": 1,
    "git_commit": "abc1234",
    "metrics": {"entity": {}, "relation_strict": {}},
}


def test_a_result_record_is_read_and_other_json_files_are_passed_over(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(RECORD))
    assert report.read_record(path) == RECORD
    path.write_text(json.dumps({"rows": []}))  # table.json, a speed record: no metrics
    assert report.read_record(path) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"metrics": ', "not a readable JSON file"),
        (json.dumps({k: v for k, v in RECORD.items() if k != "seed"}), "without seed"),
        (json.dumps({**RECORD, "metrics": {"entity": {}}}), "metrics.entity/relation_strict"),
    ],
)
def test_a_record_the_report_cannot_use_stops_it_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(SystemExit) as info:
        report.read_record(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_records_from_a_dirty_tree_are_listed_with_their_changed_files():
    clean = {**RECORD, "_path": "/r/a.json"}
    dirty = {**RECORD, "_path": "/r/b.json", "git_commit": "abc1234-dirty"}
    listed = {**dirty, "_path": "/r/c.json", "changed_files": ["src/x.py"]}
    lines = report.dirty_section({("conll04", "minilm", "spert", 20): [clean, dirty, listed]})
    assert "2 of the records" in "\n".join(lines)
    assert "- `b.json`: abc1234-dirty" in lines
    assert "- `c.json`: abc1234-dirty (changed: src/x.py)" in lines
    assert not any("a.json" in line for line in lines)
    assert report.dirty_section({("conll04", "minilm", "spert", 20): [clean]}) == []
