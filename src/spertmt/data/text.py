"""Raw text to word tokens: sentence splitting and tokenisation with spaCy's blank English.

The pipeline is ``spacy.blank("en")`` plus the rule-based ``sentencizer``: it runs offline,
needs no model download and is built once per process. Every sentence becomes one
:class:`~spertmt.schema.Document` whose ``text`` is the *whole* input string and whose
``token_offsets`` are ``(char_start, char_end)`` of each token in it (Python string indices,
i.e. code points), so that ``text[char_start:char_end]`` is exactly a token's surface string.
Sentences end where the ``sentencizer`` puts a boundary (sentence-final punctuation) and at
every blank line. Whitespace tokens (runs of spaces, tabs, newlines) are dropped. Invisible
control characters (C0/C1 controls such as NUL or BEL, bidirectional embeddings, overrides and
isolates, the zero-width space and the byte-order mark) separate tokens like whitespace and
are never part of one, so they never become words or entities; every other character
(emoji, joiners, any script) stays inside exactly one token.

Example:
    >>> sentences = tokenize_text("John lives in Paris. Ann works in Rome.")
    >>> [s.tokens for s in sentences]
    [('John', 'lives', 'in', 'Paris', '.'), ('Ann', 'works', 'in', 'Rome', '.')]
    >>> sentences[1].token_offsets[3]
    (34, 38)

"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from spertmt.errors import InputError
from spertmt.schema import Document

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["tokenize_text", "tokenize_texts"]

_SPACY_MAX_LENGTH = 1_000_000
"""Characters handed to spaCy at once; longer texts are cut at whitespace (spaCy's default)."""


@functools.lru_cache(maxsize=1)
def _pipeline() -> Language:
    # Imported here: spaCy takes about a second to import, and only raw-text input needs it.
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = _SPACY_MAX_LENGTH
    return nlp


def _describe(value: Any) -> str:
    return type(value).__name__


def _check_text(text: Any, index: int | None = None) -> str:
    if not isinstance(text, str):
        where = "input" if index is None else f"input {index}"
        raise InputError(
            f"{where} is a {_describe(text)}, not a str; raw text must be a Python string "
            "(decode bytes first, e.g. data.decode('utf-8'))",
            code="E501",
        )
    return text


def _segments(text: str, limit: int) -> Iterator[tuple[int, str]]:
    """Cut ``text`` into ``(offset, piece)`` of at most ``limit`` characters, at whitespace."""
    begin = 0
    while len(text) - begin > limit:
        end = begin + limit
        # Cut after the last whitespace so no token is split; a piece without any whitespace
        # is cut hard (such a "word" is longer than any model can use anyway).
        cut = max(text.rfind(" ", begin, end), text.rfind("\n", begin, end))
        cut = end if cut <= begin else cut + 1
        yield begin, text[begin:cut]
        begin = cut
    yield begin, text[begin:]


def _cut_long(
    tokens: list[str], offsets: list[tuple[int, int]], max_words: int | None
) -> Iterator[tuple[list[str], list[tuple[int, int]]]]:
    if max_words is None or len(tokens) <= max_words:
        yield tokens, offsets
        return
    # Near-equal pieces rather than full pieces plus a tiny remainder.
    pieces = -(-len(tokens) // max_words)
    size = -(-len(tokens) // pieces)
    for begin in range(0, len(tokens), size):
        yield tokens[begin : begin + size], offsets[begin : begin + size]


_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
"""Characters that separate tokens like a space: C0/C1 controls (tab, line breaks and form
feeds excepted: spaCy already treats them as whitespace), bidirectional controls and marks
(U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the zero-width space and the
byte-order mark. Joiners (U+200C, U+200D) and the soft hyphen stay: they belong to words."""


def _documents(text: str, *, split_sentences: bool, max_words: int | None) -> list[Document]:
    nlp = _pipeline()
    out: list[Document] = []
    # One space per invisible character: offsets into the copy are offsets into ``text``.
    spaced = _INVISIBLE.sub(" ", text)
    for base, piece in _segments(spaced, _SPACY_MAX_LENGTH):
        doc = nlp(piece) if split_sentences else nlp.make_doc(piece)
        groups = doc.sents if split_sentences else [doc[:]]
        for group in groups:
            tokens: list[str] = []
            offsets: list[tuple[int, int]] = []
            for token in group:
                if not token.is_space:
                    start = base + token.idx
                    tokens.append(token.text)
                    offsets.append((start, start + len(token.text)))
                elif split_sentences and token.text.count("\n") >= 2 and tokens:
                    # The sentencizer only looks at punctuation; a blank line (paragraph
                    # break, heading, list item) ends a sentence too.
                    out.extend(_sentence_documents(text, tokens, offsets, max_words))
                    tokens, offsets = [], []
            out.extend(_sentence_documents(text, tokens, offsets, max_words))
    return out


def _sentence_documents(
    text: str, tokens: list[str], offsets: list[tuple[int, int]], max_words: int | None
) -> Iterator[Document]:
    if not tokens:
        return
    for part_tokens, part_offsets in _cut_long(tokens, offsets, max_words):
        yield Document(tokens=tuple(part_tokens), text=text, token_offsets=tuple(part_offsets))


def tokenize_text(
    text: str,
    *,
    split_sentences: bool = True,
    max_words: int | None = None,
    input_index: int | None = None,
) -> list[Document]:
    """Split raw text into sentences of word tokens with character offsets.

    Args:
        text: The raw text. Empty or whitespace-only text gives no documents.
        split_sentences: One document per sentence (spaCy's rule-based ``sentencizer``,
            plus a break at every blank line); ``False`` gives one document for the whole
            text.
        max_words: Cut a sentence longer than this many words into near-equal consecutive
            pieces (a guard against text without sentence punctuation); ``None``: never cut.
        input_index: Position of ``text`` among several inputs, named in error messages.

    Returns:
        The sentences in text order. Each document has ``text`` = the whole input string
        (the same object, not a copy) and ``token_offsets`` = ``(char_start, char_end)`` of
        each token in it, with ``text[char_start:char_end] == token``; no entities.

    Raises:
        InputError: ``E501`` when ``text`` is not a ``str``; ``E505`` when ``max_words`` is
            not a positive integer; ``E507`` when ``text`` holds a lone surrogate (not valid
            Unicode).

    Example:
        >>> [d.tokens for d in tokenize_text("Hi there! 東京 is big.")]
        [('Hi', 'there', '!'), ('東京', 'is', 'big', '.')]
        >>> tokenize_text("   ")
        []

    """
    return _tokenize(text, split_sentences=split_sentences, max_words=max_words, index=input_index)


def tokenize_texts(
    texts: Iterable[str], *, split_sentences: bool = True, max_words: int | None = None
) -> list[list[Document]]:
    """Tokenise many raw texts; see :func:`tokenize_text`.

    Args:
        texts: The raw texts.
        split_sentences: One document per sentence, or one per text.
        max_words: Longest sentence in words before it is cut; ``None``: never cut.

    Returns:
        One list of sentence documents per text, in input order (empty for blank text).

    Raises:
        InputError: ``E501`` naming the index of the first text that is not a ``str``.

    Example:
        >>> [len(s) for s in tokenize_texts(["One. Two.", "", "Three"])]
        [2, 0, 1]

    """
    return [
        _tokenize(text, split_sentences=split_sentences, max_words=max_words, index=index)
        for index, text in enumerate(texts)
    ]


def _tokenize(
    text: Any, *, split_sentences: bool, max_words: int | None, index: int | None
) -> list[Document]:
    _check_text(text, index)
    if max_words is not None and (
        isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1
    ):
        raise InputError(
            f"max_words must be a positive integer or None, got {max_words!r}", code="E505"
        )
    if not text or text.isspace():
        return []
    try:
        # spaCy (and the sub-word tokenizers) need valid Unicode; a lone surrogate, left by
        # decoding with errors="surrogateescape", is not.
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        where = "input" if index is None else f"input {index}"
        raise InputError(
            f"{where} holds the lone surrogate U+{ord(text[error.start]):04X} at character "
            f"{error.start}, which is not valid Unicode; decode the bytes with "
            "errors='replace' (or fix the encoding) first",
            code="E507",
        ) from None
    return _documents(text, split_sentences=split_sentences, max_words=max_words)
