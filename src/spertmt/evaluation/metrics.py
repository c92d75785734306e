"""SpERT-compatible evaluation: entities, relations (boundaries and strict), micro and macro.

The scores equal those of SpERT's evaluator (``spert/evaluator.py`` with
``spert/prediction.py``), so numbers can be compared with published SpERT results. Every
annotation becomes a hashable tuple:

- **entity**: ``(start, end, entity_type)``; correct when span and type match.
- **relation_boundaries** (SpERT's "without NEC"): ``((head_start, head_end), (tail_start,
  tail_end), relation_type)``; correct when the relation type and both spans match, whatever
  the entity types.
- **relation_strict** (SpERT's "with NEC"): ``((head_start, head_end, head_type), (tail_start,
  tail_end, tail_type), relation_type)``; correct when, in addition, both entity types match.

Scoring rules (all of them SpERT's):

1. Relations of a type declared ``symmetric`` are put in canonical order, in gold and
   predictions alike: head and tail are swapped when the tail *starts strictly before* the
   head. Equal starts keep the order given, so two nested entities that start together are
   not canonicalised.
2. Per document, gold and predicted tuples are sets (duplicates collapse). Each tuple of their
   union contributes one (gold label, predicted label) pair, the label being the tuple's type
   where the tuple is present and "none" where it is not.
3. The labels scored are the types that occur in gold or predictions (after filtering), not
   every declared type. Per type: precision = tp / predicted, recall = tp / gold,
   F1 = 2·tp / (gold + predicted), each 0 where its denominator is 0 (sklearn's
   ``precision_recall_fscore_support(labels=types, zero_division=0)``). **Micro** pools the
   counts of those types; **macro** is the unweighted mean of their per-type precision, recall
   and F1 (so macro F1 is not the harmonic mean of macro precision and recall). Support is the
   number of distinct gold tuples of the type. All values are percentages.
4. ``no_overlap`` (SpERT's ``--no_overlapping``, ADE's "without overlap" setting) filters gold
   and predictions *before* scoring:

   - an entity is removed when another entity of the same document, with a different
     ``(start, end, type)``, shares at least one word with it (so both members of an
     overlapping pair go, including two entities on the same span with different types);
   - a relation is removed only when its **head and tail overlap each other** (shared words
     and different ``(start, end, type)``). A relation whose head or tail overlaps some *third*
     entity is kept, even though that entity was removed from the entity list: the filter is
     not "relations that use an overlapping entity are removed".

The one departure from SpERT's code: spans are word indices here, where SpERT compares
sub-word positions. The two agree whenever every word has at least one sub-word piece, which
holds for the benchmark data. Prediction ``score`` fields are ignored.

Example:
    >>> from spertmt.schema import Document, Entity, EntityType, RelationType, TypeSchema
    >>> types = TypeSchema((EntityType("Peop", "P", "People"),), ())
    >>> gold = [Document(("Ann", "met", "Bob"), (Entity("Peop", 0, 1), Entity("Peop", 2, 3)))]
    >>> pred = [Document(("Ann", "met", "Bob"), (Entity("Peop", 0, 1),))]
    >>> report = evaluate_documents(gold, pred, types)
    >>> m = report.entity.micro
    >>> (m.precision, m.recall, round(m.f1, 2))
    (100.0, 50.0, 66.67)

"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table

from spertmt.data.io import read_documents, read_types
from spertmt.errors import DataError
from spertmt.schema import Document, TypeSchema

__all__ = [
    "PRF",
    "EvalReport",
    "SettingScores",
    "TypeScores",
    "document_counts",
    "evaluate_documents",
    "evaluate_files",
]

# Tuples as scored (see the module docstring). Boundaries tuples drop the entity types; the
# counting only needs hashable tuples whose type is at index 2.
_EntityKey = tuple[int, int, str]
_RelationKey = tuple[_EntityKey, _EntityKey, str]

_SETTINGS = ("entity", "relation_boundaries", "relation_strict")

_TITLES = {
    "entity": "Entities: span and type",
    "relation_boundaries": "Relations, boundaries: type and spans (SpERT without NEC)",
    "relation_strict": "Relations, strict: type, spans, entity types (SpERT with NEC)",
}


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1, in percent.

    Attributes:
        precision: Precision in ``[0, 100]``.
        recall: Recall in ``[0, 100]``.
        f1: F1 in ``[0, 100]``.

    """

    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict[str, float]:
        """Return ``{"precision", "recall", "f1"}``."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class TypeScores:
    """Scores of one type, in percent, with its support.

    Attributes:
        precision: Precision in ``[0, 100]``.
        recall: Recall in ``[0, 100]``.
        f1: F1 in ``[0, 100]``.
        support: Number of distinct gold tuples of this type.

    """

    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        """Return ``{"precision", "recall", "f1", "support"}``."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
        }


@dataclass(frozen=True)
class SettingScores:
    """Scores of one evaluation setting.

    Attributes:
        micro: Micro average over the scored types.
        macro: Unweighted mean over the scored types.
        per_type: Scores by type name, for the types that occur in gold or predictions, in the
            types file's order.

    """

    micro: PRF
    macro: PRF
    per_type: dict[str, TypeScores]

    @property
    def support(self) -> int:
        """Total number of distinct gold tuples."""
        return sum(s.support for s in self.per_type.values())

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"micro": {...}, "macro": {...}, "per_type": {T: {...}}}``."""
        return {
            "micro": self.micro.to_dict(),
            "macro": self.macro.to_dict(),
            "per_type": {name: s.to_dict() for name, s in self.per_type.items()},
        }


@dataclass(frozen=True)
class EvalReport:
    """The result of :func:`evaluate_documents`: three settings and the options used.

    Attributes:
        entity: Entities (span and type).
        relation_boundaries: Relations, relation type and both spans.
        relation_strict: Relations, relation type, both spans and both entity types.
        no_overlap: Whether overlapping entities and self-overlapping relations were removed
            from gold and predictions before scoring.

    """

    entity: SettingScores
    relation_boundaries: SettingScores
    relation_strict: SettingScores
    no_overlap: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict.

        Returns:
            ``{"entity": ..., "relation_boundaries": ..., "relation_strict": ...,
            "settings": {"no_overlap": bool}}``, each setting as
            :meth:`SettingScores.to_dict`.

        """
        out: dict[str, Any] = {name: getattr(self, name).to_dict() for name in _SETTINGS}
        out["settings"] = {"no_overlap": self.no_overlap}
        return out

    def table(self) -> Group:
        """Render the report as Rich tables, one per setting.

        Each table has one row per type, then micro and macro rows; precision, recall and F1
        are percentages with two decimals, as SpERT prints them.

        Returns:
            A group of three tables (entity, relation boundaries, relation strict, in that
            order; each also in ``.renderables``), ready for ``rich.console.Console.print``.

        Example:
            >>> from rich.console import Console
            >>> Console().print(report.table())  # doctest: +SKIP

        """
        suffix = ", without overlap" if self.no_overlap else ""
        tables = []
        for name in _SETTINGS:
            scores: SettingScores = getattr(self, name)
            title = _TITLES[name] + suffix
            # A title wider than the table would wrap; widen the table instead.
            table = Table(title=title, title_justify="left", min_width=len(title))
            table.add_column("type")
            for column in ("precision", "recall", "f1", "support"):
                table.add_column(column, justify="right")
            for type_name, s in scores.per_type.items():
                table.add_row(
                    type_name, *(f"{v:.2f}" for v in (s.precision, s.recall, s.f1)), str(s.support)
                )
            table.add_section()
            for label, avg in (("micro", scores.micro), ("macro", scores.macro)):
                table.add_row(
                    label,
                    *(f"{v:.2f}" for v in (avg.precision, avg.recall, avg.f1)),
                    str(scores.support),
                )
            tables.append(table)
        return Group(*tables)


def evaluate_documents(
    gold: Sequence[Document],
    pred: Sequence[Document],
    types: TypeSchema,
    *,
    no_overlap: bool = False,
    gold_file: str | Path | None = None,
    pred_file: str | Path | None = None,
) -> EvalReport:
    """Score predictions against gold documents exactly as SpERT's evaluator does.

    See the module docstring (and ``docs/evaluation.md``) for the settings and the scoring
    rules: symmetric canonical order, per-document union of tuple sets, micro/macro over the
    types that occur, and the ``no_overlap`` filter.

    Args:
        gold: Gold documents.
        pred: Predicted documents: the same documents (same tokens) in the same order. Their
            ``score`` fields are ignored.
        types: The type schema; gives symmetric relation types and the order of the per-type
            scores. Every entity and relation type used must be declared in it.
        no_overlap: Remove overlapping entities, and relations whose head and tail overlap each
            other, from gold and predictions before scoring (SpERT's ``--no_overlapping``).
        gold_file: Where ``gold`` was read from; only used to name it in error messages.
        pred_file: Where ``pred`` was read from; only used to name it in error messages.

    Returns:
        The scores of the three settings.

    Raises:
        DataError: ``E150`` when the numbers of documents differ, ``E151`` when a document's
            tokens differ, ``E152`` when both sides give different ``orig_id``s, ``E153`` for
            an undeclared type, ``E154`` for a relation whose head or tail is not an entity
            index, ``E155`` for an entity span outside the tokens.

    Example:
        >>> from spertmt.schema import (Document, Entity, EntityType, Relation, RelationType,
        ...                             TypeSchema)
        >>> types = TypeSchema((EntityType("Peop", "P", "People"),),
        ...                    (RelationType("Meet", "M", "Meets", symmetric=True),))
        >>> ents = (Entity("Peop", 0, 1), Entity("Peop", 2, 3))
        >>> gold = [Document(("Ann", "met", "Bob"), ents, (Relation("Meet", 0, 1),))]
        >>> pred = [Document(("Ann", "met", "Bob"), ents, (Relation("Meet", 1, 0, score=0.9),))]
        >>> evaluate_documents(gold, pred, types).relation_strict.micro.f1
        100.0

    """
    counts = {name: _Counts() for name in _SETTINGS}
    for document in _scored_sets(gold, pred, types, no_overlap, gold_file, pred_file):
        for name in _SETTINGS:
            counts[name].add(*document[name])

    order = {
        "entity": types.entity_names,
        "relation_boundaries": types.relation_names,
        "relation_strict": types.relation_names,
    }
    return EvalReport(
        **{name: counts[name].scores(order[name]) for name in _SETTINGS},
        no_overlap=no_overlap,
    )


def evaluate_files(
    gold_path: str | Path,
    pred_path: str | Path,
    types_path: str | Path,
    *,
    no_overlap: bool = False,
) -> EvalReport:
    """Read gold and predicted documents, validated against a types file, and score them.

    Args:
        gold_path: Gold documents (SpERT JSON list, or ``.jsonl``).
        pred_path: Predictions for the same documents in the same order (same format).
        types_path: The types file both must conform to.
        no_overlap: As in :func:`evaluate_documents`.

    Returns:
        The evaluation report.

    Raises:
        DataError: For an unreadable or invalid file (from :mod:`spertmt.data.io`), and the
            errors of :func:`evaluate_documents`, naming the files.

    Example:
        >>> report = evaluate_files("gold.json", "pred.json", "types.json")  # doctest: +SKIP

    """
    types = read_types(types_path)
    gold = read_documents(gold_path, types=types)
    pred = read_documents(pred_path, types=types)
    return evaluate_documents(
        gold, pred, types, no_overlap=no_overlap, gold_file=gold_path, pred_file=pred_path
    )


def document_counts(
    gold: Sequence[Document],
    pred: Sequence[Document],
    types: TypeSchema,
    *,
    no_overlap: bool = False,
) -> dict[str, list[tuple[int, int, int]]]:
    """Per document and setting, ``(correct, gold, predicted)``: the micro scores' parts.

    Summed over documents they give the micro F1 of :func:`evaluate_documents` (``2·correct /
    (gold + predicted)``), so a bootstrap over documents can resample them
    (:func:`spertmt.evaluation.bootstrap.paired_bootstrap`) without predicting again.

    Args:
        gold: Gold documents.
        pred: Predictions for the same documents, in the same order.
        types: The type schema.
        no_overlap: As in :func:`evaluate_documents`.

    Returns:
        ``{"entity": [...], "relation_boundaries": [...], "relation_strict": [...]}``, one
        triple per document in document order.

    Raises:
        DataError: As :func:`evaluate_documents`.

    Example:
        >>> from spertmt.schema import Document, Entity, EntityType, TypeSchema
        >>> types = TypeSchema((EntityType("Peop", "P", "People"),), ())
        >>> gold = [Document(("Ann", "met", "Bob"), (Entity("Peop", 0, 1), Entity("Peop", 2, 3)))]
        >>> pred = [Document(("Ann", "met", "Bob"), (Entity("Peop", 0, 1),))]
        >>> document_counts(gold, pred, types)["entity"]
        [(1, 2, 1)]

    """
    counts: dict[str, list[tuple[int, int, int]]] = {name: [] for name in _SETTINGS}
    for document in _scored_sets(gold, pred, types, no_overlap, None, None):
        for name in _SETTINGS:
            gold_set, pred_set = document[name]
            counts[name].append((len(gold_set & pred_set), len(gold_set), len(pred_set)))
    return counts


def _scored_sets(
    gold: Sequence[Document],
    pred: Sequence[Document],
    types: TypeSchema,
    no_overlap: bool,
    gold_file: str | Path | None,
    pred_file: str | Path | None,
) -> Iterable[dict[str, tuple[set[Any], set[Any]]]]:
    """Per document, checked: ``{setting: (gold tuples, predicted tuples)}`` as scored."""
    _check_same_documents(gold, pred, gold_file=gold_file, pred_file=pred_file)
    symmetric = types.symmetric_relations
    for index, (gold_doc, pred_doc) in enumerate(zip(gold, pred, strict=True)):
        sides = []
        for doc, file, side in ((gold_doc, gold_file, "gold"), (pred_doc, pred_file, "prediction")):
            _check_document(doc, types, index=index, file=file, side=side)
            entities, relations = _document_tuples(doc, symmetric)
            if no_overlap:
                entities, relations = _remove_overlapping(entities, relations)
            sides.append((entities, relations))
        (gold_entities, gold_relations), (pred_entities, pred_relations) = sides
        yield {
            "entity": (gold_entities, pred_entities),
            "relation_boundaries": (_boundaries(gold_relations), _boundaries(pred_relations)),
            "relation_strict": (gold_relations, pred_relations),
        }


class _Counts:
    """Distinct gold, predicted and correct tuples per type, summed over documents."""

    def __init__(self) -> None:
        self.gold: Counter[str] = Counter()
        self.pred: Counter[str] = Counter()
        self.correct: Counter[str] = Counter()

    def add(self, gold: set[tuple[Any, ...]], pred: set[tuple[Any, ...]]) -> None:
        # Counting set members is SpERT's union flattening in closed form: a tuple in both sets
        # gives the pair (type, type), one only in gold (type, none), one only in pred (none, type).
        self.gold.update(t[2] for t in gold)
        self.pred.update(t[2] for t in pred)
        self.correct.update(t[2] for t in gold & pred)

    def scores(self, declared: Sequence[str]) -> SettingScores:
        # Only types that occur take part (SpERT passes sklearn the labels it saw), in the
        # types file's order; undeclared names cannot occur (checked per document).
        occurring = [t for t in declared if self.gold[t] or self.pred[t]]
        ratios = {t: _ratios(self.correct[t], self.gold[t], self.pred[t]) for t in occurring}
        per_type = {t: _type_scores(ratios[t], self.gold[t]) for t in occurring}
        micro = _ratios(
            sum(self.correct[t] for t in occurring),
            sum(self.gold[t] for t in occurring),
            sum(self.pred[t] for t in occurring),
        )
        # Macro averages the fractions, then scales, as SpERT does with sklearn's output; fsum
        # makes the mean independent of the order of types (SpERT's order is a set's order).
        n = max(len(occurring), 1)
        macro = tuple(math.fsum(r[k] for r in ratios.values()) / n for k in range(3))
        micro_prf = PRF(*(100 * v for v in micro))
        macro_prf = PRF(*(100 * v for v in macro))
        return SettingScores(micro=micro_prf, macro=macro_prf, per_type=per_type)


def _type_scores(ratios: tuple[float, float, float], support: int) -> TypeScores:
    """Return one type's fractions as percentages, with its support."""
    precision, recall, f1 = ratios
    return TypeScores(100 * precision, 100 * recall, 100 * f1, support=support)


def _ratios(correct: int, gold: int, pred: int) -> tuple[float, float, float]:
    """Return precision, recall and F1 as fractions of counts; 0 where a denominator is 0."""
    precision = correct / pred if pred else 0.0
    recall = correct / gold if gold else 0.0
    # 2·tp / (gold + pred) equals 2PR / (P + R), is what current sklearn computes, and needs no
    # special case for P = R = 0.
    f1 = 2 * correct / (gold + pred) if gold + pred else 0.0
    return precision, recall, f1


def _document_tuples(
    doc: Document, symmetric: frozenset[str]
) -> tuple[set[_EntityKey], set[_RelationKey]]:
    """Return the document's entity and (canonically ordered) strict relation tuples as sets."""
    keys = [(e.start, e.end, e.type) for e in doc.entities]
    relations = set()
    for relation in doc.relations:
        head, tail = keys[relation.head], keys[relation.tail]
        # SpERT swaps only when the tail starts strictly first; equal starts keep the given order.
        if relation.type in symmetric and tail[0] < head[0]:
            head, tail = tail, head
        relations.add((head, tail, relation.type))
    return set(keys), relations


def _boundaries(relations: Iterable[_RelationKey]) -> set[tuple[Any, ...]]:
    """Drop the entity types (SpERT replaces them by one pseudo type)."""
    return {((h[0], h[1]), (t[0], t[1]), r) for h, t, r in relations}


def _overlap(a: _EntityKey, b: _EntityKey) -> bool:
    """SpERT's overlap test: shared words, and not the very same ``(start, end, type)``."""
    return a != b and a[0] < b[1] and b[0] < a[1]


def _remove_overlapping(
    entities: set[_EntityKey], relations: set[_RelationKey]
) -> tuple[set[_EntityKey], set[_RelationKey]]:
    """Apply SpERT's ``remove_overlapping`` to one document's tuples.

    Entities that overlap another entity go; relations go only when their head and tail
    overlap each other (see the module docstring).
    """
    # Sorted by start, an entity overlaps an earlier one iff the largest end so far passes its
    # start, and a later one iff the next start comes before its end: O(n log n), not O(n²),
    # so a model that predicts hundreds of spans per sentence stays cheap to score.
    ordered = sorted(entities)
    overlapping = [False] * len(ordered)
    max_end = -1
    for i, (start, end, _) in enumerate(ordered):
        if max_end > start:
            overlapping[i] = True
        if i + 1 < len(ordered) and ordered[i + 1][0] < end:
            overlapping[i] = True
        max_end = max(max_end, end)
    kept_entities = {e for e, drop in zip(ordered, overlapping, strict=True) if not drop}
    kept_relations = {r for r in relations if not _overlap(r[0], r[1])}
    return kept_entities, kept_relations


def _check_same_documents(
    gold: Sequence[Document],
    pred: Sequence[Document],
    *,
    gold_file: str | Path | None,
    pred_file: str | Path | None,
) -> None:
    """Raise unless ``pred`` holds the documents of ``gold``, in the same order."""
    gold_name = str(gold_file) if gold_file is not None else "the gold data"
    pred_name = str(pred_file) if pred_file is not None else "the predictions"
    fix = (
        "predictions must hold the gold documents in the same order; "
        "run prediction on the gold file itself"
    )
    if len(gold) != len(pred):
        raise DataError(
            f"{pred_name} has {len(pred)} documents but {gold_name} has {len(gold)}; {fix}",
            code="E150",
            file=pred_file,
        )
    for index, (g, p) in enumerate(zip(gold, pred, strict=True)):
        orig_id = g.orig_id if g.orig_id is not None else p.orig_id
        if g.orig_id is not None and p.orig_id is not None and g.orig_id != p.orig_id:
            raise DataError(
                f"orig_id is {p.orig_id!r} in {pred_name} but {g.orig_id!r} in {gold_name}; {fix}",
                code="E152",
                file=pred_file,
                doc_index=index,
                field="orig_id",
            )
        if tuple(g.tokens) == tuple(p.tokens):
            continue
        if len(g.tokens) != len(p.tokens):
            what = f"{len(p.tokens)} tokens in {pred_name} but {len(g.tokens)} in {gold_name}"
            field = "tokens"
        else:
            k = next(k for k, (a, b) in enumerate(zip(g.tokens, p.tokens, strict=True)) if a != b)
            what = f"token {k} is {p.tokens[k]!r} in {pred_name} but {g.tokens[k]!r} in {gold_name}"
            field = f"tokens[{k}]"
        raise DataError(
            f"{what}; {fix}",
            code="E151",
            file=pred_file,
            doc_index=index,
            orig_id=orig_id,
            field=field,
        )


def _check_document(
    doc: Document,
    types: TypeSchema,
    *,
    index: int,
    file: str | Path | None,
    side: str,
) -> None:
    """Raise a :class:`DataError` for annotations the scorer cannot interpret."""
    entity_names, relation_names = set(types.entity_names), set(types.relation_names)

    def fail(message: str, code: str, field: str) -> DataError:
        return DataError(
            f"{side}: {message}",
            code=code,
            file=file,
            doc_index=index,
            orig_id=doc.orig_id,
            field=field,
        )

    for k, entity in enumerate(doc.entities):
        if entity.type not in entity_names:
            raise fail(
                f"entity type {entity.type!r} is not declared in the types file "
                f"(declared: {', '.join(types.entity_names)}); use a declared type or the "
                "types file the model was trained with",
                "E153",
                f"entities[{k}].type",
            )
        if not 0 <= entity.start < entity.end <= len(doc.tokens):
            raise fail(
                f"span [{entity.start}, {entity.end}) is not a non-empty span of the "
                f"{len(doc.tokens)} tokens (end is exclusive)",
                "E155",
                f"entities[{k}]",
            )
    for k, relation in enumerate(doc.relations):
        if relation.type not in relation_names:
            raise fail(
                f"relation type {relation.type!r} is not declared in the types file "
                f"(declared: {', '.join(types.relation_names)}); use a declared type or the "
                "types file the model was trained with",
                "E153",
                f"relations[{k}].type",
            )
        for end_name in ("head", "tail"):
            value = getattr(relation, end_name)
            if not 0 <= value < len(doc.entities):
                raise fail(
                    f"{end_name} {value} does not index one of the document's "
                    f"{len(doc.entities)} entities",
                    "E154",
                    f"relations[{k}].{end_name}",
                )
