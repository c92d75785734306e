import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spertmt.encoding.align import EncodedDocument, collate, encode_words
from spertmt.encoding.encoders import load_tokenizer
from spertmt.errors import EncoderError

# Words a tokenizer may turn into no piece at all.
EMPTY_WORDS = ["\u200b", "\x07", "", " ", "\n\t", "\u00ad"]


@pytest.fixture(scope="module")
def bert(tiny_bert_dir):
    return load_tokenizer(str(tiny_bert_dir))


@pytest.fixture(scope="module")
def roberta(tiny_roberta_dir):
    return load_tokenizer(str(tiny_roberta_dir))


@pytest.fixture(params=["bert", "roberta"])
def tokenizer(request, bert, roberta):
    return bert if request.param == "bert" else roberta


def pieces(doc: EncodedDocument) -> list[list[int]]:
    return [
        doc.input_ids[s:e].tolist() for s, e in zip(doc.word_starts, doc.word_ends, strict=True)
    ]


def alone(tokenizer, word: str) -> list[int]:
    """Pieces of ``word`` as a one-word document (the unknown token when there are none)."""
    ids = tokenizer([[word]], is_split_into_words=True, add_special_tokens=False).input_ids[0]
    return ids or [tokenizer.unk_token_id]


def check_invariants(tokenizer, words: list[str], doc: EncodedDocument) -> None:
    assert doc.input_ids.dtype == np.int64 and doc.word_starts.dtype == np.int64
    assert doc.word_ends.dtype == np.int64
    assert doc.num_words == len(words)
    assert doc.input_ids[0] == tokenizer.cls_token_id
    assert doc.input_ids[-1] == tokenizer.sep_token_id
    if words:
        # Words tile the content exactly: nothing dropped, nothing shared, in order.
        assert doc.word_starts[0] == 1 and doc.word_ends[-1] == doc.num_pieces - 1
        assert np.all(doc.word_ends > doc.word_starts)
        assert np.array_equal(doc.word_ends[:-1], doc.word_starts[1:])
    else:
        assert doc.num_pieces == 2
    assert pieces(doc) == [alone(tokenizer, w) for w in words]


def test_simple_sentence(bert):
    doc = encode_words(bert, [["John", "lives", "in", "Paris", "."]])[0]
    assert doc.word_starts.tolist() == [1, 2, 3, 4, 5]
    assert doc.word_ends.tolist() == [2, 3, 4, 5, 6]
    assert bert.convert_ids_to_tokens(doc.input_ids.tolist()) == [
        "[CLS]",
        "john",
        "lives",
        "in",
        "paris",
        ".",
        "[SEP]",
    ]


def test_word_with_several_pieces_stays_together(bert):
    doc = encode_words(bert, [["an", "unbelievably", "tokenization"]])[0]
    assert [len(p) for p in pieces(doc)][0] == 1
    assert all(len(p) > 1 for p in pieces(doc)[1:])
    check_invariants(bert, ["an", "unbelievably", "tokenization"], doc)


@pytest.mark.parametrize("empty", EMPTY_WORDS)
@pytest.mark.parametrize("where", ["start", "middle", "end", "alone"])
def test_word_without_pieces_gets_the_unknown_token(bert, empty, where):
    words = {
        "start": [empty, "paris", "is", "nice"],
        "middle": ["paris", empty, "is", "nice"],
        "end": ["paris", "is", "nice", empty],
        "alone": [empty],
    }[where]
    doc = encode_words(bert, [words])[0]
    index = words.index(empty)
    assert pieces(doc)[index] == [bert.unk_token_id]
    check_invariants(bert, words, doc)


def test_several_missing_words_in_a_row_and_whole_document(tokenizer):
    words = ["\u200b", "", "Paris", "\x07", "\u200b", "", "is", "\x07"]
    if tokenizer.cls_token == "<s>":
        # Byte-level BPE has a piece for every byte: only the empty string yields nothing.
        words = ["", "", "Paris", "", "is", ""]
    docs = [words, ["", ""], []]
    for doc_words, doc in zip(docs, encode_words(tokenizer, docs), strict=True):
        check_invariants(tokenizer, doc_words, doc)


def test_whitespace_inside_a_token_is_one_word(tokenizer):
    words = ["New York", "is", "big"]
    doc = encode_words(tokenizer, [words])[0]
    assert len(pieces(doc)[0]) >= 2
    check_invariants(tokenizer, words, doc)


def test_emoji_and_cjk(bert, roberta):
    words = ["I", "❤️", "東京", "😀", "and", "ä"]
    doc = encode_words(bert, [words])[0]
    check_invariants(bert, words, doc)
    assert len(pieces(doc)[2]) == 2  # BERT splits CJK characters
    assert bert.unk_token_id in pieces(doc)[3]
    doc = encode_words(roberta, [words])[0]
    check_invariants(roberta, words, doc)
    assert roberta.unk_token_id not in doc.input_ids  # bytes always have pieces


def test_empty_list_of_documents(bert):
    assert encode_words(bert, []) == []


def test_tokenizer_without_unknown_token(roberta):
    from transformers import PreTrainedTokenizerFast

    no_unk = PreTrainedTokenizerFast(
        tokenizer_object=roberta.backend_tokenizer, cls_token="<s>", sep_token="</s>"
    )
    assert no_unk.unk_token_id is None
    assert encode_words(no_unk, [["Paris"]])[0].num_words == 1  # no unknown token needed
    with pytest.raises(EncoderError) as info:
        encode_words(no_unk, [["Paris"], ["Paris", "", "is"]])
    assert info.value.code == "E407"
    assert "document 1, word 1 ('')" in str(info.value)


def test_slow_tokenizer_is_refused():
    from transformers import ByT5Tokenizer

    with pytest.raises(EncoderError) as info:
        encode_words(ByT5Tokenizer(), [["a"]])
    assert info.value.code == "E406"


def test_no_truncation_for_long_documents(bert):
    words = ["word"] * 3000
    doc = encode_words(bert, [words])[0]
    assert doc.num_words == 3000 and doc.num_pieces == 3002


WORD = st.one_of(
    st.sampled_from(EMPTY_WORDS + ["Paris", "New York", "東京", "😀", "co-operate", "1,000.5"]),
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=6
    ),
)


@given(docs=st.lists(st.lists(WORD, max_size=12), min_size=1, max_size=4))
@settings(max_examples=60, deadline=None)
def test_alignment_invariants_hold_for_any_words(bert, roberta, docs):
    for tokenizer in (bert, roberta):
        for words, doc in zip(docs, encode_words(tokenizer, docs), strict=True):
            check_invariants(tokenizer, words, doc)


def test_collate_pads_pieces_and_words(bert):
    docs = [["John", "lives", "in", "Paris"], ["Hi"], []]
    encoded = encode_words(bert, docs)
    input_ids, attention_mask, starts, ends, word_mask = collate(encoded, pad_id=7)
    assert input_ids.shape == attention_mask.shape == (3, 6)
    assert starts.shape == ends.shape == word_mask.shape == (3, 4)
    assert input_ids.dtype == attention_mask.dtype == starts.dtype == ends.dtype == torch.long
    assert word_mask.dtype == torch.bool
    assert input_ids[1].tolist()[:3] == encoded[1].input_ids.tolist()
    assert input_ids[1, 3:].tolist() == [7, 7, 7]
    assert attention_mask.sum(1).tolist() == [6, 3, 2]
    assert word_mask.sum(1).tolist() == [4, 1, 0]
    assert starts[1].tolist() == [1, 0, 0, 0] and ends[1].tolist() == [2, 0, 0, 0]
    assert starts[0].tolist() == encoded[0].word_starts.tolist()


def test_collate_of_nothing():
    input_ids, attention_mask, starts, ends, word_mask = collate([], pad_id=0)
    assert input_ids.shape == (0, 0) and word_mask.shape == (0, 0)


def test_conll04_sized_input_is_fast(bert):
    # CoNLL04 train: 922 sentences of ~30 words (max ~120); well under a second.
    rng = np.random.default_rng(0)
    vocabulary = [
        "John",
        "Smith",
        "lives",
        "in",
        "Paris",
        ",",
        "the",
        "company",
        "'s",
        "president",
        "1984",
        "Kennedy",
        "assassination",
        "U.S.",
        "Lee",
        "Oswald",
    ]
    docs = [list(rng.choice(vocabulary, size=int(n))) for n in rng.integers(5, 120, size=922)]
    encode_words(bert, docs[:10])  # warm-up
    begin = time.perf_counter()
    encoded = encode_words(bert, docs)
    elapsed = time.perf_counter() - begin
    assert len(encoded) == 922
    assert elapsed < 1.0, f"encode_words took {elapsed:.2f} s for 922 documents"
