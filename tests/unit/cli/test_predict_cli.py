"""``spertmt predict``: raw text, JSON and JSONL input, standard input/output, formats, modes."""

import io
import json
import sys

import pytest

from spertmt.cli import main
from spertmt.data.text import tokenize_text
from spertmt.schema import Document, Entity

LINES = [
    "John Smith lives in Paris.",
    "",
    "   ",
    "Anna moved to Rome. She likes it.",
    "東京 😀 is\x07 big! مرحبا بالعالم",
]


def predict(eager_checkpoint, *args):
    return main(["predict", "--model", str(eager_checkpoint), "-q", *map(str, args)])


def assert_exact_offsets(doc):
    assert doc["entities"], "the eager eager_checkpoint always predicts entities"
    for entity in doc["entities"]:
        assert doc["text"][entity["char_start"] : entity["char_end"]] == entity["text"]


def test_text_lines_give_one_document_per_non_blank_line(
    eager_checkpoint, eager_api, tmp_path, capsys
):
    source = tmp_path / "news.txt"
    source.write_text("\r\n".join(LINES) + "\r\n", encoding="utf-8")
    assert predict(eager_checkpoint, source, "-o", tmp_path / "out.json") == 0
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    kept = [line for line in LINES if line.strip()]
    assert [d["text"] for d in out] == kept
    assert [d["orig_id"] for d in out] == [1, 4, 5]  # line numbers in the input
    for doc, expected in zip(out, eager_api.predict(kept), strict=True):
        assert_exact_offsets(doc)
        assert doc["entities"] == expected.to_dict()["entities"]
        assert doc["relations"] == expected.to_dict()["relations"]
    err = capsys.readouterr().err
    assert "wrote 3 documents" in err and "skipped 2 blank lines" in err


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_line_ending_gives_one_document_per_line(eager_checkpoint, tmp_path, newline):
    source = tmp_path / "lines.txt"
    source.write_bytes(newline.join(["Ann met Bob .", "", "Rome is old ."]).encode() + b"\r")
    assert predict(eager_checkpoint, source, "-o", tmp_path / "out.json") == 0
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [d["text"] for d in out] == ["Ann met Bob .", "Rome is old ."]
    assert [d["orig_id"] for d in out] == [1, 3]


def test_a_form_feed_inside_a_line_does_not_split_the_document(eager_checkpoint, tmp_path):
    (tmp_path / "a.txt").write_text("Paris\x0cis big.\u2028Rome too.\n", encoding="utf-8")
    assert predict(eager_checkpoint, tmp_path / "a.txt", "-o", tmp_path / "o.jsonl") == 0
    [doc] = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert doc["text"] == "Paris\x0cis big.\u2028Rome too."


def test_whole_file_is_one_document(eager_checkpoint, tmp_path):
    text = "Anna moved to Rome.\n\nShe met John Smith there.\n"
    (tmp_path / "story.txt").write_text(text, encoding="utf-8")
    assert (
        predict(eager_checkpoint, tmp_path / "story.txt", "--whole-file", "-o", tmp_path / "o.json")
        == 0
    )
    [doc] = json.loads((tmp_path / "o.json").read_text())
    assert doc["text"] == text
    assert_exact_offsets(doc)


def test_standard_input_to_standard_output(eager_checkpoint, monkeypatch, capsys):
    stdin = io.TextIOWrapper(io.BytesIO(b"Ann met Bob.\nRome is old.\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert predict(eager_checkpoint, "-") == 0
    captured = capsys.readouterr()
    docs = json.loads(captured.out)  # only predictions on stdout; the report is on stderr
    assert [d["text"] for d in docs] == ["Ann met Bob.", "Rome is old."]
    assert "to standard output" in captured.err


def test_standard_input_takes_json_lines_documents_too(eager_checkpoint, monkeypatch, capsys):
    lines = b'{"tokens": ["Ann", "met", "Bob", "."]}\n{"tokens": ["Rome", "is", "old"]}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8"))
    assert predict(eager_checkpoint, "--input-format", "jsonl", "-", "--format", "jsonl") == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["tokens"] for d in docs] == [["Ann", "met", "Bob", "."], ["Rome", "is", "old"]]
    broken = io.TextIOWrapper(io.BytesIO(b'{"tokens": ["a"]}\n{"tokens": 7}\n'), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", broken)
    assert predict(eager_checkpoint, "--input-format", "jsonl", "-") == 1
    err = capsys.readouterr().err
    assert "<stdin>, line 2, document 1, field tokens" in err and "stdin.jsonl" not in err


@pytest.mark.parametrize(
    ("name", "extra", "kind"),
    [("o.jsonl", [], "jsonl"), ("o.json", [], "json"), ("o.txt", ["--format", "jsonl"], "jsonl")],
)
def test_output_format_follows_the_suffix_or_the_option(
    eager_checkpoint, tmp_path, name, extra, kind
):
    (tmp_path / "in.txt").write_text("Ann met Bob.\nRome is old.\n")
    assert predict(eager_checkpoint, tmp_path / "in.txt", "-o", tmp_path / name, *extra) == 0
    text = (tmp_path / name).read_text()
    if kind == "jsonl":
        assert len([json.loads(line) for line in text.splitlines()]) == 2
    else:
        assert len(json.loads(text)) == 2


def test_html_output_is_one_self_contained_page(eager_checkpoint, tmp_path):
    (tmp_path / "in.txt").write_text("John Smith lives in <Paris> & Rome.\n")
    assert predict(eager_checkpoint, tmp_path / "in.txt", "-o", tmp_path / "view.html") == 0
    page = (tmp_path / "view.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "&lt;" in page and "&amp;" in page and "<Paris" not in page
    assert "Peop" in page and "Loc" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page.lower()


def test_json_input_keeps_orig_ids_and_ignores_gold_annotations(
    eager_checkpoint, eager_api, tmp_path
):
    docs = [
        {"tokens": ["Ann", "lives", "in", "Rome"], "orig_id": "a", "entities": [], "relations": []},
        {"tokens": ["Bob", "works", "."], "orig_id": "b"},
    ]
    (tmp_path / "in.json").write_text(json.dumps(docs))
    assert predict(eager_checkpoint, tmp_path / "in.json", "-o", tmp_path / "o.json") == 0
    out = json.loads((tmp_path / "o.json").read_text())
    expected = eager_api.predict([Document(tuple(d["tokens"]), orig_id=d["orig_id"]) for d in docs])
    assert out == [d.to_dict() for d in expected]


def test_given_entities_predicts_only_relations(eager_checkpoint, eager_api, tmp_path):
    entities = [
        {"type": "Peop", "start": 0, "end": 2},
        {"type": "Loc", "start": 4, "end": 5},
        {"type": "Loc", "start": 6, "end": 7},
    ]
    doc = {"tokens": "John Smith lives in Paris near Lyon .".split(), "entities": entities}
    (tmp_path / "in.jsonl").write_text(json.dumps(doc) + "\n")
    out_path = tmp_path / "o.json"
    assert predict(eager_checkpoint, tmp_path / "in.jsonl", "--given-entities", "-o", out_path) == 0
    [out] = json.loads(out_path.read_text())
    assert [{k: e[k] for k in ("type", "start", "end")} for e in out["entities"]] == entities
    expected = eager_api.predict(
        Document(tuple(doc["tokens"])), entities=[Entity(**e) for e in entities]
    )
    assert out["relations"] == expected.to_dict()["relations"]
    assert out["relations"], "relation scores near 0.5 pass the default threshold"


def test_thresholds_apply_to_the_run(eager_checkpoint, tmp_path):
    (tmp_path / "in.txt").write_text("John Smith lives in Paris near Lyon.\n")
    args = (tmp_path / "in.txt", "-o", tmp_path / "o.json", "--relation-threshold", "1.0")
    assert predict(eager_checkpoint, *args) == 0
    [doc] = json.loads((tmp_path / "o.json").read_text())
    assert doc["entities"] and doc["relations"] == []


def _overlapping(doc):
    spans = [(e["start"], e["end"]) for e in doc["entities"]]
    return [
        (a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if a[0] < b[1] and b[0] < a[1]
    ]


def test_entity_overlap_resolve_applies_to_the_run_only(eager_checkpoint, eager_api, tmp_path):
    (tmp_path / "in.txt").write_text("John Smith lives in Paris near Lyon.\nAnna likes Rome.\n")
    args = (tmp_path / "in.txt", "-o", tmp_path / "o.json", "--entity-overlap", "resolve")
    assert predict(eager_checkpoint, *args) == 0
    resolved = json.loads((tmp_path / "o.json").read_text())
    assert len(resolved) == 2 and all(d["entities"] and not _overlapping(d) for d in resolved)
    expected = eager_api.predict([d["text"] for d in resolved], entity_overlap="resolve")
    assert [{k: d[k] for k in ("entities", "relations")} for d in resolved] == [
        {k: d.to_dict()[k] for k in ("entities", "relations")} for d in expected
    ]
    # The next run, without the option, uses the checkpoint's rule ("allow") again.
    assert predict(eager_checkpoint, tmp_path / "in.txt", "-o", tmp_path / "a.json") == 0
    allowed = json.loads((tmp_path / "a.json").read_text())
    assert all(_overlapping(d) for d in allowed)


def test_every_decision_option_reaches_the_rule(eager_checkpoint, eager_api, tmp_path):
    from spertmt.inference.files import predict_file

    (tmp_path / "in.txt").write_text("John Smith lives in Paris near Lyon.\n")
    options = {
        "entity_threshold": 0.3,
        "entity_score": "product",
        "iou_threshold": 0.2,
        "entity_overlap": "resolve",
        "relation_threshold": 0.45,
        "relation_binary_threshold": 0.6,
    }
    flags = [
        part for name, value in options.items() for part in (f"--{name.replace('_', '-')}", value)
    ]
    assert predict(eager_checkpoint, tmp_path / "in.txt", "-o", tmp_path / "o.json", *flags) == 0
    [doc] = json.loads((tmp_path / "o.json").read_text())
    expected = eager_api.predict("John Smith lives in Paris near Lyon.", **options).to_dict()
    assert doc["entities"] == expected["entities"] and doc["relations"] == expected["relations"]
    assert doc["entities"] and doc["relations"] and not _overlapping(doc)
    # The Python function takes the same fields as a mapping.
    predict_file(eager_checkpoint, tmp_path / "in.txt", tmp_path / "p.json", decision=options)
    assert json.loads((tmp_path / "p.json").read_text()) == [doc]


def test_errors_name_the_input_and_exit_with_one_line(eager_checkpoint, tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"Fine line.\nCaf\xe9 au lait.\n")
    assert predict(eager_checkpoint, bad) == 1
    err = capsys.readouterr().err
    assert "[E101]" in err and "latin1.txt" in err and "line 2" in err and "0xe9" in err
    assert "Traceback" not in err

    (tmp_path / "in.txt").write_text("Ann met Bob.\n")
    assert predict(eager_checkpoint, tmp_path / "in.txt", "--given-entities") == 1
    assert "[E211]" in capsys.readouterr().err

    (tmp_path / "in.json").write_text('[{"tokens": ["a"]}]')
    assert predict(eager_checkpoint, tmp_path / "in.json", "--whole-file") == 1
    assert "[E211]" in capsys.readouterr().err

    (tmp_path / "in.csv").write_text("a,b\n")
    assert predict(eager_checkpoint, tmp_path / "in.csv") == 1
    err = capsys.readouterr().err
    assert "[E210]" in err and "in.csv" in err and "--input-format" in err

    (tmp_path / "bad.jsonl").write_text('{"tokens": ["a"]}\n{"tokens": []}\n')
    assert predict(eager_checkpoint, tmp_path / "bad.jsonl") == 1
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and "document 1" in err and "tokens" in err

    given = {"tokens": ["Ann", "met", "Bob"], "entities": [{"type": "Org", "start": 0, "end": 1}]}
    (tmp_path / "given.jsonl").write_text(json.dumps(given) + "\n")
    assert predict(eager_checkpoint, tmp_path / "given.jsonl", "--given-entities") == 1
    err = capsys.readouterr().err
    assert "given.jsonl" in err and "entities[0]" in err and "Org" in err

    assert predict(eager_checkpoint, tmp_path / "in.txt", "--entity-threshold", "1.5") == 2
    err = capsys.readouterr().err
    assert "--entity-threshold" in err and "Traceback" not in err

    assert predict(eager_checkpoint, tmp_path / "in.txt", "--device", "tpu0") == 1
    err = capsys.readouterr().err
    assert "[E209] config key device: unknown device 'tpu0'" in err and "train.device" not in err

    assert predict(eager_checkpoint, tmp_path / "in.txt", "--entity-overlap", "merge") == 2
    err = capsys.readouterr().err
    assert "--entity-overlap" in err and "Traceback" not in err


def test_empty_input_writes_an_empty_list(eager_checkpoint, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("\n  \n")
    assert predict(eager_checkpoint, tmp_path / "empty.txt", "-o", tmp_path / "o.json") == 0
    assert json.loads((tmp_path / "o.json").read_text()) == []
    assert "wrote 0 documents" in capsys.readouterr().err


def test_a_100k_character_document(eager_checkpoint, tmp_path):
    unit = "John Smith lives in Paris near Lyon, 東京 😀! "
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    (tmp_path / "long.txt").write_text(text, encoding="utf-8")
    # --entity-threshold 1.0 keeps the eager tiny model from making ~60,000 entities; the
    # whole text still goes through reading, splitting, the encoder, span scoring and merging.
    args = ("--whole-file", "--entity-threshold", "1.0", "--batch-size", "256")
    assert predict(eager_checkpoint, tmp_path / "long.txt", *args, "-o", tmp_path / "o.json") == 0
    [doc] = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    assert doc["text"] == text
    assert doc["tokens"] == [t for s in tokenize_text(text) for t in s.tokens]  # none dropped


def test_an_unwritable_output_fails_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import spertmt.inference.api as api

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(api.SpertMT, "from_pretrained", must_not_load)
    (tmp_path / "in.txt").write_text("John lives in Paris.\n")
    (tmp_path / "a file").write_text("x")
    for output in (tmp_path / "a file" / "out.json", tmp_path):
        code = main(
            ["predict", "--model", str(tmp_path), str(tmp_path / "in.txt"), "-o", str(output)]
        )
        assert code == 1
        assert "[E115]" in capsys.readouterr().err


def test_an_unknown_type_in_given_entities_names_the_models_types(
    eager_checkpoint, tmp_path, capsys
):
    doc = Document(("Ann", "met", "Bob"), (Entity("Person", 0, 1), Entity("Peop", 2, 3)))
    path = tmp_path / "given.json"
    path.write_text(json.dumps([doc.to_dict()]))
    assert predict(eager_checkpoint, path, "--given-entities") == 1
    err = capsys.readouterr().err
    assert "[E112]" in err and "not declared in the model's types" in err
    assert "types file" not in err  # the types come from the model, there is no file to edit
