"""Input planning for :class:`~spertmt.inference.api.SpertMT`: input → model units → document.

Raw text is split into sentences (:func:`spertmt.data.text.tokenize_text`), token lists and
documents become one unit each, and caller-given entities are attached to the units they fall
in; after prediction :func:`merge` joins the units' documents back into one per input, with
word and character offsets into the whole input.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spertmt.data.text import tokenize_text
from spertmt.errors import InputError
from spertmt.schema import Document, Entity, Relation, TypeSchema

MAX_SENTENCE_WORDS = 256
"""Raw-text sentences longer than this many words are cut into pieces before prediction.

A guard against text without sentence punctuation, whose single "sentence" would make the
span grid (words × ``max_span_width``) and the entity pairs grow without bound. Benchmark
sentences are far shorter (CoNLL04, SciERC and ADE stay under 130 words).
"""


@dataclass(frozen=True)
class Plan:
    """How one input is predicted: model units over its tokens, and how to merge them back.

    ``units[k]`` covers ``tokens[bases[k] : bases[k] + len(units[k].tokens)]``. In
    relation-only mode ``units[k].entities`` are the caller's entities of that unit (shifted
    into it and sorted by span) and ``unit_entities[k]`` their indices in the caller's list.
    """

    tokens: tuple[str, ...]
    units: tuple[Document, ...]
    bases: tuple[int, ...]
    orig_id: Any = None
    text: str | None = None
    token_offsets: tuple[tuple[int, int], ...] | None = None
    given: tuple[Entity, ...] | None = None
    unit_entities: tuple[tuple[int, ...], ...] | None = None


def given_lists(entities: Any, count: int, *, single: bool) -> list[tuple[Entity, ...]]:
    """Normalise ``entities=`` to one tuple per input, checking its shape."""
    if single:
        if not isinstance(entities, (list, tuple)):
            raise InputError(
                f"entities is a {type(entities).__name__}; for one input pass a list of "
                "Entity objects",
                code="E503",
            )
        if any(isinstance(e, (list, tuple)) for e in entities):
            raise InputError(
                "entities holds lists, but there is one input: pass that input's entities "
                "as a flat list of Entity objects (lists of lists go with a list of inputs)",
                code="E503",
            )
        return [tuple(entities)]
    if not isinstance(entities, (list, tuple)) or len(entities) != count:
        got = (
            f"{len(entities)} entity lists"
            if isinstance(entities, (list, tuple))
            else f"a {type(entities).__name__}"
        )
        raise InputError(
            f"entities must hold one list of entities per input: {count} inputs, but got {got}",
            code="E503",
        )
    out = []
    for index, group in enumerate(entities):
        if not isinstance(group, (list, tuple)):
            raise InputError(
                f"input {index}: entities[{index}] is a {type(group).__name__}, not a list "
                "of Entity objects",
                code="E503",
            )
        out.append(tuple(group))
    return out


def plan_input(item: Any, index: int, given: tuple[Entity, ...] | None, types: TypeSchema) -> Plan:
    """Turn one input into model units (one per sentence for raw text)."""
    if isinstance(item, str):
        sentences = tokenize_text(item, max_words=MAX_SENTENCE_WORDS, input_index=index)
        tokens = tuple(t for s in sentences for t in s.tokens)
        offsets: tuple[tuple[int, int], ...] | None = tuple(
            o for s in sentences for o in s.token_offsets or ()
        )
        bases = tuple(itertools.accumulate((len(s.tokens) for s in sentences), initial=0))
        units = tuple(Document(tokens=s.tokens) for s in sentences)
        plan = Plan(tokens, units, bases[:-1], text=item, token_offsets=offsets)
    elif isinstance(item, Document):
        tokens = _check_tokens(item.tokens, index)
        offsets = item.token_offsets if item.text is not None else None
        if offsets is not None and len(offsets) != len(tokens):
            raise InputError(
                f"input {index}: the Document has {len(offsets)} token_offsets for "
                f"{len(tokens)} tokens; give one (char_start, char_end) per token or none",
                code="E506",
            )
        units = (Document(tokens=tokens),) if tokens else ()
        plan = Plan(
            tokens,
            units,
            (0,) if tokens else (),
            orig_id=item.orig_id,
            text=item.text,
            token_offsets=offsets,
        )
    elif isinstance(item, (list, tuple)):
        tokens = _check_tokens(item, index)
        units = (Document(tokens=tokens),) if tokens else ()
        plan = Plan(tokens, units, (0,) if tokens else ())
    else:
        raise InputError(
            f"input {index} is a {type(item).__name__}; expected a str (raw text), a list "
            "of str (tokens) or a Document",
            code="E501",
        )
    if given is None:
        return plan
    return _with_given(plan, given, index, types)


def _with_given(plan: Plan, given: tuple[Entity, ...], index: int, types: TypeSchema) -> Plan:
    """Attach the caller's entities to the units, joining units that an entity spans."""
    names = set(types.entity_names)
    for number, entity in enumerate(given):
        where = f"input {index}, entities[{number}]"
        if not isinstance(entity, Entity):
            raise InputError(f"{where} is a {type(entity).__name__}, not an Entity", code="E504")
        if entity.type not in names:
            raise InputError(
                f"{where} has type {entity.type!r}, which the model does not know; its "
                f"entity types are {', '.join(sorted(names))}",
                code="E504",
            )
        span_ok = all(
            isinstance(v, int) and not isinstance(v, bool) for v in (entity.start, entity.end)
        ) and (0 <= entity.start < entity.end <= len(plan.tokens))
        if not span_ok:
            raise InputError(
                f"{where} has span ({entity.start!r}, {entity.end!r}), not a word span "
                f"[start, end) within the input's {len(plan.tokens)} words; for raw text "
                "the words are those of spertmt.data.text.tokenize_text(text), all sentences "
                "together",
                code="E504",
            )
    # A sentence boundary that an entity crosses is dropped: both sides become one unit.
    # Linear in words and entities: entity e covers the boundaries c with e.start < c < e.end.
    covering = [0] * (len(plan.tokens) + 2)
    for entity in given:
        covering[entity.start + 1] += 1
        covering[entity.end] -= 1
    covered = list(itertools.accumulate(covering))
    cuts = [c for c in plan.bases[1:] if covered[c] == 0]
    bounds = [0, *cuts, len(plan.tokens)] if plan.tokens else [0]
    units, bases, unit_entities = [], [], []
    order = sorted(range(len(given)), key=lambda i: (given[i].start, given[i].end))
    starts = [given[i].start for i in order]
    for begin, end in itertools.pairwise(bounds):
        members = tuple(order[bisect.bisect_left(starts, begin) : bisect.bisect_left(starts, end)])
        local = tuple(
            dataclasses.replace(given[i], start=given[i].start - begin, end=given[i].end - begin)
            for i in members
        )
        units.append(Document(tokens=plan.tokens[begin:end], entities=local))
        bases.append(begin)
        unit_entities.append(members)
    return dataclasses.replace(
        plan,
        units=tuple(units),
        bases=tuple(bases),
        given=given,
        unit_entities=tuple(unit_entities),
    )


def _check_tokens(tokens: Sequence[Any], index: int) -> tuple[str, ...]:
    for position, token in enumerate(tokens):
        if not isinstance(token, str):
            raise InputError(
                f"input {index}, token {position} is a {type(token).__name__}; a token list "
                "must hold only str",
                code="E502",
            )
        if not token.strip():
            raise InputError(
                f"input {index}, token {position} is {'empty' if not token else 'blank'}; a "
                "token must hold a visible character (data files are held to the same rule, "
                "E107)",
                code="E502",
            )
        try:
            token.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InputError(
                f"input {index}, token {position} holds the lone surrogate "
                f"U+{ord(token[error.start]):04X}, which is not valid Unicode; fix the "
                "encoding of the tokens first",
                code="E507",
            ) from None
    return tuple(tokens)


def merge(plan: Plan, predicted: Sequence[Document]) -> Document:
    """Merge the units' predictions into one document over the whole input.

    Word spans are shifted by each unit's first word, relation heads and tails by the number
    of entities before the unit (or mapped back to the caller's order in relation-only mode),
    and character offsets come from ``plan.token_offsets``. Records are built directly, not
    with ``dataclasses.replace``: a long text can hold hundreds of thousands of them.
    """
    offsets = plan.token_offsets if plan.text is not None else None
    entities: list[Entity] = []
    relations: list[Relation] = []
    for k, (base, doc) in enumerate(zip(plan.bases, predicted, strict=True)):
        if plan.unit_entities is not None:
            members = plan.unit_entities[k]
            relations.extend(
                Relation(r.type, members[r.head], members[r.tail], r.score) for r in doc.relations
            )
            continue
        first = len(entities)
        entities.extend(
            _entity(e.type, e.start + base, e.end + base, e.score, plan.text, offsets)
            for e in doc.entities
        )
        if first == 0:
            relations.extend(doc.relations)
        else:
            relations.extend(
                Relation(r.type, r.head + first, r.tail + first, r.score) for r in doc.relations
            )
    if plan.given is not None:
        # Returned as given; raw text (or a Document with offsets) adds character offsets.
        entities = list(plan.given)
        if offsets is not None:
            entities = [
                _entity(e.type, e.start, e.end, e.score, plan.text, offsets) for e in entities
            ]
        # Units were predicted in span order; list relations by the caller's entity order.
        relations.sort(key=lambda r: (r.head, r.tail))
    return Document(
        tokens=plan.tokens,
        entities=tuple(entities),
        relations=tuple(relations),
        orig_id=plan.orig_id,
        text=plan.text,
        token_offsets=plan.token_offsets,
    )


def _entity(
    type_: str,
    start: int,
    end: int,
    score: float | None,
    text: str | None,
    token_offsets: Sequence[tuple[int, int]] | None,
) -> Entity:
    """An entity over ``[start, end)``, with character offsets when the text is known."""
    if text is None or token_offsets is None:
        return Entity(type_, start, end, score)
    char_start = token_offsets[start][0]
    char_end = token_offsets[end - 1][1]
    return Entity(type_, start, end, score, char_start, char_end, text[char_start:char_end])
