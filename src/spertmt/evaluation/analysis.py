"""Error analysis of predictions against gold: what kind of mistakes, how many, and examples.

Where :mod:`spertmt.evaluation.metrics` gives the scores, this module says why they are not
100. Per document, annotations are compared as SpERT's evaluator does (entities as ``(start,
end, type)``; relations with both entity spans and types, symmetric types in canonical order)
and every mistake gets one kind:

**Entities.** Predicted and gold entities are paired one to one, best match first: the same
span and type (**correct**), the same span with another type (**type**), overlapping spans of
the same type (**boundary**), overlapping spans of different types (**boundary+type**); among
overlaps a higher IoU (shared words / words of either) pairs first. A predicted entity left
unpaired is **spurious**, a gold one **missed**. Boundary errors are split by IoU bucket and
by shape: the prediction is **too wide** (contains the gold span), **too narrow** (inside it)
or **shifted**.

**Relations**, strict. A gold relation that was not predicted has the cause: **entity
missed** (its head or tail entity was not predicted exactly), **wrong type** (a relation of
another type was predicted between the same entities in the same order), **wrong direction**
(the same type from tail to head; never for symmetric types) or **missed pair** (both
entities found, no relation predicted between them). A predicted relation that is not in gold
has the cause **spurious entity** (its head or tail is not a gold entity), **wrong type**,
**wrong direction** or **spurious pair** (both entities are gold entities that gold does not
relate). So the causes of the gold side add up to the false negatives and those of the
predicted side to the false positives of ``relation_strict``.

**Confusion matrices** count gold type against predicted type: for entities over the one-to-one
pairs above (unpaired ones against ``none``); for relations per ordered pair of entity spans.

Example:
    >>> from spertmt.schema import Document, Entity
    >>> words = ("Ann", "met", "Bob", "Smith")
    >>> gold = [Document(words, (Entity("Peop", 0, 1), Entity("Peop", 2, 4)))]
    >>> pred = [Document(words, (Entity("Loc", 0, 1), Entity("Peop", 2, 3)))]
    >>> analysis = analyze_documents(gold, pred)
    >>> analysis.entity_errors
    {'type': 1, 'boundary': 1}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spertmt.data.io import read_documents, read_types
from spertmt.evaluation.metrics import EvalReport, evaluate_documents
from spertmt.schema import Document, EntityType, RelationType, TypeSchema

__all__ = [
    "ENTITY_KINDS",
    "IOU_BUCKETS",
    "PREDICTED_RELATION_CAUSES",
    "GOLD_RELATION_CAUSES",
    "ErrorAnalysis",
    "ErrorExample",
    "analyze_documents",
    "analyze_files",
]

ENTITY_KINDS = ("type", "boundary", "boundary+type", "spurious", "missed")
"""Kinds of entity errors, in report order."""
GOLD_RELATION_CAUSES = ("entity missed", "wrong type", "wrong direction", "missed pair")
"""Why a gold relation was not predicted."""
PREDICTED_RELATION_CAUSES = ("spurious entity", "wrong type", "wrong direction", "spurious pair")
"""Why a predicted relation is not in gold."""
IOU_BUCKETS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))
"""IoU ranges ``[low, high)`` of boundary errors (an IoU of 1 is the same span, no error)."""
NONE = "none"
"""Row and column name for "no entity" / "no relation" in the confusion matrices."""

_Key = tuple[int, int, str]
_RelKey = tuple[_Key, _Key, str]


@dataclass(frozen=True)
class ErrorExample:
    """One mistake, to show: the document, what gold has and what was predicted.

    Attributes:
        kind: The error kind (``boundary``, ``wrong direction``, ...).
        doc_index: Index of the document in the files.
        orig_id: The document's ``orig_id``.
        tokens: The document's words.
        gold: Gold spans involved, as ``(start, end, label)`` (a relation: head, tail).
        pred: Predicted spans involved, as ``(start, end, label)``.
        gold_text: What gold says, in words (``Bob Smith [Peop]``).
        pred_text: What was predicted, in words.
        iou: For entity boundary errors, the IoU of the two spans.
    """

    kind: str
    doc_index: int
    orig_id: Any
    tokens: tuple[str, ...]
    gold: tuple[tuple[int, int, str], ...]
    pred: tuple[tuple[int, int, str], ...]
    gold_text: str
    pred_text: str
    iou: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "kind": self.kind,
            "doc_index": self.doc_index,
            "orig_id": self.orig_id,
            "text": " ".join(self.tokens),
            "gold": self.gold_text,
            "pred": self.pred_text,
            "gold_spans": [list(s) for s in self.gold],
            "pred_spans": [list(s) for s in self.pred],
            "iou": self.iou,
        }


@dataclass
class ErrorAnalysis:
    """The result of :func:`analyze_documents`.

    Attributes:
        documents: Number of documents compared.
        gold_entities: Distinct gold entities.
        pred_entities: Distinct predicted entities.
        gold_relations: Distinct gold relations.
        pred_relations: Distinct predicted relations.
        entity_correct: Predicted entities equal to a gold one.
        entity_errors: Entity errors by kind (:data:`ENTITY_KINDS`; zero kinds left out).
        boundary_iou: Boundary errors (with or without a type error) by IoU bucket label.
        boundary_shape: Boundary errors by shape: ``too wide``, ``too narrow``, ``shifted``.
        relation_correct: Predicted relations equal to a gold one (strict).
        gold_relation_errors: Gold relations not predicted, by cause.
        pred_relation_errors: Predicted relations not in gold, by cause.
        entity_confusion: ``{gold type: {predicted type: count}}``, with ``none``.
        relation_confusion: ``{gold type: {predicted type: count}}``, with ``none``.
        examples: Up to ``max_examples`` examples per kind (relation kinds are prefixed
            ``relation missed:`` or ``relation spurious:``).
        entity_types: Entity type names in order (the types file's, then others).
        relation_types: Relation type names in order.
        scores: The SpERT-compatible scores of the same documents.
    """

    documents: int = 0
    gold_entities: int = 0
    pred_entities: int = 0
    gold_relations: int = 0
    pred_relations: int = 0
    entity_correct: int = 0
    entity_errors: dict[str, int] = field(default_factory=dict)
    boundary_iou: dict[str, int] = field(default_factory=dict)
    boundary_shape: dict[str, int] = field(default_factory=dict)
    relation_correct: int = 0
    gold_relation_errors: dict[str, int] = field(default_factory=dict)
    pred_relation_errors: dict[str, int] = field(default_factory=dict)
    entity_confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    relation_confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, list[ErrorExample]] = field(default_factory=dict)
    entity_types: tuple[str, ...] = ()
    relation_types: tuple[str, ...] = ()
    scores: EvalReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (the ``--json`` output)."""
        return {
            "documents": self.documents,
            "entities": {
                "gold": self.gold_entities,
                "predicted": self.pred_entities,
                "correct": self.entity_correct,
                "errors": self.entity_errors,
                "boundary_iou": self.boundary_iou,
                "boundary_shape": self.boundary_shape,
                "confusion": self.entity_confusion,
            },
            "relations": {
                "gold": self.gold_relations,
                "predicted": self.pred_relations,
                "correct": self.relation_correct,
                "missed_by_cause": self.gold_relation_errors,
                "spurious_by_cause": self.pred_relation_errors,
                "confusion": self.relation_confusion,
            },
            "examples": {k: [e.to_dict() for e in v] for k, v in self.examples.items()},
            "scores": self.scores.to_dict() if self.scores is not None else None,
        }

    def summary_lines(self) -> list[str]:
        """A few lines for the terminal: counts of each kind."""

        def kinds(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

        return [
            f"{self.documents} documents; entities: {self.gold_entities} gold, "
            f"{self.pred_entities} predicted, {self.entity_correct} correct",
            f"entity errors: {kinds(self.entity_errors)}",
            f"relations: {self.gold_relations} gold, {self.pred_relations} predicted, "
            f"{self.relation_correct} correct",
            f"gold relations missed: {kinds(self.gold_relation_errors)}",
            f"predicted relations not in gold: {kinds(self.pred_relation_errors)}",
        ]


def _iou(a: _Key, b: _Key) -> float:
    shared = min(a[1], b[1]) - max(a[0], b[0])
    return max(shared, 0) / (max(a[1], b[1]) - min(a[0], b[0]))


def iou_bucket(iou: float) -> str:
    """The label of the bucket of an IoU below 1, e.g. ``"0.50-0.75"``."""
    for low, high in IOU_BUCKETS:
        if low <= iou < high:
            return f"{low:.2f}-{high:.2f}"
    return f"{IOU_BUCKETS[-1][0]:.2f}-{IOU_BUCKETS[-1][1]:.2f}"


def _shape(gold: _Key, pred: _Key) -> str:
    if pred[0] <= gold[0] and gold[1] <= pred[1]:
        return "too wide"
    if gold[0] <= pred[0] and pred[1] <= gold[1]:
        return "too narrow"
    return "shifted"


def _match_entities(
    gold: set[_Key], pred: set[_Key]
) -> tuple[list[tuple[str, _Key, _Key]], list[_Key], list[_Key]]:
    """Pair gold and predicted entities one to one; return pairs and the unpaired of each."""
    pairs: list[tuple[str, _Key, _Key]] = []
    gold_left, pred_left = set(gold), set(pred)
    for g in sorted(gold & pred):
        pairs.append(("correct", g, g))
    gold_left -= pred
    pred_left -= gold

    def take(kind: str, candidates: list[tuple[float, _Key, _Key]]) -> None:
        for _, g, p in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
            if g in gold_left and p in pred_left:
                pairs.append((kind, g, p))
                gold_left.discard(g)
                pred_left.discard(p)

    take("type", [(1.0, g, p) for g in gold_left for p in pred_left if g[:2] == p[:2]])
    overlapping = [
        (_iou(g, p), g, p) for g in gold_left for p in pred_left if g[0] < p[1] and p[0] < g[1]
    ]
    take("boundary", [c for c in overlapping if c[1][2] == c[2][2]])
    take("boundary+type", [c for c in overlapping if c[1][2] != c[2][2]])
    return pairs, sorted(gold_left), sorted(pred_left)


def _words(tokens: Sequence[str], key: _Key) -> str:
    return f"{' '.join(tokens[key[0] : key[1]])} [{key[2]}]"


def _relation_words(tokens: Sequence[str], relation: _RelKey) -> str:
    head, tail, type_ = relation
    return f"{_words(tokens, head)} —{type_}→ {_words(tokens, tail)}"


class _Collector:
    def __init__(self, max_examples: int) -> None:
        self.max_examples = max_examples
        self.analysis = ErrorAnalysis()
        self.entity_errors: Counter[str] = Counter()
        self.iou: Counter[str] = Counter()
        self.shape: Counter[str] = Counter()
        self.gold_causes: Counter[str] = Counter()
        self.pred_causes: Counter[str] = Counter()
        self.entity_confusion: Counter[tuple[str, str]] = Counter()
        self.relation_confusion: Counter[tuple[str, str]] = Counter()

    def example(self, example: ErrorExample) -> None:
        shown = self.analysis.examples.setdefault(example.kind, [])
        if len(shown) < self.max_examples:
            shown.append(example)


def _canonical(
    relations: Sequence[tuple[_Key, _Key, str]], symmetric: frozenset[str]
) -> set[_RelKey]:
    out = set()
    for head, tail, type_ in relations:
        if type_ in symmetric and tail[0] < head[0]:
            head, tail = tail, head
        out.add((head, tail, type_))
    return out


def _document(
    index: int, gold_doc: Document, pred_doc: Document, symmetric: frozenset[str], c: _Collector
) -> None:
    tokens = tuple(gold_doc.tokens)
    orig_id = gold_doc.orig_id if gold_doc.orig_id is not None else pred_doc.orig_id

    def keys(doc: Document) -> tuple[list[_Key], set[_RelKey]]:
        ents = [(e.start, e.end, e.type) for e in doc.entities]
        rels = _canonical([(ents[r.head], ents[r.tail], r.type) for r in doc.relations], symmetric)
        return ents, rels

    gold_list, gold_rels = keys(gold_doc)
    pred_list, pred_rels = keys(pred_doc)
    gold_ents, pred_ents = set(gold_list), set(pred_list)
    a = c.analysis
    a.gold_entities += len(gold_ents)
    a.pred_entities += len(pred_ents)
    a.gold_relations += len(gold_rels)
    a.pred_relations += len(pred_rels)

    pairs, missed, spurious = _match_entities(gold_ents, pred_ents)
    for kind, g, p in pairs:
        c.entity_confusion[(g[2], p[2])] += 1
        if kind == "correct":
            a.entity_correct += 1
            continue
        c.entity_errors[kind] += 1
        iou = None
        if kind.startswith("boundary"):
            iou = _iou(g, p)
            c.iou[iou_bucket(iou)] += 1
            c.shape[_shape(g, p)] += 1
        c.example(
            ErrorExample(
                kind, index, orig_id, tokens, (g,), (p,), _words(tokens, g), _words(tokens, p), iou
            )
        )
    for g in missed:
        c.entity_errors["missed"] += 1
        c.entity_confusion[(g[2], NONE)] += 1
        c.example(ErrorExample("missed", index, orig_id, tokens, (g,), (), _words(tokens, g), "—"))
    for p in spurious:
        c.entity_errors["spurious"] += 1
        c.entity_confusion[(NONE, p[2])] += 1
        c.example(
            ErrorExample("spurious", index, orig_id, tokens, (), (p,), "—", _words(tokens, p))
        )

    correct = gold_rels & pred_rels
    a.relation_correct += len(correct)
    pred_by_pair: dict[tuple[_Key, _Key], set[str]] = {}
    for h, t, r in pred_rels:
        pred_by_pair.setdefault((h, t), set()).add(r)
    gold_by_pair: dict[tuple[_Key, _Key], set[str]] = {}
    for h, t, r in gold_rels:
        gold_by_pair.setdefault((h, t), set()).add(r)

    def relation_example(kind: str, gold: _RelKey | None, pred: _RelKey | None) -> None:
        c.example(
            ErrorExample(
                kind,
                index,
                orig_id,
                tokens,
                (gold[0], gold[1]) if gold else (),
                (pred[0], pred[1]) if pred else (),
                _relation_words(tokens, gold) if gold else "—",
                _relation_words(tokens, pred) if pred else "—",
            )
        )

    for gold_rel in sorted(gold_rels - correct):
        h, t, r = gold_rel
        other = None
        if h not in pred_ents or t not in pred_ents:
            cause = "entity missed"
        elif pred_by_pair.get((h, t), set()) - {r}:
            cause = "wrong type"
            other = (h, t, sorted(pred_by_pair[(h, t)] - {r})[0])
        elif r not in symmetric and (t, h, r) in pred_rels:
            cause, other = "wrong direction", (t, h, r)
        else:
            cause = "missed pair"
        c.gold_causes[cause] += 1
        relation_example(f"relation missed: {cause}", gold_rel, other)
    for pred_rel in sorted(pred_rels - correct):
        h, t, r = pred_rel
        other = None
        if h not in gold_ents or t not in gold_ents:
            cause = "spurious entity"
        elif gold_by_pair.get((h, t), set()) - {r}:
            cause = "wrong type"
            other = (h, t, sorted(gold_by_pair[(h, t)] - {r})[0])
        elif r not in symmetric and (t, h, r) in gold_rels:
            cause, other = "wrong direction", (t, h, r)
        else:
            cause = "spurious pair"
        c.pred_causes[cause] += 1
        relation_example(f"relation spurious: {cause}", other, pred_rel)

    for pair in sorted(set(gold_by_pair) | set(pred_by_pair)):
        gold_types = gold_by_pair.get(pair, set())
        pred_types = pred_by_pair.get(pair, set())
        for r in gold_types & pred_types:
            c.relation_confusion[(r, r)] += 1
        gold_only, pred_only = sorted(gold_types - pred_types), sorted(pred_types - gold_types)
        for k in range(max(len(gold_only), len(pred_only))):
            c.relation_confusion[
                (
                    gold_only[k] if k < len(gold_only) else NONE,
                    pred_only[k] if k < len(pred_only) else NONE,
                )
            ] += 1


def _ordered(counts: Counter[str], order: Sequence[str]) -> dict[str, int]:
    out = {k: counts[k] for k in order if counts[k]}
    out.update({k: v for k, v in sorted(counts.items()) if k not in out and v})
    return out


def _matrix(counts: Counter[tuple[str, str]], names: Sequence[str]) -> dict[str, dict[str, int]]:
    labels = [*names, NONE]
    return {g: {p: counts[(g, p)] for p in labels} for g in labels}


def analyze_documents(
    gold: Sequence[Document],
    pred: Sequence[Document],
    types: TypeSchema | None = None,
    *,
    max_examples: int = 5,
    gold_file: str | Path | None = None,
    pred_file: str | Path | None = None,
) -> ErrorAnalysis:
    """Classify every error of ``pred`` against ``gold`` (see the module docstring).

    Args:
        gold: Gold documents.
        pred: Predictions for the same documents, in the same order.
        types: The types (symmetric relations, the order of types); ``None`` derives them
            from the documents, with no symmetric relation type.
        max_examples: Examples kept per error kind.
        gold_file: Named in error messages.
        pred_file: Named in error messages.

    Returns:
        The counts, confusion matrices, examples and the SpERT-compatible scores.

    Raises:
        DataError: ``E150``-``E155`` as :func:`~spertmt.evaluation.metrics.evaluate_documents`
            (different documents, undeclared types, bad indices).
    """
    if types is None:
        types = TypeSchema(
            tuple(
                EntityType(n, n, n)
                for n in sorted({e.type for d in (*gold, *pred) for e in d.entities})
            ),
            tuple(
                RelationType(n, n, n)
                for n in sorted({r.type for d in (*gold, *pred) for r in d.relations})
            ),
        )
    scores = evaluate_documents(gold, pred, types, gold_file=gold_file, pred_file=pred_file)
    c = _Collector(max_examples)
    symmetric = types.symmetric_relations
    for index, (g, p) in enumerate(zip(gold, pred, strict=True)):
        _document(index, g, p, symmetric, c)
    a = c.analysis
    a.documents = len(gold)
    a.scores = scores
    a.entity_types = types.entity_names
    a.relation_types = types.relation_names
    a.entity_errors = _ordered(c.entity_errors, ENTITY_KINDS)
    a.boundary_iou = {iou_bucket(low): c.iou[iou_bucket(low)] for low, _ in IOU_BUCKETS}
    a.boundary_shape = {k: c.shape[k] for k in ("too wide", "too narrow", "shifted")}
    a.gold_relation_errors = _ordered(c.gold_causes, GOLD_RELATION_CAUSES)
    a.pred_relation_errors = _ordered(c.pred_causes, PREDICTED_RELATION_CAUSES)
    a.entity_confusion = _matrix(c.entity_confusion, types.entity_names)
    a.relation_confusion = _matrix(c.relation_confusion, types.relation_names)
    kind_order = [
        *ENTITY_KINDS,
        *(f"relation missed: {k}" for k in GOLD_RELATION_CAUSES),
        *(f"relation spurious: {k}" for k in PREDICTED_RELATION_CAUSES),
    ]
    a.examples = {k: a.examples[k] for k in kind_order if k in a.examples}
    return a


def analyze_files(
    gold_path: str | Path,
    pred_path: str | Path,
    types_path: str | Path | None = None,
    *,
    max_examples: int = 5,
) -> ErrorAnalysis:
    """Read gold and predicted files (validated against ``types_path`` when given) and analyse.

    Raises:
        DataError: For an unreadable or invalid file (:mod:`spertmt.data.io`), and the errors
            of :func:`analyze_documents`, naming the files.

    Example:
        >>> analysis = analyze_files("gold.json", "pred.json", "types.json")  # doctest: +SKIP
        >>> analysis.entity_errors                                            # doctest: +SKIP
        {'type': 12, 'boundary': 30, 'spurious': 8, 'missed': 21}
    """
    types = read_types(types_path) if types_path is not None else None
    gold = read_documents(gold_path, types=types)
    pred = read_documents(pred_path, types=types)
    return analyze_documents(
        gold, pred, types, max_examples=max_examples, gold_file=gold_path, pred_file=pred_path
    )
