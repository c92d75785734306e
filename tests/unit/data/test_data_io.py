import json
import logging
import os
import time
from pathlib import Path

import pytest

from spertmt.data.io import ReadReport, read_documents, read_types, write_documents
from spertmt.errors import DataError
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

TYPES = TypeSchema(
    (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
    (RelationType("Live_In", "LI", "Live in"), RelationType("Near", "N", "Near", True)),
)


def shared_data() -> Path | None:
    for candidate in (
        os.environ.get("SPERTMT_DATA_DIR"),
        Path(__file__).resolve().parents[4] / "shared" / "data",
    ):
        if candidate and (Path(candidate) / "conll04" / "conll04_train.json").is_file():
            return Path(candidate)
    return None


def good(**changes):
    doc = {
        "tokens": ["John", "lives", "in", "Paris", "."],
        "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 3, "end": 4}],
        "relations": [{"type": "Live_In", "head": 0, "tail": 1}],
        "orig_id": 17,
    }
    doc.update(changes)
    return doc


def write_json(tmp_path, value, name="data.json"):
    path = tmp_path / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def assert_error(error: DataError, *, code, path, doc_index=None, field=None, fragment=""):
    message = str(error)
    assert error.code == code, message
    assert message.startswith(f"[{code}] ")
    assert error.file == str(path)
    assert path.name in message
    assert error.doc_index == doc_index
    if doc_index is not None:
        assert f"document {doc_index}" in message
    assert error.field == field
    if field is not None:
        assert f"field {field}:" in message
    assert fragment in message, message


def with_entity(index, **changes):
    doc = good()
    doc["entities"][index] = {**doc["entities"][index], **changes}
    return doc


def with_relation(**changes):
    doc = good()
    doc["relations"][0] = {**doc["relations"][0], **changes}
    return doc


def without(key, *, inside=None):
    doc = good()
    if inside is None:
        del doc[key]
    else:
        del doc[inside[0]][inside[1]][key]
    return doc


# (document, code, field, message fragment). The bad document is placed second in the file,
# after a valid one, so the error must name document 1 and orig_id 17.
DOCUMENT_ERRORS = [
    (without("tokens"), "E106", "tokens", "missing key 'tokens'"),
    (good(tokens="John lives"), "E107", "tokens", "must be a list of words"),
    (good(tokens=[]), "E107", "tokens", "is empty"),
    (good(tokens=["John", 3, "in", "Paris", "."]), "E107", "tokens[1]", "must be a string"),
    (good(tokens=["John", "", "in", "Paris", "."]), "E107", "tokens[1]", "empty or only white"),
    (good(tokens=["John", " \t", "in", "Paris", "."]), "E107", "tokens[1]", "only whitespace"),
    (without("entities"), "E106", "entities", "missing key 'entities'"),
    (without("relations"), "E106", "relations", "missing key 'relations'"),
    (good(entities={"type": "Peop"}), "E108", "entities", "must be a list, got an object"),
    (good(relations=None), "E108", "relations", "must be a list, got null"),
    (good(entities=["Peop", 0, 1]), "E108", "entities[0]", "must be an object"),
    (without("end", inside=("entities", 1)), "E106", "entities[1].end", "missing key 'end'"),
    (without("type", inside=("entities", 0)), "E106", "entities[0].type", "missing key 'type'"),
    (with_entity(0, type=3), "E108", "entities[0].type", "non-empty string, got 3"),
    (with_entity(0, type=""), "E108", "entities[0].type", "non-empty string"),
    (with_entity(0, start="0"), "E108", "entities[0].start", 'integer, got "0" (a string)'),
    (with_entity(0, end=True), "E108", "entities[0].end", "integer, got true (a boolean)"),
    (with_entity(0, end=1.0), "E108", "entities[0].end", "integer, got 1.0 (a number)"),
    (with_entity(0, start=-1), "E105", "entities[0].start", "start -1 is outside"),
    (with_entity(1, start=5, end=6), "E105", "entities[1].start", "valid: 0 to 4"),
    (with_entity(1, end=6), "E105", "entities[1].end", "end 6 is beyond the 5 tokens"),
    (with_entity(1, end=3), "E109", "entities[1].end", "end 3 must be greater than start 3"),
    (with_entity(1, start=3, end=2), "E109", "entities[1].end", "greater than start 3"),
    (with_entity(0, score="high"), "E108", "entities[0].score", "must be a number"),
    (with_entity(0, char_start="0"), "E108", "entities[0].char_start", "integer"),
    (good(relations=[[0, 1]]), "E108", "relations[0]", "must be an object"),
    (without("tail", inside=("relations", 0)), "E106", "relations[0].tail", "'tail'"),
    (with_relation(type=None), "E108", "relations[0].type", "non-empty string, got null"),
    (with_relation(head="0"), "E108", "relations[0].head", "must be an integer"),
    (with_relation(tail=2), "E110", "relations[0].tail", "2 entities (valid: 0 to 1)"),
    (with_relation(head=-1), "E110", "relations[0].head", "head -1 is not an index"),
    (
        good(entities=[], relations=[{"type": "Live_In", "head": 0, "tail": 1}]),
        "E110",
        "relations[0].head",
        "0 entities (valid: none)",
    ),
    (with_relation(tail=0), "E111", "relations[0].tail", "head and tail are both entity 0"),
    (with_relation(score=[1]), "E108", "relations[0].score", "must be a number"),
    (good(text=5), "E108", "text", "must be a string"),
]


@pytest.mark.parametrize(("doc", "code", "field", "fragment"), DOCUMENT_ERRORS)
def test_invalid_document_names_file_document_orig_id_and_field(
    tmp_path, doc, code, field, fragment
):
    path = write_json(tmp_path, [good(orig_id=1), doc])
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code=code, path=path, doc_index=1, field=field, fragment=fragment)
    assert info.value.orig_id == 17
    assert "(orig_id 17)" in str(info.value)


def test_document_that_is_not_an_object(tmp_path):
    path = write_json(tmp_path, [good(), ["John"]])
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code="E104", path=path, doc_index=1, fragment="got a list")


def test_undeclared_entity_type_suggests_the_close_one(tmp_path):
    path = write_json(tmp_path, [with_entity(0, type="Peopl")])
    with pytest.raises(DataError) as info:
        read_documents(path, types=TYPES)
    assert_error(
        info.value,
        code="E112",
        path=path,
        doc_index=0,
        field="entities[0].type",
        fragment="entity type 'Peopl' is not declared in the types file; did you mean 'Peop'?",
    )
    assert "(declared: Loc, Peop)" in str(info.value)


def test_undeclared_relation_type(tmp_path):
    path = write_json(tmp_path, [with_relation(type="Lives_In")])
    with pytest.raises(DataError) as info:
        read_documents(path, types=TYPES)
    assert_error(
        info.value,
        code="E113",
        path=path,
        doc_index=0,
        field="relations[0].type",
        fragment="did you mean 'Live_In'?",
    )


def test_types_are_not_checked_without_a_schema(tmp_path):
    path = write_json(tmp_path, [with_entity(0, type="Anything")])
    assert read_documents(path)[0].entities[0].type == "Anything"


def test_top_level_must_be_a_list(tmp_path):
    path = write_json(tmp_path, good())
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code="E103", path=path, fragment="must be wrapped in [...]")


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"tokens": ["a"],, "entities": []}\n]\n')
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code="E102", path=path, fragment="invalid JSON at column 18")
    assert info.value.line == 2
    assert "broken.json, line 2: " in str(info.value)


def test_json_lines_in_a_json_file_get_a_hint(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(good()) + "\n" + json.dumps(good()) + "\n")
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code="E102", path=path, fragment="name the file *.jsonl")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("  \n")
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code="E102", path=path, fragment="the file is empty")


def test_unreadable_files(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(DataError) as info:
        read_documents(missing)
    assert_error(info.value, code="E101", path=missing, fragment="file not found")

    folder = tmp_path / "folder.json"
    folder.mkdir()
    with pytest.raises(DataError) as info:
        read_documents(folder)
    assert_error(info.value, code="E101", path=folder, fragment="is a folder")

    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'[{"tokens": ["Z\xfcrich"], "entities": [], "relations": []}]')
    with pytest.raises(DataError) as info:
        read_documents(latin1)
    assert_error(info.value, code="E101", path=latin1, fragment="is not UTF-8")


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([good()]).encode())
    assert len(read_documents(path)) == 1


def test_reads_documents_as_records(tmp_path):
    doc = good()
    doc["entities"][0]["score"] = 0.5
    path = write_json(tmp_path, [doc])
    (read,) = read_documents(path, types=TYPES)
    assert read == Document(
        ("John", "lives", "in", "Paris", "."),
        (Entity("Peop", 0, 1, score=0.5), Entity("Loc", 3, 4)),
        (Relation("Live_In", 0, 1),),
        orig_id=17,
    )


def test_json_lines_errors_name_the_line(tmp_path):
    path = tmp_path / "data.jsonl"
    lines = [json.dumps(good(orig_id=1)), "", json.dumps(with_entity(1, end=9))]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(
        info.value,
        code="E105",
        path=path,
        doc_index=1,
        field="entities[1].end",
        fragment="end 9 is beyond",
    )
    assert info.value.line == 3
    assert "data.jsonl, line 3, document 1 (orig_id 17)" in str(info.value)


def test_json_lines_invalid_json_and_non_object_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good()) + "\n" + '{"tokens": [\n')
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code="E102", path=path, doc_index=1, fragment="invalid JSON")
    assert info.value.line == 2

    path.write_text(json.dumps(good()) + "\n[1, 2]\n")
    with pytest.raises(DataError) as info:
        read_documents(path)
    assert_error(info.value, code="E104", path=path, doc_index=1, fragment="got a list")


def test_format_argument_overrides_the_suffix(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text(json.dumps(good()) + "\n" + json.dumps(good(orig_id=2)) + "\n")
    assert [d.orig_id for d in read_documents(path, format="jsonl")] == [17, 2]
    with pytest.raises(DataError) as info:
        read_documents(path, format="csv")
    assert_error(info.value, code="E115", path=path, fragment="unknown format 'csv'")


def test_skip_invalid_reports_each_skipped_document(tmp_path):
    path = write_json(tmp_path, [good(orig_id=0), with_entity(1, end=9), "oops", good(orig_id=3)])
    report = ReadReport()
    docs = read_documents(path, skip_invalid=True, report=report)
    assert [d.orig_id for d in docs] == [0, 3]
    assert report.path == str(path)
    assert (report.read, report.total) == (2, 4)
    assert [(s.index, s.orig_id, s.code) for s in report.skipped] == [
        (1, 17, "E105"),
        (2, None, "E104"),
    ]
    assert "data.json, document 1 (orig_id 17), field entities[1].end" in report.skipped[0].message
    assert report.summary() == f"{path}: read 2 documents, skipped 2 invalid"
    assert report.to_dict()["skipped"][0]["code"] == "E105"


def test_skip_invalid_without_report_logs_a_warning(tmp_path, caplog):
    path = write_json(tmp_path, [good(), with_relation(tail=0)])
    with caplog.at_level(logging.WARNING, logger="spertmt.data.io"):
        docs = read_documents(path, skip_invalid=True)
    assert len(docs) == 1
    assert "skipped 1 invalid documents" in caplog.text
    assert "[E111]" in caplog.text


def test_skip_invalid_in_json_lines_skips_broken_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good(orig_id=0)) + "\n{broken\n" + json.dumps(good(orig_id=2)))
    report = ReadReport()
    docs = read_documents(path, skip_invalid=True, report=report)
    assert [d.orig_id for d in docs] == [0, 2]
    assert [(s.index, s.line, s.code) for s in report.skipped] == [(1, 2, "E102")]


def test_skip_invalid_still_raises_for_a_broken_json_file(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("[{]")
    with pytest.raises(DataError) as info:
        read_documents(path, skip_invalid=True)
    assert info.value.code == "E102"


def test_report_is_reset_between_reads(tmp_path):
    bad = write_json(tmp_path, [good(), with_entity(0, end=0)], name="bad.json")
    fine = write_json(tmp_path, [good()], name="fine.json")
    report = ReadReport()
    read_documents(bad, skip_invalid=True, report=report)
    read_documents(fine, report=report)
    assert (report.path, report.read, report.skipped) == (str(fine), 1, [])


def test_duplicates_are_removed_reported_and_relations_remapped(tmp_path, caplog):
    doc = {
        "tokens": ["A", "B", "C", "D"],
        "entities": [
            {"type": "Peop", "start": 0, "end": 1},  # 0
            {"type": "Loc", "start": 1, "end": 2},  # 1
            {"type": "Peop", "start": 0, "end": 1},  # 2: duplicate of 0
            {"type": "Loc", "start": 3, "end": 4},  # 3 -> 2
            {"type": "Loc", "start": 0, "end": 1},  # 4 -> 3: same span, other type: kept
        ],
        "relations": [
            {"type": "Live_In", "head": 0, "tail": 1},
            {"type": "Live_In", "head": 2, "tail": 1},  # same as relations[0] after merging
            {"type": "Near", "head": 3, "tail": 2},  # -> (2, 0)
            {"type": "Near", "head": 0, "tail": 2},  # links two copies of one entity
            {"type": "Near", "head": 2, "tail": 3},  # -> (0, 2): the reverse is no duplicate
            {"type": "Near", "head": 3, "tail": 0},  # same as relations[2] after merging
        ],
        "orig_id": "x",
    }
    path = write_json(tmp_path, [good(), doc])
    report = ReadReport()
    docs = read_documents(path, types=TYPES, report=report)
    assert docs[1].entities == (
        Entity("Peop", 0, 1),
        Entity("Loc", 1, 2),
        Entity("Loc", 3, 4),
        Entity("Loc", 0, 1),
    )
    assert docs[1].relations == (
        Relation("Live_In", 0, 1),
        Relation("Near", 2, 0),
        Relation("Near", 0, 2),
    )
    assert [(d.index, d.orig_id, d.field, d.kind) for d in report.duplicates] == [
        (1, "x", "entities[2]", "entity"),
        (1, "x", "relations[1]", "relation"),
        (1, "x", "relations[3]", "relation"),
        (1, "x", "relations[5]", "relation"),
    ]
    assert report.duplicates[0].reason == "same type, start and end as entities[0]"
    assert report.duplicates[1].reason == "same type, head and tail as relations[0]"
    assert "entities[0] and entities[2], which are duplicates" in report.duplicates[2].reason
    assert report.duplicates[3].reason == "same type, head and tail as relations[2]"
    assert (report.duplicate_entities, report.duplicate_relations) == (1, 3)
    assert "removed 1 duplicate entities and 3 duplicate relations" in report.summary()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="spertmt.data.io"):
        read_documents(path, types=TYPES)
    assert "removed 1 duplicate entities and 3 duplicate relations" in caplog.text
    assert "document 1, entities[2]" in caplog.text


def test_annotations_may_be_absent_for_prediction_input(tmp_path):
    path = tmp_path / "input.jsonl"
    path.write_text(json.dumps({"tokens": ["Hello", "world"]}) + "\n")
    (doc,) = read_documents(path, require_annotations=False)
    assert doc == Document(("Hello", "world"))
    # Present annotations are still validated.
    path.write_text(
        json.dumps({"tokens": ["Hi"], "entities": [{"type": "X", "start": 0, "end": 2}]})
    )
    with pytest.raises(DataError) as info:
        read_documents(path, require_annotations=False)
    assert info.value.code == "E105"


# ------------------------------------------------------------------------------- types


def test_read_types_keeps_order_and_flags(tmp_path):
    path = write_json(tmp_path, TYPES.to_dict(), name="x_types.json")
    assert read_types(path) == TYPES
    minimal = write_json(
        tmp_path, {"entities": {"A": {}}, "relations": {"R": {"symmetric": True}}}, "m_types.json"
    )
    types = read_types(minimal)
    assert types.entity_types == (EntityType("A", "A", "A"),)
    assert types.relation_types == (RelationType("R", "R", "R", True),)


TYPES_ERRORS = [
    (["Peop"], None, "the top level is a list"),
    ({"entities": {"A": {}}}, "relations", "missing section 'relations'"),
    ({"relations": {}}, "entities", "missing section 'entities'"),
    ({"entities": ["A"], "relations": {}}, "entities", "must be an object mapping type names"),
    ({"entities": {}, "relations": {}}, "entities", "declares no entity types"),
    ({"entities": {"A": "a"}, "relations": {}}, "entities.A", 'got "a" (a string)'),
    ({"entities": {"A": {"short": 1}}, "relations": {}}, "entities.A.short", "must be a string"),
    (
        {"entities": {"A": {}}, "relations": {"R": {"symmetric": "yes"}}},
        "relations.R.symmetric",
        'must be true or false, got "yes"',
    ),
    ({"entities": {"": {}}, "relations": {}}, "entities", "empty name"),
]


@pytest.mark.parametrize(("content", "field", "fragment"), TYPES_ERRORS)
def test_read_types_errors(tmp_path, content, field, fragment):
    path = write_json(tmp_path, content, name="bad_types.json")
    with pytest.raises(DataError) as info:
        read_types(path)
    assert_error(info.value, code="E114", path=path, field=field, fragment=fragment)
    assert "invalid types file" in str(info.value)


def test_read_types_file_errors(tmp_path):
    with pytest.raises(DataError) as info:
        read_types(tmp_path / "none_types.json")
    assert info.value.code == "E101"
    broken = tmp_path / "broken_types.json"
    broken.write_text('{"entities": ')
    with pytest.raises(DataError) as info:
        read_types(broken)
    assert_error(info.value, code="E102", path=broken, fragment="invalid JSON")


# ----------------------------------------------------------------------------- writing


def sample_docs():
    return [
        Document(
            ("Anna", "lives", "in", "Zürich"),
            (Entity("Peop", 0, 1), Entity("Loc", 3, 4, score=0.75)),
            (Relation("Live_In", 0, 1, score=0.5),),
            orig_id="a",
        ),
        Document(("Nothing", "here")),
    ]


@pytest.mark.parametrize("name", ["out.json", "out.jsonl", "nested/dir/out.ndjson"])
def test_write_then_read_round_trips(tmp_path, name):
    path = tmp_path / name
    assert write_documents(path, sample_docs()) == 2
    assert read_documents(path) == sample_docs()
    text = path.read_text(encoding="utf-8")
    assert "Zürich" in text  # not escaped as \u00fc
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_write_format_layouts(tmp_path):
    json_path = tmp_path / "a.json"
    write_documents(json_path, sample_docs())
    assert json.loads(json_path.read_text()) == [d.to_dict() for d in sample_docs()]
    assert len(json_path.read_text().splitlines()) == 4  # "[", one line per document, "]"
    lines_path = tmp_path / "a.jsonl"
    write_documents(lines_path, sample_docs())
    assert [json.loads(x) for x in lines_path.read_text().splitlines()] == [
        d.to_dict() for d in sample_docs()
    ]
    forced = tmp_path / "a.out"
    write_documents(forced, sample_docs(), format="jsonl")
    assert forced.read_text() == lines_path.read_text()
    empty = tmp_path / "empty.json"
    write_documents(empty, [])
    assert read_documents(empty) == []


def test_write_errors(tmp_path):
    with pytest.raises(DataError) as info:
        write_documents(tmp_path / "out.txt", sample_docs())
    assert_error(info.value, code="E115", path=tmp_path / "out.txt", fragment="suffix '.txt'")
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = blocker / "out.json"
    with pytest.raises(DataError) as info:
        write_documents(target, sample_docs())
    assert_error(info.value, code="E115", path=target, fragment="cannot be written")


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.json"
    write_documents(path, sample_docs())
    before = path.read_text()

    def broken():
        yield sample_docs()[0]
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_documents(path, broken())
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.skipif(shared_data() is None, reason="benchmark data not available")
def test_large_files_load_fast():
    root = shared_data()
    started = time.perf_counter()
    scierc = read_documents(
        root / "scierc" / "scierc_train.json",
        types=read_types(root / "scierc" / "scierc_types.json"),
    )
    ade = read_documents(
        root / "ade" / "ade_full.json", types=read_types(root / "ade" / "ade_types.json")
    )
    elapsed = time.perf_counter() - started
    assert (len(scierc), len(ade)) == (1861, 4272)
    assert sum(len(d.entities) for d in ade) == 10839
    assert sum(len(d.relations) for d in ade) == 6821
    assert elapsed < 2.0, f"reading took {elapsed:.2f} s"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_mode_of_a_plain_open(tmp_path, umask, mode):
    import os
    import stat

    from spertmt.data.io import write_text_atomic

    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "out.json", "[]")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == mode


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_nested_too_deeply_is_a_coded_error_not_a_recursion_error(tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match=r"\[E102\].*nested too deeply") as info:
        read_documents(path)
    assert info.value.file == str(path)
    if suffix == ".json":
        with pytest.raises(DataError, match=r"\[E102\].*nested too deeply"):
            read_types(path)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_an_integer_longer_than_python_reads_is_a_coded_error(tmp_path, suffix):
    # json.loads raises a plain ValueError (not JSONDecodeError) past 4300 digits.
    doc = '{"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": %s}]}' % ("9" * 5000)
    path = tmp_path / f"big{suffix}"
    path.write_text(f"[{doc}]" if suffix == ".json" else f"{doc}\n")
    with pytest.raises(DataError, match=r"\[E102\].*integer of more than 4300 digits") as info:
        read_documents(path)
    assert info.value.file == str(path)
    if suffix == ".json":
        with pytest.raises(DataError, match=r"\[E102\].*integer of more than"):
            read_types(path)
    else:
        assert info.value.line == 1
        good = '{"tokens": ["b"], "entities": [], "relations": []}'
        path.write_text(f"{doc}\n{good}\n")
        report = ReadReport()
        docs = read_documents(path, skip_invalid=True, report=report)
        assert [d.tokens for d in docs] == [("b",)]
        assert [(s.code, s.line) for s in report.skipped] == [("E102", 1)]


# ---------------------------------------------------------------------------- signals_deferred
def test_a_signal_during_signals_deferred_is_raised_when_the_block_ends(ctrl_c_raises):
    import os
    import signal

    from spertmt.data.io import signals_deferred

    before = signal.getsignal(signal.SIGINT)
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler would have run here without the deferral
                pass
            finished = True
    assert finished
    assert signal.getsignal(signal.SIGINT) is before


def test_signals_deferred_is_a_no_op_outside_the_main_thread():
    import threading

    from spertmt.data.io import signals_deferred

    errors = []

    def body():
        try:
            with signals_deferred():
                pass
        except Exception as error:  # signal.signal would raise ValueError in a thread
            errors.append(error)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert errors == []


@pytest.mark.parametrize("write", ["text", "bytes", "training-json"])
def test_ctrl_c_at_any_line_of_an_atomic_write_leaves_the_old_or_new_file_and_no_temporary(
    tmp_path, ctrl_c_raises, write
):
    from samples import run_with_ctrl_c_at_line

    from spertmt.data.io import write_bytes_atomic, write_text_atomic
    from spertmt.training.folder import write_json

    path = tmp_path / "out.json"
    writers = {
        "text": lambda value: write_text_atomic(path, json.dumps(value)),
        "bytes": lambda value: write_bytes_atomic(path, json.dumps(value).encode()),
        "training-json": lambda value: write_json(path, value),
    }
    lines = run_with_ctrl_c_at_line(lambda: writers[write]({"n": 2}), None)
    assert lines > 3
    for line in range(1, lines + 1):
        writers[write]({"n": 1})
        try:
            run_with_ctrl_c_at_line(lambda: writers[write]({"n": 2}), line)
        except KeyboardInterrupt:
            pass
        assert [p.name for p in tmp_path.iterdir()] == ["out.json"], line
        assert json.loads(path.read_text()) in ({"n": 1}, {"n": 2}), line


def test_write_text_atomic_writes_newlines_as_given(tmp_path):
    from spertmt.data.io import write_text_atomic

    write_text_atomic(tmp_path / "a.txt", "one\r\ntwo\nthree\r")
    assert (tmp_path / "a.txt").read_bytes() == b"one\r\ntwo\nthree\r"
