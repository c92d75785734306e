"""``spertmt convert``: each format to SpERT JSON and back, counts, and one-line coded errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from spertmt.cli import main
from spertmt.data.convert import convert, derive_types, types_path_for
from spertmt.data.convert.chars import group_sentences, token_offsets_in
from spertmt.data.io import read_documents, read_types, write_documents
from spertmt.errors import DataError
from spertmt.schema import Document, Entity, Relation

TEXT = "John Smith lives in Paris-based flats.\r\nAnn works for Acme Inc. in Rome.\n"


def _span(text: str, surface: str) -> tuple[int, int]:
    start = text.index(surface)
    return start, start + len(surface)


def write_brat_sample(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.txt").write_bytes(TEXT.encode("utf-8"))  # CRLF kept: brat counts both
    lines = []
    for n, (type_, surface) in enumerate(
        [
            ("Peop", "John Smith"),
            ("Loc", "Paris"),
            ("Peop", "Ann"),
            ("Org", "Acme Inc."),
            ("Loc", "Rome"),
        ],
        1,
    ):
        start, end = _span(TEXT, surface)
        lines.append(f"T{n}\t{type_} {start} {end}\t{surface}")
    w_start, w_end = _span(TEXT, "works")
    r_start, r_end = _span(TEXT, "Rome")
    lines += [
        # discontinuous, its fragments joined by an exporter's own mark (skipped unread)
        f"T6\tOrg {w_start} {w_end};{r_start} {r_end}\tworks … Rome",
        f"T7\tWork {w_start} {w_end}\tworks",  # an event trigger
        "R1\tLive_In Arg1:T1 Arg2:T2",
        "R2\tWork_For Arg1:T3 Arg2:T4",
        "R3\tWork_For Arg1:T3 Arg2:T6",  # to the discontinuous entity
        "E1\tWork:T7 Agent:T3",
        "A1\tNegated E1",
        "N1\tReference T1 Wikipedia:534366\tJohn Smith",
        "#1\tAnnotatorNotes T1\tcheck the name",
        "*\tEquiv T2 T5",
    ]
    (folder / "a.ann").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "b.txt").write_text("Rome is old.", encoding="utf-8")
    (folder / "sub" / "b.ann").write_text("T1\tLoc 0 4\tRome\n", encoding="utf-8")
    return folder


def brat_annotations(folder: Path, stem: str) -> tuple[set, set]:
    entities, relations = {}, set()
    for line in (folder / f"{stem}.ann").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if parts[0].startswith("T"):
            type_, start, end = parts[1].split()
            entities[parts[0]] = (type_, int(start), int(end), parts[2])
        elif parts[0].startswith("R"):
            type_, arg1, arg2 = parts[1].split()
            relations.add((type_, arg1.split(":")[1], arg2.split(":")[1]))
    resolved = {(t, entities[h][1:3], entities[a][1:3]) for t, h, a in relations}
    # (type, start, end, text) of each entity; relations as (type, head span, tail span)
    return set(entities.values()), resolved


# ------------------------------------------------------------------------------ brat


@pytest.mark.parametrize("sentences", ["none", "spacy", "newline"])
def test_brat_to_spert_keeps_character_offsets_and_counts_what_it_leaves_out(tmp_path, sentences):
    brat = write_brat_sample(tmp_path / "brat")
    report = convert(
        brat, tmp_path / "mine_train.json", source="brat", target="spert", sentences=sentences
    )
    docs = read_documents(
        tmp_path / "mine_train.json", types=read_types(tmp_path / "mine_types.json")
    )
    assert report.source_documents == 2
    assert report.documents == len(docs) == (2 if sentences == "none" else 3)
    assert (report.entities, report.relations) == (6, 2)
    assert report.skipped == {
        "discontinuous entity": 1,
        "event": 1,
        "event trigger entity": 1,
        "attribute": 1,
        "normalization": 1,
        "note": 1,
        "equivalence": 1,
        "relation to a skipped entity": 1,
    }
    assert report.first_skipped["discontinuous entity"].endswith("a.ann, line 6")
    for doc in docs:
        offsets = token_offsets_in(doc.text, doc.tokens)
        assert offsets is not None
        for entity in doc.entities:
            assert doc.text[entity.char_start : entity.char_end] == entity.text
            assert (offsets[entity.start][0], offsets[entity.end - 1][1]) == (
                entity.char_start,
                entity.char_end,
            )
    # Sentences joined back give the source text exactly (reversible splitting).
    texts = {name: "".join(d.text for d in group) for name, group in group_sentences(docs)}
    assert texts["a"] == TEXT
    # A token is split where an entity ends inside it: "Paris-based" -> "Paris", "-", "based".
    assert "Paris" in docs[0].tokens
    assert read_types(tmp_path / "mine_types.json").entity_names == ("Loc", "Org", "Peop")


@pytest.mark.parametrize("sentences", ["none", "spacy"])
def test_brat_round_trip_gives_the_same_files_and_annotations(tmp_path, sentences):
    brat = write_brat_sample(tmp_path / "brat")
    convert(brat, tmp_path / "x.jsonl", source="brat", target="spert", sentences=sentences)
    report = convert(tmp_path / "x.jsonl", tmp_path / "back", source="spert", target="brat")
    assert report.documents == 2
    assert (tmp_path / "back" / "a.txt").read_bytes() == TEXT.encode("utf-8")
    assert (tmp_path / "back" / "sub" / "b.txt").read_bytes() == b"Rome is old."
    entities, relations = brat_annotations(tmp_path / "back", "a")
    expected = {
        (type_, *_span(TEXT, surface), surface)
        for type_, surface in [
            ("Peop", "John Smith"),
            ("Loc", "Paris"),
            ("Peop", "Ann"),
            ("Org", "Acme Inc."),
            ("Loc", "Rome"),
        ]
    }
    assert entities == expected  # the discontinuous entity and the event trigger are left out
    assert relations == {
        ("Live_In", _span(TEXT, "John Smith"), _span(TEXT, "Paris")),
        ("Work_For", _span(TEXT, "Ann"), _span(TEXT, "Acme Inc.")),
    }
    conf = (tmp_path / "back" / "annotation.conf").read_text(encoding="utf-8")
    assert "[entities]" in conf and "Live_In\tArg1:Peop, Arg2:Loc" in conf


def test_a_sentence_boundary_inside_a_relation_is_kept_closed(tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    text = "Ann is here. She met Bob."
    (folder / "x.txt").write_text(text, encoding="utf-8")
    (folder / "x.ann").write_text(
        "T1\tPeop 0 3\tAnn\nT2\tPeop 21 24\tBob\nR1\tMet Arg1:T1 Arg2:T2\n", encoding="utf-8"
    )
    report = convert(folder, tmp_path / "o.json", source="brat", sentences="spacy")
    docs = read_documents(tmp_path / "o.json")
    assert len(docs) == 1 and docs[0].orig_id == "x#0" and len(docs[0].relations) == 1
    assert sum(report.notes.values()) == 1


@pytest.mark.parametrize(
    ("ann", "code", "where"),
    [
        ("T1\tPeop 0\tJohn\n", "E131", "line 1, field T1.offsets"),
        ("T1\tPeop 0 4\tJohn\nX1\tfoo\n", "E131", "line 2"),
        ("T1\tPeop 0 4\tJohn\nR1\tRel Arg1:T1 Arg2:T9\n", "E132", "line 2, field Arg2"),
        ("T1\tPeop 0 4\tJohx\n", "E133", "line 1, field T1.text"),
        ("T1\tPeop 0 400\tJohn\n", "E133", "line 1"),
    ],
)
def test_bad_brat_lines_give_coded_errors_naming_file_line_and_field(tmp_path, ann, code, where):
    (tmp_path / "a.txt").write_text("John is here.", encoding="utf-8")
    (tmp_path / "a.ann").write_text(ann, encoding="utf-8")
    with pytest.raises(DataError) as info:
        convert(tmp_path / "a.ann", tmp_path / "o.json", source="brat")
    assert info.value.code == code
    assert "a.ann" in str(info.value) and where in str(info.value)
    assert "\n" not in str(info.value)


def test_a_type_name_brat_cannot_hold_is_an_error(tmp_path):
    write_documents(tmp_path / "a.json", [Document(("John",), (Entity("Peop\n[E000] x", 0, 1),))])
    with pytest.raises(DataError) as info:
        convert(tmp_path / "a.json", tmp_path / "brat", source="spert", target="brat")
    assert info.value.code == "E138"


@pytest.mark.parametrize(
    ("text", "york", "fragments"),
    [
        ("New\nYork is big.", 4, "0 3;4 8"),
        ("New\n  \nYork is big.", 7, "0 3;7 11"),  # no fragment of only spaces between breaks
    ],
)
def test_an_entity_over_a_line_break_is_written_and_read_as_brat_does(
    tmp_path, text, york, fragments
):
    rest = york + 5
    (tmp_path / "in.jsonl").write_text(
        json.dumps(
            {
                "tokens": ["New", "York", "is", "big", "."],
                "entities": [{"type": "Loc", "start": 0, "end": 2}],
                "relations": [],
                "text": text,
                "char_offsets": [[0, 3], [york, york + 4], [rest, rest + 2],
                                 [rest + 3, rest + 6], [rest + 6, rest + 7]],
            }
        )
        + "\n",
        encoding="utf-8",
    )  # fmt: skip
    convert(tmp_path / "in.jsonl", tmp_path / "brat", source="spert", target="brat")
    (ann,) = (tmp_path / "brat").glob("*.ann")
    assert ann.read_text(encoding="utf-8") == f"T1\tLoc {fragments}\tNew York\n"
    report = convert(tmp_path / "brat", tmp_path / "back.json", source="brat")
    (doc,) = read_documents(tmp_path / "back.json")
    entity = text[: york + 4]
    assert [(e.text, e.char_start, e.char_end) for e in doc.entities] == [(entity, 0, york + 4)]
    assert not report.skipped


def test_brat_lines_end_at_line_breaks_only_and_roles_are_read_by_name(tmp_path):
    text = "Foo\u2028Bar met Ann."
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    (tmp_path / "a.ann").write_text(
        "T1\tPeop 0 7\tFoo\u2028Bar\nT2\tPeop 12 15\tAnn\nR1\tMet Arg2:T1 Arg1:T2\n",
        encoding="utf-8",
    )
    convert(tmp_path / "a.ann", tmp_path / "o.json", source="brat")
    (doc,) = read_documents(tmp_path / "o.json")
    assert [e.text for e in doc.entities] == ["Foo\u2028Bar", "Ann"]
    assert doc.relations == (Relation("Met", 1, 0),)  # Arg1 (T2, Ann) is the head


def test_a_brat_relation_to_an_event_is_counted_and_left_out(tmp_path):
    (tmp_path / "a.txt").write_text("Ann met Bob.", encoding="utf-8")
    (tmp_path / "a.ann").write_text(
        "T1\tPeop 0 3\tAnn\nT2\tPeop 8 11\tBob\nT3\tMeet 4 7\tmet\n"
        "E1\tMeet:T3 Agent:T1\nR1\tAbout Arg1:E1 Arg2:T2\n",
        encoding="utf-8",
    )
    report = convert(tmp_path / "a.ann", tmp_path / "o.json", source="brat")
    assert report.skipped["relation to a skipped entity"] == 1
    assert report.skipped["event"] == 1
    assert report.relations == 0 and report.entities == 2


def test_dygie_and_doccano_lines_that_json_cannot_hold_name_file_and_line(tmp_path):
    good = {"dygie": json.dumps(DYGIE[0]), "doccano": json.dumps(DOCCANO[0])}
    cases = [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"sentences": [["\\ud800x"]], "text": "\\ud800"}', "lone surrogate"),
        ('{"doc_key": ' + "9" * 5000 + "}", "integer of more than"),
    ]
    for source in ("dygie", "doccano"):
        for line, fragment in cases:
            path = tmp_path / f"{source}.jsonl"
            path.write_text(f"{good[source]}\n{line}\n", encoding="utf-8")
            with pytest.raises(DataError, match=fragment) as info:
                convert(path, tmp_path / "o.json", source=source)
            assert info.value.code == "E102" and info.value.line == 2
            assert info.value.file == str(path)


@pytest.mark.parametrize(
    ("source", "record", "code"),
    [
        ("dygie", {"sentences": [["a"]], "ner": [[[0, 0, ""]]], "relations": [[]]}, "E134"),
        ("doccano", {"id": 1, "text": "Ann", "label": [[0, 3, ""]]}, "E135"),
        (
            "doccano",
            {
                "id": 1,
                "text": "Ann",
                "entities": [{"id": 1, "label": 3, "start_offset": 0, "end_offset": 3}],
            },
            "E135",
        ),
    ],
)
def test_a_type_that_is_not_a_non_empty_string_is_an_error(tmp_path, source, record, code):
    path = write_jsonl(tmp_path / "in.jsonl", [record])
    with pytest.raises(DataError, match="line 1") as info:
        convert(path, tmp_path / "o.json", source=source)
    assert info.value.code == code


def test_a_label_studio_label_that_is_not_a_string_is_an_error(tmp_path):
    export = label_studio_export()
    export[0]["annotations"][0]["result"][0]["value"]["labels"] = [None]
    source = tmp_path / "export.json"
    source.write_text(json.dumps(export), encoding="utf-8")
    with pytest.raises(
        DataError, match=r"field annotations\[0\]\.result\[0\]\.value\.labels"
    ) as info:
        convert(source, tmp_path / "x.json", source="label-studio")
    assert info.value.code == "E135"


def test_a_conversion_never_writes_over_its_input(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", DYGIE)
    before = source.read_bytes()
    with pytest.raises(DataError, match="is the input") as info:
        convert(source, source, source="dygie", target="dygie")
    assert info.value.code == "E115" and source.read_bytes() == before
    brat = write_brat_sample(tmp_path / "brat")
    ann = (brat / "a.ann").read_bytes()
    for given in (brat, brat / "a.ann"):
        with pytest.raises(DataError, match="folder the input is read from") as info:
            convert(given, brat, source="brat", target="brat")
        assert info.value.code == "E115"
    assert (brat / "a.ann").read_bytes() == ann
    with pytest.raises(DataError, match="is the input") as info:
        convert(source, source, source="dygie", target="brat")
    assert info.value.code == "E115" and source.read_bytes() == before


def test_brat_files_may_go_beside_an_input_of_another_format(tmp_path):
    # brat writes only .txt, .ann and annotation.conf: the folder of a DyGIE file is fine
    source = write_jsonl(tmp_path / "in.jsonl", DYGIE)
    before = source.read_bytes()
    report = convert(source, tmp_path, source="dygie", target="brat")
    assert report.documents >= 1 and source.read_bytes() == before
    assert (tmp_path / "annotation.conf").is_file() and list(tmp_path.glob("*.ann"))


def test_a_bom_starts_the_txt_offsets_but_not_the_ann_lines(tmp_path):
    # brat counts a .txt's byte-order mark as a character; an .ann's is an editor's, dropped
    folder = tmp_path / "bom"
    folder.mkdir()
    (folder / "a.txt").write_bytes("\ufeffAnn lives in Rome .".encode())
    (folder / "a.ann").write_bytes("\ufeffT1\tPeop 1 4\tAnn\nT2\tLoc 14 18\tRome\n".encode())
    convert(folder, tmp_path / "o.json", source="brat")
    (doc,) = read_documents(tmp_path / "o.json", types=read_types(tmp_path / "o_types.json"))
    assert [(e.type, e.text) for e in doc.entities] == [("Peop", "Ann"), ("Loc", "Rome")]


def test_an_ann_without_its_txt_is_an_error(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.ann").write_text("", encoding="utf-8")
    with pytest.raises(DataError) as info:
        convert(tmp_path / "in", tmp_path / "o.json", source="brat")
    assert info.value.code == "E136"


# ------------------------------------------------------------------------------ DyGIE

DYGIE = [
    {
        "doc_key": "X96-1059",
        "clusters": [[[2, 2], [4, 4]]],
        "sentences": [["We", "use", "CRFs", "."], ["CRFs", "help", "semantic", "parsing", "."]],
        "ner": [[[2, 2, "Method"]], [[4, 4, "Method"], [6, 7, "Task"]]],
        "relations": [[], [[4, 4, 6, 7, "USED-FOR"]]],
    },
    {
        "doc_key": "P01",
        "sentences": [["Nested", "span", "parsing"]],
        "ner": [[[0, 2, "Task"], [1, 2, "Method"]]],
        "relations": [[[1, 2, 0, 2, "PART-OF"]]],
    },
]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_dygie_to_spert_makes_sentence_documents_with_exclusive_local_ends(tmp_path):
    source = write_jsonl(tmp_path / "train.jsonl", DYGIE)
    report = convert(source, tmp_path / "scierc_train.json", source="pure", target="spert")
    docs = read_documents(tmp_path / "scierc_train.json")
    assert [d.orig_id for d in docs] == ["X96-1059#0", "X96-1059#1", "P01#0"]
    assert docs[1].entities == (Entity("Method", 0, 1), Entity("Task", 2, 4))
    assert docs[1].relations == (Relation("USED-FOR", 0, 1),)
    assert report.skipped == {"DyGIE field 'clusters'": 1}
    assert (report.source_documents, report.documents, report.entities) == (2, 3, 5)
    assert read_types(tmp_path / "scierc_types.json").relation_names == ("PART-OF", "USED-FOR")


def test_dygie_round_trip_is_exact(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", DYGIE)
    convert(source, tmp_path / "x.json", source="dygie")
    convert(tmp_path / "x.json", tmp_path / "back.jsonl", source="spert", target="dygie")
    back = [json.loads(line) for line in (tmp_path / "back.jsonl").read_text().splitlines()]
    expected = [{k: v for k, v in doc.items() if k != "clusters"} for doc in DYGIE]
    assert back == expected


def test_dygie_whole_documents(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", DYGIE)
    convert(source, tmp_path / "x.json", source="dygie", sentences="none")
    docs = read_documents(tmp_path / "x.json")
    assert [d.orig_id for d in docs] == ["X96-1059", "P01"]
    assert docs[0].entities[2] == Entity("Task", 6, 8)


def test_bad_dygie_spans_name_line_and_field(tmp_path):
    bad = json.loads(json.dumps(DYGIE))
    bad[1]["ner"][0][0] = [0, 3, "Task"]  # end 3 is past the sentence (inclusive ends)
    source = write_jsonl(tmp_path / "in.jsonl", bad)
    with pytest.raises(DataError, match=r"in.jsonl, line 2, field ner\[0\]\[0\]") as info:
        convert(source, tmp_path / "x.json", source="dygie")
    assert info.value.code == "E134"


# ------------------------------------------------------------------------------ doccano

DOCCANO = [
    {
        "id": 7,
        "text": "Ann lives in Rome. Bob too.",
        "entities": [
            {"id": 1, "label": "Peop", "start_offset": 0, "end_offset": 3},
            {"id": 2, "label": "Loc", "start_offset": 13, "end_offset": 17},
            {"id": 3, "label": "Peop", "start_offset": 19, "end_offset": 22},
        ],
        "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "Live_In"}],
        "Comments": [],
    },
    {"id": 8, "text": "Rome\u2028is old.", "label": [[0, 4, "Loc"]]},
]


def test_doccano_round_trip_keeps_offsets(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", DOCCANO)
    report = convert(source, tmp_path / "x.json", source="doccano", sentences="spacy")
    assert (report.source_documents, report.documents) == (2, 3)
    assert (report.entities, report.relations) == (4, 1)
    convert(tmp_path / "x.json", tmp_path / "back.jsonl", source="spert", target="doccano")
    back = [json.loads(line) for line in (tmp_path / "back.jsonl").read_text().split("\n") if line]
    assert [b["text"] for b in back] == [d["text"] for d in DOCCANO]
    assert [(e["label"], e["start_offset"], e["end_offset"]) for e in back[0]["entities"]] == [
        ("Peop", 0, 3),
        ("Loc", 13, 17),
        ("Peop", 19, 22),
    ]
    assert back[0]["relations"] == [{"id": 1, "from_id": 1, "to_id": 2, "type": "Live_In"}]
    assert [(e["label"], e["start_offset"]) for e in back[1]["entities"]] == [("Loc", 0)]


def test_a_doccano_relation_to_an_unknown_id_is_an_error(tmp_path):
    bad = json.loads(json.dumps(DOCCANO[:1]))
    bad[0]["relations"][0]["to_id"] = 99
    source = write_jsonl(tmp_path / "in.jsonl", bad)
    with pytest.raises(DataError) as info:
        convert(source, tmp_path / "x.json", source="doccano")
    assert info.value.code == "E132" and "line 1" in str(info.value)


def test_a_doccano_record_without_text_is_an_error(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [DOCCANO[0], {"id": 3}])
    with pytest.raises(DataError, match=r"line 2, field text") as info:
        convert(source, tmp_path / "x.json", source="doccano")
    assert info.value.code == "E135"


# ------------------------------------------------------------------------------ Label Studio

LS_TEXT = "🎉 Ann lives in Rome."


def label_studio_export() -> list:
    # Label Studio counts UTF-16 code units: the emoji takes two.
    return [
        {
            "id": 1,
            "data": {"text": LS_TEXT},
            "annotations": [
                {
                    "id": 10,
                    "result": [
                        {
                            "id": "a",
                            "type": "labels",
                            "from_name": "label",
                            "to_name": "text",
                            "value": {"start": 3, "end": 6, "text": "Ann", "labels": ["Peop"]},
                        },
                        {
                            "id": "b",
                            "type": "labels",
                            "from_name": "label",
                            "to_name": "text",
                            "value": {"start": 16, "end": 20, "text": "Rome", "labels": ["Loc"]},
                        },
                        {
                            "type": "relation",
                            "from_id": "b",
                            "to_id": "a",
                            "direction": "left",
                            "labels": ["Live_In"],
                        },
                        {"type": "choices", "value": {"choices": ["ok"]}},
                    ],
                },
                {"id": 11, "result": [], "was_cancelled": True},
            ],
            "predictions": [{"result": []}],
        }
    ]


def test_label_studio_reads_utf16_offsets_and_relation_direction(tmp_path):
    source = tmp_path / "export.json"
    source.write_text(json.dumps(label_studio_export()), encoding="utf-8")
    report = convert(source, tmp_path / "x.json", source="label-studio")
    (doc,) = read_documents(tmp_path / "x.json")
    assert [(e.text, e.char_start) for e in doc.entities] == [("Ann", 2), ("Rome", 15)]
    assert doc.relations == (Relation("Live_In", 0, 1),)  # "left": to_id is the head
    assert report.skipped["Label Studio result of type 'choices'"] == 1
    assert report.skipped["cancelled annotation"] == 1
    assert report.skipped["Label Studio prediction (annotations only are converted)"] == 1
    convert(tmp_path / "x.json", tmp_path / "back.json", source="spert", target="labelstudio")
    convert(tmp_path / "back.json", tmp_path / "again.json", source="labelstudio")
    assert read_documents(tmp_path / "again.json")[0].entities == doc.entities


def test_a_label_studio_region_whose_text_differs_is_an_error(tmp_path):
    export = label_studio_export()
    export[0]["annotations"][0]["result"][0]["value"]["text"] = "Bob"
    source = tmp_path / "export.json"
    source.write_text(json.dumps(export), encoding="utf-8")
    with pytest.raises(DataError, match=r"document 0, field annotations\[0\]\.result\[0\]") as info:
        convert(source, tmp_path / "x.json", source="label-studio")
    assert info.value.code == "E133"


# ------------------------------------------------------------------------------ spaCy DocBin


def test_spacy_docbin_round_trip_with_overlap_and_relations(tmp_path):
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    docs = [
        Document(
            ("Ann", "lives", "in", "New", "York", "."),
            (Entity("Peop", 0, 1), Entity("Loc", 3, 5)),
            (Relation("Live_In", 0, 1, score=0.75),),
            orig_id="d1",
        ),
        Document(
            ("New", "York", "City"),
            (Entity("Loc", 0, 2), Entity("Loc", 0, 3)),  # nested: doc.spans
            (Relation("Near", 0, 1),),
        ),
    ]
    write_documents(tmp_path / "in.json", docs)
    brat = write_brat_sample(tmp_path / "brat")
    convert(brat, tmp_path / "raw.json", source="brat", sentences="spacy")

    convert(tmp_path / "in.json", tmp_path / "out.spacy", source="spert", target="spacy")
    spacy_docs = list(DocBin().from_disk(tmp_path / "out.spacy").get_docs(Vocab()))
    assert [(e.text, e.label_) for e in spacy_docs[0].ents] == [
        ("Ann", "Peop"),
        ("New York", "Loc"),
    ]
    assert spacy_docs[0]._.relations[0]["type"] == "Live_In"
    assert list(spacy_docs[0]._.relations[0]["head"]) == [0, 1, "Peop"]
    assert not spacy_docs[1].ents
    assert [s.text for s in spacy_docs[1].spans["spertmt"]] == ["New York", "New York City"]
    convert(tmp_path / "out.spacy", tmp_path / "back.json", source="spacy")
    assert read_documents(tmp_path / "back.json") == read_documents(tmp_path / "in.json")

    # Raw text keeps its exact text (whitespace tokens) and character offsets.
    convert(tmp_path / "raw.json", tmp_path / "raw.spacy", source="spert", target="spacy")
    raw_docs = list(DocBin().from_disk(tmp_path / "raw.spacy").get_docs(Vocab()))
    assert "".join(d.text for d in raw_docs) == TEXT + "Rome is old."
    convert(tmp_path / "raw.spacy", tmp_path / "raw_back.json", source="spacy")
    assert read_documents(tmp_path / "raw_back.json") == read_documents(tmp_path / "raw.json")


def test_a_file_that_is_not_a_docbin_is_an_error(tmp_path):
    (tmp_path / "x.spacy").write_bytes(b"not a docbin")
    with pytest.raises(DataError) as info:
        convert(tmp_path / "x.spacy", tmp_path / "o.json", source="spacy")
    assert info.value.code == "E137"


def _docbin_with(tmp_path, words, ents, relations):
    from spacy.tokens import Doc, DocBin, Span
    from spacy.vocab import Vocab

    from spertmt.data.convert.docbin import register_relations_extension

    register_relations_extension()
    doc = Doc(Vocab(), words=words)
    doc.ents = [Span(doc, a, b, label=label) for a, b, label in ents]
    doc._.relations = relations
    docbin = DocBin(store_user_data=True)
    docbin.add(doc)
    path = tmp_path / "hostile.spacy"
    docbin.to_disk(path)
    return path


@pytest.mark.parametrize(
    ("words", "ents", "relations", "code", "fragment"),
    [
        # an entity over a whitespace token: no SpERT token there
        (["Ann", " ", "met", "Bob"], [(1, 3, "Peop")], [], "E133", "whitespace token"),
        # a relation whose tail names no span of the document
        (
            ["Ann", "met", "Bob"],
            [(0, 1, "Peop"), (2, 3, "Peop")],
            [{"head": [0, 1, "Peop"], "tail": [1, 2, "X"], "type": "Met"}],
            "E132",
            "has a tail (1, 2, 'X') that is no entity",
        ),
        (
            ["Ann", "met", "Bob"],
            [(0, 1, "Peop"), (2, 3, "Peop")],
            [{"head": 7, "tail": [2, 3, "Peop"], "type": "Met"}],
            "E132",
            "head 7",
        ),
        (
            ["Ann", "met", "Bob"],
            [(0, 1, "Peop"), (2, 3, "Peop")],
            [{"head": [0, 1, "Peop"], "tail": [2, 3, "Peop"], "type": ""}],
            "E137",
            "non-empty type name",
        ),
        (["Ann", "met", "Bob"], [(0, 1, "Peop")], ["Met"], "E137", "relation 0 is not"),
    ],
)
def test_a_hostile_docbin_is_a_coded_error_naming_the_document(
    tmp_path, words, ents, relations, code, fragment
):
    source = _docbin_with(tmp_path, words, ents, relations)
    with pytest.raises(DataError, match=re.escape(fragment)) as info:
        convert(source, tmp_path / "o.json", source="spacy")
    assert info.value.code == code and "document 0" in str(info.value)
    assert "hostile.spacy" in str(info.value) and not (tmp_path / "o.json").exists()


# ------------------------------------------------------------------------------ types


def test_types_are_checked_against_a_given_file(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", DYGIE)
    types = tmp_path / "t.json"
    types.write_text(
        json.dumps({"entities": {"Method": {}, "Task": {}}, "relations": {"USED-FOR": {}}})
    )
    with pytest.raises(DataError, match=r"field relations\[0\]\.type") as info:
        convert(source, tmp_path / "x.json", source="dygie", types=types)
    assert info.value.code == "E113" and "PART-OF" in str(info.value)


def test_a_second_split_adds_its_new_types_to_the_types_file(tmp_path):
    write_documents(tmp_path / "a.json", [Document(("A",), (Entity("X", 0, 1),))])
    write_documents(
        tmp_path / "b.json",
        [Document(("A", "B"), (Entity("W", 0, 1), Entity("X", 1, 2)), (Relation("R", 0, 1),))],
    )
    convert(tmp_path / "a.json", tmp_path / "out" / "d_train.json", source="spert")
    convert(tmp_path / "b.json", tmp_path / "out" / "d_dev.json", source="spert", symmetric=["R"])
    types = read_types(types_path_for(tmp_path / "out" / "d_dev.json"))
    assert types.entity_names == ("X", "W")
    assert types.symmetric_relations == {"R"}


def test_derive_types_rejects_an_unused_symmetric_type():
    with pytest.raises(DataError) as info:
        derive_types([Document(("A",))], symmetric=["Near"])
    assert info.value.code == "E113"


def test_unknown_formats_and_misplaced_options(tmp_path):
    with pytest.raises(DataError) as info:
        convert(tmp_path / "x", tmp_path / "y", source="conll")
    assert info.value.code == "E130" and "brat" in str(info.value)
    write_documents(tmp_path / "a.json", [Document(("A",))])
    with pytest.raises(DataError) as info:
        convert(tmp_path / "a.json", tmp_path / "b.json", source="spert", sentences="spacy")
    assert info.value.code == "E130"


# ------------------------------------------------------------------------------ command line


def test_the_command_prints_the_counts(tmp_path, capsys):
    brat = write_brat_sample(tmp_path / "brat")
    code = main(
        [
            "convert",
            str(brat),
            "-o",
            str(tmp_path / "o.json"),
            "--from",
            "brat",
            "--to",
            "spert",
            "--sentences",
            "spacy",
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "read 2 brat documents" in out
    assert "wrote 3 spert documents, 6 entities and 2 relations" in out
    assert "skipped 1 × discontinuous entity (first:" in out
    assert json.loads((tmp_path / "r.json").read_text())["skipped"]["event"]["count"] == 1


def test_the_command_reports_bad_input_on_one_line(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("John", encoding="utf-8")
    (tmp_path / "a.ann").write_text("T1\tPeop 0 4 John\n", encoding="utf-8")
    code = main(
        ["convert", str(tmp_path / "a.ann"), "-o", str(tmp_path / "o.json"), "--from", "brat"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: [E131]") and "a.ann, line 1, field T1" in err
    assert err.count("\n") == 1
