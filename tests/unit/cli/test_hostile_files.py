"""Every hostile file (``tests/data/hostile``) gives a coded one-line error or a correct result
through the command line: ``predict``, ``predict --given-entities``, ``stats``, ``evaluate``.

Each file's outcome is written down here, so a change of behaviour shows. Big cases (deep
nesting 100,000 levels, a 300,000-character line, 200,000 entities in one document) are
generated at test time. The property-based fuzzing of the same readers is in
``tests/unit/data/test_fuzz.py``.
"""

import json
import re
from pathlib import Path

import pytest

from spertmt.cli import main

HOSTILE = Path(__file__).resolve().parents[2] / "data" / "hostile"
TYPES = HOSTILE / "types.json"
OK = "ok"

# file -> outcome of every command, or {command: outcome} ("P" predict, "G" predict
# --given-entities, "S" stats, "E" evaluate with the file as gold and as predictions).
DOCUMENT_FILES = {
    "bidi_tokens.json": OK,
    "binary_garbage.json": "E101",
    "blank_token.json": "E107",
    "bom.json": OK,
    "bom.jsonl": OK,
    "bool_span.json": "E108",
    "control_chars_in_type_names.json": {"P": OK, "G": "E112", "S": "E112", "E": "E112"},
    "cr_only.jsonl": OK,
    "crlf_and_blank_lines.jsonl": OK,
    "deep_nesting.json": "E102",
    "deep_nesting_in_a_document.jsonl": "E102",
    "duplicate_entities.json": OK,
    "duplicate_keys.json": OK,
    "empty.json": "E102",
    "empty_span.json": "E109",
    "float_span.json": "E108",
    "huge_numbers.json": "E105",
    "huge_token.json": OK,
    "infinity_orig_id.json": OK,
    "invalid_utf8.json": "E101",
    "json_lines_in_a_json_file.json": "E102",
    "lone_surrogate_orig_id.jsonl": "E102",
    "lone_surrogate_token.json": "E102",
    "lone_surrogate_type.json": "E102",
    "nan_scores.json": "E108",
    "nan_span.json": "E108",
    "negative_span.json": "E105",
    "no_tokens.json": "E107",
    "nul_bytes_in_json.json": "E102",
    "nul_tokens.json": OK,
    "relation_to_itself.json": "E111",
    "relation_to_nothing.json": "E110",
    "tokens_not_strings.json": "E107",
    "top_level_object.json": "E103",
    "top_level_string.json": "E103",
    "truncated.json": "E102",
    "type_not_a_string.json": "E108",
    "unknown_types.json": {"P": OK, "G": "E112", "S": "E112", "E": "E112"},
    "utf16.json": "E101",
    "whitespace_only.json": "E102",
}
# raw text -> the number of documents predicted, or an error code
TEXT_FILES = {
    "bidi.txt": 2,
    "bom.txt": 1,
    "cr_only.txt": 3,
    "emoji_and_combining.txt": 1,
    "form_feed_and_vertical_tab.txt": 1,
    "invalid_utf8.txt": "E101",
    "mixed_line_endings.txt": 4,
    "nul_lines.txt": 3,
    "only_controls.txt": 2,
}
TYPES_FILES = {
    "types.json": OK,
    "types_control_chars.json": "E114",
    "types_deep_nesting.json": "E102",
    "types_not_an_object.json": "E114",
}
# Invisible characters separate words and are never part of one (docs/prediction.md).
INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def run(capsys, args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    return code, err


def assert_outcome(code: int, err: str, expected: str) -> None:
    assert "Traceback" not in err
    if expected == OK:
        assert code == 0, err
        return
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err  # one line, even for names holding line breaks
    assert lines[0].startswith(f"error: [{expected}] "), err


def commands(path: Path, model: Path, out: Path) -> dict[str, list]:
    predict = ["predict", "--model", model, path, "-o", out, "-q", "--entity-threshold", "0.999"]
    return {
        "P": predict,
        "G": [*predict, "--given-entities"],
        "S": ["stats", path, "--types", TYPES],
        "E": ["evaluate", "--gold", path, "--pred", path, "--types", TYPES, "--json", out],
    }


def all_commands(outcome) -> dict[str, str]:
    return outcome if isinstance(outcome, dict) else dict.fromkeys("PGSE", outcome)


def test_every_hostile_file_is_listed():
    listed = {*DOCUMENT_FILES, *TEXT_FILES, *TYPES_FILES, "README.md"}
    assert {p.name for p in HOSTILE.iterdir()} == listed
    assert all(p.stat().st_size < 30_000 for p in HOSTILE.iterdir())  # big ones: generated


@pytest.mark.parametrize("name", sorted(DOCUMENT_FILES))
def test_document_files(name, eager_checkpoint, tmp_path, capsys):
    path = HOSTILE / name
    for command, expected in all_commands(DOCUMENT_FILES[name]).items():
        out = tmp_path / f"{command}.jsonl" if command != "E" else tmp_path / "report.json"
        code, err = run(capsys, commands(path, eager_checkpoint, out)[command])
        assert_outcome(code, err, expected)
        if expected == OK and command in "PG":
            docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
            assert docs and all(d["tokens"] for d in docs)
        if expected == OK and command == "E":
            report = json.loads(out.read_text())
            # the file against itself: every setting is perfect, or empty
            assert report["entity"]["micro"]["f1"] in (0.0, 100.0)


@pytest.mark.parametrize("name", sorted(TEXT_FILES))
def test_text_files(name, eager_checkpoint, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, commands(HOSTILE / name, eager_checkpoint, out)["P"])
    expected = TEXT_FILES[name]
    if isinstance(expected, str):
        assert_outcome(code, err, expected)
        return
    assert_outcome(code, err, OK)
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(docs) == expected
    for doc in docs:
        assert "\n" not in doc["text"] and "\r" not in doc["text"]
        assert not any(INVISIBLE.search(token) for token in doc["tokens"]), doc["tokens"]


def test_nul_and_control_characters_are_never_words(eager_checkpoint, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, commands(HOSTILE / "nul_lines.txt", eager_checkpoint, out)["P"])
    assert code == 0, err
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["tokens"] for d in docs] == [
        ["John", "lives", "in", "Paris", "."],
        [],  # a line of NULs: kept as a document (its line number), with no words
        ["Anna", "works"],
    ]
    assert [d["orig_id"] for d in docs] == [1, 2, 3]


@pytest.mark.parametrize("name", sorted(TYPES_FILES))
def test_types_files(name, tmp_path, capsys):
    gold = HOSTILE / "bom.json"
    args = ["evaluate", "--gold", gold, "--pred", gold, "--types", HOSTILE / name]
    assert_outcome(*run(capsys, args), TYPES_FILES[name])


# --------------------------------------------------------------------------- generated
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_nested_100000_deep(suffix, eager_checkpoint, tmp_path, capsys):
    path = tmp_path / f"deep{suffix}"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    for command in "PGSE":
        out = tmp_path / "out.jsonl"
        code, err = run(capsys, commands(path, eager_checkpoint, out)[command])
        assert_outcome(code, err, "E102")
        assert "nested too deeply" in err
    types = tmp_path / "types.json"
    types.write_text('{"entities": ' + "[" * 100_000 + "]" * 100_000 + "}")
    args = ["evaluate", "--gold", HOSTILE / "bom.json", "--pred", HOSTILE / "bom.json"]
    assert_outcome(*run(capsys, [*args, "--types", types]), "E102")


def test_a_300000_character_line_without_a_space(eager_checkpoint, tmp_path, capsys):
    path = tmp_path / "line.txt"
    path.write_text("x" * 300_000 + "\nJohn lives in Paris.\n")
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, commands(path, eager_checkpoint, out)["P"])
    assert_outcome(code, err, OK)
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(d["text"]) for d in docs] == [300_000, 20]


def test_200000_entities_in_one_document(eager_checkpoint, tmp_path, capsys):
    """Statistics and evaluation stay linear; given entities hit the pair limit at once."""
    words = 2_000
    spans = [(s, s + w) for w in range(1, 120) for s in range(words - w + 1)][:200_000]
    entities = [
        {"type": "Peop" if i % 2 else "Loc", "start": s, "end": e} for i, (s, e) in enumerate(spans)
    ]
    doc = {"tokens": ["w"] * words, "entities": entities, "relations": [], "orig_id": "big"}
    path = tmp_path / "big.json"
    path.write_text(json.dumps([doc]))
    cmds = commands(path, eager_checkpoint, tmp_path / "out.jsonl")
    assert_outcome(*run(capsys, cmds["S"]), OK)
    cmds["E"][-1] = tmp_path / "report.json"
    assert_outcome(*run(capsys, cmds["E"]), OK)
    assert json.loads((tmp_path / "report.json").read_text())["entity"]["micro"]["f1"] == 100.0
    code, err = run(capsys, cmds["G"])
    assert_outcome(code, err, "E508")
    assert f"{path}, document 0 (orig_id big): 200,000 given entities" in err
