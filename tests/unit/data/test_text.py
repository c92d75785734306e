import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spertmt.data import text as text_module
from spertmt.data.text import tokenize_text, tokenize_texts
from spertmt.errors import InputError


def assert_exact_offsets(text, docs):
    """Every token is its slice of the text; every visible non-space character is in one token
    and every invisible control character (text_module._INVISIBLE) in none."""
    covered = [0] * len(text)
    for doc in docs:
        assert doc.text is text
        assert doc.entities == () and doc.relations == ()
        assert len(doc.tokens) == len(doc.token_offsets) > 0
        for token, (start, end) in zip(doc.tokens, doc.token_offsets, strict=True):
            assert text[start:end] == token
            assert token and not token.isspace()
            for i in range(start, end):
                covered[i] += 1
    for i, char in enumerate(text):
        if text_module._INVISIBLE.fullmatch(char):
            assert covered[i] == 0, (text, i)
        elif not char.isspace():
            assert covered[i] == 1, (text, i)
        assert covered[i] <= 1


def test_sentences_and_offsets():
    text = "John Smith lives in Paris. Ann works in Rome!"
    docs = tokenize_text(text)
    assert [d.tokens for d in docs] == [
        ("John", "Smith", "lives", "in", "Paris", "."),
        ("Ann", "works", "in", "Rome", "!"),
    ]
    assert docs[1].token_offsets[0] == (27, 30)
    assert_exact_offsets(text, docs)


def test_one_document_without_sentence_splitting():
    text = "One. Two.  Three"
    docs = tokenize_text(text, split_sentences=False)
    assert len(docs) == 1
    assert docs[0].tokens == ("One", ".", "Two", ".", "Three")
    assert_exact_offsets(text, docs)


@pytest.mark.parametrize("text", ["", " ", "  \n\t \r\n ", "\u3000\u00a0"])
def test_empty_and_whitespace_give_no_documents(text):
    assert tokenize_text(text) == []
    assert tokenize_text(text, split_sentences=False) == []


@pytest.mark.parametrize(
    "text",
    [
        "Ann\x00 met\x07 Bob\x1b[0m .\x7f",  # control characters
        "I 😀 love 👩‍👩‍👧 Paris 🇫🇷 !",  # emoji, ZWJ sequences, flags
        "東京は日本の首都です。 北京也是首都。",  # CJK
        "ذهب أحمد إلى القاهرة. وعاد.",  # Arabic (right to left)
        "Zero\u200bwidth and com\u0301bining marks",
        "Tabs\tand\nnew\nlines\r\nand   runs   of spaces ",
    ],
)
def test_any_script_and_control_characters_keep_exact_offsets(text):
    docs = tokenize_text(text)
    assert docs
    assert_exact_offsets(text, docs)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("John \x00", [("John",)]),  # was the entity "John \x00"
        ("\x00\x00\x00", []),  # was a line of NULs tagged Loc
        ("a\x07b", [("a", "b")]),
        ("\u202eJohn Smith\u202c", [("John", "Smith")]),
        ("x\u200by\ufeff", [("x", "y")]),
        ("👨\u200d👩", [("👨", "\u200d", "👩")]),  # joiners are not invisible controls
    ],
)
def test_invisible_control_characters_separate_tokens_and_are_never_words(text, tokens):
    assert [d.tokens for d in tokenize_text(text)] == tokens


def test_whitespace_tokens_are_dropped_and_blank_sentences_skipped():
    docs = tokenize_text("Ann ran.\n\n\n   Bob sat.\n \t")
    assert [d.tokens for d in docs] == [("Ann", "ran", "."), ("Bob", "sat", ".")]


def test_a_blank_line_ends_a_sentence():
    text = "Results\n\nJohn lives in Paris\r\n\r\nSee also\nParis"
    assert [d.tokens for d in tokenize_text(text)] == [
        ("Results",),
        ("John", "lives", "in", "Paris"),
        ("See", "also", "Paris"),
    ]
    assert len(tokenize_text(text, split_sentences=False)) == 1


def test_a_lone_surrogate_is_an_input_error():
    with pytest.raises(
        InputError,
        match=r"\[E507\] input 4 holds the lone surrogate U\+DC80 at "
        r"character 3",
    ):
        tokenize_text("abc\udc80 def", input_index=4)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_offsets_are_exact_for_arbitrary_text(text):
    assert_exact_offsets(text, tokenize_text(text))


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a", "list"]])
def test_non_str_input_is_an_input_error(bad):
    with pytest.raises(InputError, match=r"\[E501\] input is a"):
        tokenize_text(bad)


def test_batch_names_the_index_of_a_bad_text():
    assert [len(d) for d in tokenize_texts(["One. Two.", "", "Three"])] == [2, 0, 1]
    with pytest.raises(InputError, match=r"\[E501\] input 2 is a int"):
        tokenize_texts(["fine", "also fine", 7])


def test_long_sentences_are_cut_into_near_equal_pieces():
    words = [f"w{i}" for i in range(25)]
    text = " ".join(words)
    docs = tokenize_text(text, max_words=10)
    assert [len(d.tokens) for d in docs] == [9, 9, 7]
    assert [t for d in docs for t in d.tokens] == words
    assert_exact_offsets(text, docs)
    with pytest.raises(InputError, match=r"\[E505\] max_words"):
        tokenize_text(text, max_words=0)


def test_texts_longer_than_spacys_limit_are_cut_at_whitespace(monkeypatch):
    text = "Alpha beta gamma. Delta epsilonzeta eta theta. " * 5 + "Iotakappalambdamu"
    whole = tokenize_text(text, split_sentences=False)
    monkeypatch.setattr(text_module, "_SPACY_MAX_LENGTH", 12)
    pieces = tokenize_text(text, split_sentences=False)
    tokens = [t for d in pieces for t in d.tokens]
    assert tokens[:-2] == list(whole[0].tokens[:-1])
    # A word longer than the limit is cut hard, never dropped.
    assert "".join(tokens[-2:]) == "Iotakappalambdamu" and len(tokens) == len(whole[0].tokens) + 1
    assert_exact_offsets(text, pieces)


def test_a_100k_character_text_is_fast_and_exact():
    unit = "John Smith lives in Paris near Lyon, 東京 😀! "
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    tokenize_text("warm up the cached pipeline.")
    started = time.perf_counter()
    docs = tokenize_text(text)
    elapsed = time.perf_counter() - started
    assert len(docs) > 2000
    assert_exact_offsets(text, docs)
    # spaCy takes well under 0.5 s for this on one core; the bound only catches a blow-up.
    assert elapsed < 5.0


def test_pipeline_is_built_once():
    tokenize_text("a.")
    before = text_module._pipeline.cache_info().misses
    tokenize_text("b. c.")
    tokenize_texts(["d", "e."])
    assert text_module._pipeline.cache_info().misses == before
