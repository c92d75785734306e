"""Property-based fuzzing of every reader, the evaluator and the text path (issue 20).

Any input gives either a correct result or a coded :class:`~spertmt.errors.SpertMTError` with a
one-line message, never another exception: the SpERT JSON / JSON Lines documents reader, the
types reader, the prediction-input reader (raw text, JSON, JSONL), raw-text tokenisation, the
evaluator (from documents and from files) and the statistics. Inputs are random bytes, random
JSON near the SpERT schema, and valid files with random edits. Each test is bounded
(``max_examples``, no deadline); the module runs in well under 30 s on one core.

The hand-written hostile files (deep nesting, NULs, bidi controls, CR-only lines, huge lines
and entity counts, invalid UTF-8, a BOM) are in ``tests/data/hostile`` and run through the
command line by ``tests/unit/cli/test_hostile_files.py``.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spertmt.data.inputs import read_prediction_inputs
from spertmt.data.io import documents_to_text, read_documents, read_types
from spertmt.data.stats import compute_split_stats
from spertmt.data.text import tokenize_text
from spertmt.errors import CATALOGUE, SpertMTError
from spertmt.evaluation.metrics import EvalReport, evaluate_documents, evaluate_files
from spertmt.schema import (
    Document,
    Entity,
    EntityType,
    Relation,
    RelationType,
    TypeSchema,
)

TYPES = TypeSchema(
    (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
    (RelationType("Live_In", "LI", "Live in"), RelationType("Near", "N", "Near", symmetric=True)),
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FEW = settings(FUZZ, max_examples=60)


# --------------------------------------------------------------------------- checks
def coded(call):
    """``call()``'s result, or the coded one-line error it raised (any other exception fails)."""
    try:
        return call()
    except SpertMTError as error:
        assert error.code in CATALOGUE, error.code
        assert str(error).startswith(f"[{error.code}] "), str(error)
        assert not re.search(r"[\n\r]", str(error)), f"not one line: {str(error)!r}"
        return error


def assert_valid_document(doc: Document, types: TypeSchema | None) -> None:
    """What every document a reader returns satisfies."""
    assert isinstance(doc, Document)
    assert doc.tokens and all(isinstance(t, str) and t.strip() for t in doc.tokens)
    n = len(doc.tokens)
    for e in doc.entities:
        assert isinstance(e.start, int) and isinstance(e.end, int)
        assert 0 <= e.start < e.end <= n
        if types is not None:
            assert e.type in types.entity_names
        if e.score is not None:
            assert math.isfinite(e.score)
    for r in doc.relations:
        assert 0 <= r.head < len(doc.entities) and 0 <= r.tail < len(doc.entities)
        assert r.head != r.tail
        if types is not None:
            assert r.type in types.relation_names
    spans = [(e.type, e.start, e.end) for e in doc.entities]
    assert len(spans) == len(set(spans))  # duplicates are removed


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


@pytest.fixture()
def folder():
    # One folder for all examples of a test (hypothesis runs them in one call): each example
    # writes its files before it reads them.
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# --------------------------------------------------------------------------- strategies
NAMES = st.sampled_from(["Peop", "Loc", "Live_In", "Near", "Org", "", " ", "peop", "\u202eLoc"])
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
)
# Mostly plausible values, so that many documents get past the first checks to the deeper ones.
SMALL_INT = st.one_of(st.integers(0, 4), st.integers(0, 4), st.integers(-2, 8), JUNK)
KEYS = st.sampled_from(
    ["tokens", "entities", "relations", "type", "start", "end", "head", "tail", "orig_id",
     "score", "symmetric", "short", "verbose"]
) | st.text(max_size=3)  # fmt: skip
ANY_JSON = st.recursive(
    JUNK, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)  # fmt: skip
WORD = st.sampled_from(
    [
        "John",
        "lives",
        "in",
        "Paris",
        ".",
        "\x00",
        "\u202e",
        "\ufeff",
        "Pa\x85ris",
        "a\u2028b",
        "\x1c",
    ]
)
TOKEN = st.one_of(WORD, WORD, WORD, st.sampled_from(["", " "]), st.text(max_size=3), JUNK)
TYPE_NAME = st.one_of(st.sampled_from(["Peop", "Loc", "Live_In", "Near"]), NAMES, JUNK)
SCORE = st.one_of(st.floats(0, 1), JUNK)
ENTITY = st.one_of(
    st.fixed_dictionaries(
        {"type": TYPE_NAME, "start": SMALL_INT, "end": SMALL_INT}, optional={"score": SCORE}
    ),
    ANY_JSON,
)
RELATION = st.one_of(
    st.fixed_dictionaries(
        {"type": TYPE_NAME, "head": SMALL_INT, "tail": SMALL_INT}, optional={"score": SCORE}
    ),
    ANY_JSON,
)
SPAN_INT = st.integers(-1, 6)
PLAUSIBLE_DOCUMENT = st.fixed_dictionaries(  # valid words and kinds; spans, indices, types vary
    {
        "tokens": st.lists(st.sampled_from(["John", "lives", "in", "Pa\x85ris", "."]), min_size=1,
                           max_size=6),
        "entities": st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["Peop", "Loc", "Peop", "Loc", "Org"]),
                 "start": SPAN_INT, "end": SPAN_INT},
                optional={"score": st.floats(0, 1) | st.sampled_from([float("nan"), 2.0])},
            ),
            max_size=4,
        ),
        "relations": st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["Live_In", "Near", "Live_In", "Near", "Kill"]),
                 "head": st.integers(-1, 3), "tail": st.integers(-1, 3)},
                optional={"score": st.floats(0, 1)},
            ),
            max_size=3,
        ),
    },
    optional={"orig_id": st.integers(0, 9) | JUNK | st.just("\udc80")},
)  # fmt: skip
DOCUMENT = st.one_of(
    PLAUSIBLE_DOCUMENT,
    PLAUSIBLE_DOCUMENT,
    st.fixed_dictionaries(
        {
            "tokens": st.lists(TOKEN, min_size=1, max_size=6) | JUNK,
            "entities": st.lists(ENTITY, max_size=4) | JUNK,
            "relations": st.lists(RELATION, max_size=3) | JUNK,
        },
        optional={"orig_id": JUNK | st.just("\udc80"), "text": st.text(max_size=4) | JUNK},
    ),
    ANY_JSON,
)
DOCUMENTS = st.lists(DOCUMENT, max_size=3) | st.lists(PLAUSIBLE_DOCUMENT, max_size=3) | ANY_JSON


def json_text(value, *, lines: bool) -> str:
    """``value`` as a SpERT JSON file, or with each list element on its own line."""
    if lines and isinstance(value, list):
        return "".join(json.dumps(v) + "\n" for v in value)
    return json.dumps(value)


def valid_documents() -> st.SearchStrategy[list[Document]]:
    words = st.sampled_from(["John", "Anna", "lives", "in", "Paris", "Rome", ".", "東京"])

    @st.composite
    def document(draw):
        tokens = tuple(draw(st.lists(words, min_size=1, max_size=6)))
        spans = draw(
            st.lists(
                st.tuples(st.integers(0, len(tokens) - 1), st.integers(1, 3)), max_size=4,
                unique_by=lambda s: s,
            )
        )  # fmt: skip
        entities = tuple(
            Entity(draw(st.sampled_from(["Peop", "Loc"])), s, min(s + w, len(tokens)))
            for s, w in dict.fromkeys(spans)
        )
        entities = tuple(dict.fromkeys(entities))
        relations = ()
        if len(entities) >= 2:
            pairs = draw(
                st.lists(st.tuples(st.integers(0, len(entities) - 1), st.integers(0, 1)),
                         max_size=3)
            )  # fmt: skip
            relations = tuple(
                dict.fromkeys(
                    Relation(
                        draw(st.sampled_from(["Live_In", "Near"])), h, (h + 1 + d) % len(entities)
                    )
                    for h, d in pairs
                    if (h + 1 + d) % len(entities) != h
                )
            )
        return Document(tokens, entities, relations, orig_id=draw(st.none() | st.integers(0, 9)))

    return st.lists(document(), max_size=4)


def edited(text: str) -> st.SearchStrategy[bytes]:
    """``text`` as UTF-8 with up to three random byte edits (replace, insert or delete)."""
    data = text.encode("utf-8")

    @st.composite
    def edit(draw):
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(out)))
            cut = draw(st.integers(0, 3))
            out[at : at + cut] = draw(st.binary(max_size=3))
        return bytes(out)

    return edit()


# --------------------------------------------------------------------------- documents reader
@FUZZ
@given(DOCUMENTS, st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_documents_reader_on_json_near_the_schema(folder, value, lines, typed, annotations, skip):
    path = write(folder, "d.jsonl" if lines else "d.json", json_text(value, lines=lines))
    types = TYPES if typed else None
    result = coded(
        lambda: read_documents(
            path, types=types, require_annotations=annotations, skip_invalid=skip
        )
    )
    if not isinstance(result, SpertMTError):
        for doc in result:
            assert_valid_document(doc, types)
        # a correct result is one that reads back the same once written
        again = write(folder, "again.jsonl", documents_to_text(result, "jsonl"))
        assert read_documents(again, types=types, require_annotations=False) == result


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["d.json", "d.jsonl", "d.txt"]))
def test_documents_reader_on_random_bytes(folder, data, name):
    path = write(folder, name, data)
    result = coded(lambda: read_documents(path, skip_invalid=True))
    if not isinstance(result, SpertMTError):
        for doc in result:
            assert_valid_document(doc, None)


@FEW
@given(st.data(), valid_documents(), st.booleans())
def test_documents_reader_on_edited_valid_files(folder, data, docs, lines):
    text = documents_to_text(docs, "jsonl" if lines else "json")
    path = write(folder, "d.jsonl" if lines else "d.json", data.draw(edited(text)))
    result = coded(lambda: read_documents(path, types=TYPES))
    if not isinstance(result, SpertMTError):
        for doc in result:
            assert_valid_document(doc, TYPES)


@FEW
@given(valid_documents(), st.booleans())
def test_valid_documents_read_back_exactly(folder, docs, lines):
    path = write(
        folder,
        "d.jsonl" if lines else "d.json",
        documents_to_text(docs, "jsonl" if lines else "json"),
    )
    assert read_documents(path, types=TYPES) == docs


# --------------------------------------------------------------------------- types reader
TYPE_SPEC = (
    st.fixed_dictionaries(
        {"short": st.text(max_size=3) | JUNK, "verbose": st.text(max_size=3) | JUNK},
        optional={"symmetric": st.booleans() | JUNK},
    )
    | ANY_JSON
)
TYPES_FILE = (
    st.fixed_dictionaries(
        {
            "entities": st.dictionaries(NAMES | st.text(max_size=3), TYPE_SPEC, max_size=3) | JUNK,
            "relations": st.dictionaries(NAMES | st.text(max_size=3), TYPE_SPEC, max_size=3) | JUNK,
        }
    )
    | ANY_JSON
)


@FUZZ
@given(TYPES_FILE)
def test_types_reader_on_json_near_the_schema(folder, value):
    path = write(folder, "types.json", json.dumps(value))
    result = coded(lambda: read_types(path))
    if not isinstance(result, SpertMTError):
        assert isinstance(result, TypeSchema)
        for names in (result.entity_names, result.relation_names):
            assert all(isinstance(n, str) and n for n in names)
            assert len(set(names)) == len(names)


@FEW
@given(st.binary(max_size=120))
def test_types_reader_on_random_bytes(folder, data):
    coded(lambda: read_types(write(folder, "types.json", data)))


# --------------------------------------------------------------------------- prediction inputs
RAW_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("ab .\n\r\t\x00\x0b\x0c\x1c\x85\u2028\u2029\u202e\u2066\ufeff\u200b"),
        st.characters(codec="utf-8"),
    ),
    max_size=80,
)


@FUZZ
@given(RAW_TEXT, st.booleans())
def test_raw_text_input_gives_one_clean_document_a_line(folder, text, whole):
    path = write(folder, "in.txt", text)
    result = coded(lambda: read_prediction_inputs(path, whole_file=whole))
    assert not isinstance(result, SpertMTError), result
    for item in result.items:
        assert isinstance(item, str) and item.strip()
        if not whole:
            assert "\n" not in item and "\r" not in item
    if result.line_numbers is not None:
        assert list(result.line_numbers) == sorted(set(result.line_numbers))


@FUZZ
@given(
    st.one_of(st.binary(max_size=150), DOCUMENTS.map(lambda v: json.dumps(v).encode())),
    st.sampled_from(["text", "json", "jsonl"]),
    st.booleans(),
    st.booleans(),
)
def test_prediction_inputs_on_any_bytes(folder, data, form, whole, given_entities):
    path = write(folder, "in.data", data)
    result = coded(
        lambda: read_prediction_inputs(
            path,
            input_format=form,
            whole_file=whole,
            given_entities=given_entities,
            types=TYPES,
        )
    )
    if not isinstance(result, SpertMTError):
        assert len(result.items) == len(result)
        for item in result.items:
            if isinstance(item, Document):
                assert_valid_document(item, TYPES if given_entities else None)


# --------------------------------------------------------------------------- text path
@FUZZ
@given(
    st.text(alphabet=st.characters(), max_size=60),  # lone surrogates included
    st.booleans(),
    st.none() | st.integers(1, 5),
)
def test_tokenisation_of_any_string_is_exact_or_a_coded_error(text, split, max_words):
    result = coded(lambda: tokenize_text(text, split_sentences=split, max_words=max_words))
    if isinstance(result, SpertMTError):
        assert result.code == "E507"
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return
    for doc in result:
        assert doc.tokens and doc.token_offsets and len(doc.tokens) == len(doc.token_offsets)
        if max_words is not None:
            assert len(doc.tokens) <= max_words
        for token, (start, end) in zip(doc.tokens, doc.token_offsets, strict=True):
            assert text[start:end] == token and token.strip()


# --------------------------------------------------------------------------- evaluator
@st.composite
def loose_documents(draw, tokens=None):
    """Documents as the Python API may hold them: spans, indices and types unchecked."""
    if tokens is None:
        tokens = tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=4)))
    entities = tuple(
        Entity(draw(NAMES), draw(st.integers(-1, 5)), draw(st.integers(-1, 6)))
        for _ in range(draw(st.integers(0, 4)))
    )
    relations = tuple(
        Relation(draw(NAMES), draw(st.integers(-1, 4)), draw(st.integers(-1, 4)))
        for _ in range(draw(st.integers(0, 3)))
    )
    return Document(tokens, entities, relations, orig_id=draw(st.none() | st.integers(0, 2)))


@st.composite
def gold_and_predictions(draw):
    gold = draw(st.lists(loose_documents(), max_size=3))
    if draw(st.booleans()):  # usually the same documents, as a real evaluation has them
        pred = [draw(loose_documents(tokens=g.tokens)) for g in gold]
        pred = [
            Document(p.tokens, p.entities, p.relations, orig_id=g.orig_id)
            for p, g in zip(pred, gold, strict=True)
        ]
    else:
        pred = draw(st.lists(loose_documents(), max_size=3))
    return gold, pred


def assert_sane_report(report: EvalReport) -> None:
    assert isinstance(report, EvalReport)
    for setting in (report.entity, report.relation_boundaries, report.relation_strict):
        for prf in (setting.micro, setting.macro):
            for value in (prf.precision, prf.recall, prf.f1):
                assert 0.0 <= value <= 100.0


@FUZZ
@given(gold_and_predictions(), st.booleans())
def test_evaluator_on_any_documents(data, no_overlap):
    gold, pred = data
    result = coded(lambda: evaluate_documents(gold, pred, TYPES, no_overlap=no_overlap))
    if not isinstance(result, SpertMTError):
        assert_sane_report(result)


@FEW
@given(DOCUMENTS, DOCUMENTS, TYPES_FILE | st.just(TYPES.to_dict()), st.booleans())
def test_evaluator_on_any_files(folder, gold, pred, types, no_overlap):
    paths = [
        write(folder, "gold.json", json.dumps(gold)),
        write(folder, "pred.json", json.dumps(pred)),
        write(folder, "types.json", json.dumps(types)),
    ]
    result = coded(lambda: evaluate_files(*paths, no_overlap=no_overlap))
    if not isinstance(result, SpertMTError):
        assert_sane_report(result)


@FEW
@given(valid_documents(), st.booleans())
def test_statistics_of_any_valid_documents(docs, typed):
    stats = compute_split_stats(docs, types=TYPES if typed else None)
    assert stats.documents == len(docs)
