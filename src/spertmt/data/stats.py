"""Corpus statistics per split: counts per type, span widths, lengths, nesting, overlap.

Definitions used throughout:

- *span width*: number of words of an entity (``end - start``).
- *nested pair*: two entities of one document where one span strictly contains the other
  (``a.start <= b.start``, ``b.end <= a.end``, and the spans differ).
- *crossing pair*: two entities whose spans partially overlap, neither containing the other
  (``a.start < b.start < a.end < b.end``).
- *same-span pair*: two entities with the same span and different types.
- *sub-word pieces*: each word is tokenized on its own (as SpERT does) and a word that yields
  no piece counts as one (SpERT maps it to the unknown token); the document's length adds the
  encoder's special tokens (``[CLS]``/``[SEP]`` for BERT).
- percentiles use the nearest-rank method: ``p90`` is the smallest value that at least 90%
  of the documents do not exceed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spertmt.data.datasets import resolve_dataset
from spertmt.data.io import ReadReport, SkippedDocument, read_documents, read_types
from spertmt.schema import Document, TypeSchema

if TYPE_CHECKING:
    from rich.console import Group
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "DatasetStats",
    "LengthSummary",
    "SplitStats",
    "compute_split_stats",
    "dataset_stats",
]

MAX_PIECES = 512
"""Input limit of BERT-style encoders, in sub-word pieces including special tokens."""


@dataclass(frozen=True)
class LengthSummary:
    """Distribution of a per-document length.

    Attributes:
        min: Shortest.
        mean: Average.
        max: Longest.
        p50: Median (nearest rank).
        p90: 90th percentile (nearest rank).
        p99: 99th percentile (nearest rank).

    """

    min: int
    mean: float
    max: int
    p50: int
    p90: int
    p99: int

    @classmethod
    def of(cls, values: Sequence[int]) -> LengthSummary:
        """Summarise ``values`` (all zeros when empty).

        Example:
            >>> LengthSummary.of([3, 1, 2, 10])
            LengthSummary(min=1, mean=4.0, max=10, p50=2, p90=10, p99=10)

        """
        if not values:
            return cls(0, 0.0, 0, 0, 0, 0)
        ordered = sorted(values)

        def rank(p: int) -> int:
            return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

        mean = round(sum(ordered) / len(ordered), 2)
        return cls(ordered[0], mean, ordered[-1], rank(50), rank(90), rank(99))

    def to_dict(self) -> dict[str, float | int]:
        """Return a JSON-ready dictionary."""
        return {
            "min": self.min,
            "mean": self.mean,
            "max": self.max,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
        }


@dataclass(frozen=True)
class SplitStats:
    """Statistics of one split (one file).

    Attributes:
        split: Split name (``train``, ``test``, ``full``, or the file name).
        path: The file.
        documents: Number of documents.
        entities: Number of entities (duplicates removed).
        relations: Number of relations (duplicates removed).
        entities_per_type: Entity count per type; declared types first, in file order, with
            zeros kept.
        relations_per_type: Relation count per type, likewise.
        span_widths: Entity count per span width in words, by increasing width.
        words: Document length in words.
        pieces: Document length in sub-word pieces with special tokens; ``None`` without a
            tokenizer.
        over_max_pieces: Documents longer than ``max_pieces`` pieces; ``None`` without a
            tokenizer.
        max_pieces: The piece limit that ``over_max_pieces`` counts against.
        nested_pairs: Entity pairs where one span strictly contains the other.
        crossing_pairs: Entity pairs whose spans partially overlap.
        same_span_pairs: Entity pairs with equal spans (and different types).
        documents_with_overlap: Documents with at least one nested, crossing or same-span
            pair.
        symmetric_relations: Relations whose type is symmetric; ``None`` without types.
        skipped: Documents skipped as invalid (reading with ``skip_invalid``).
        duplicate_entities: Entities removed as duplicates while reading.
        duplicate_relations: Relations removed as duplicates while reading.

    """

    split: str
    path: str | None
    documents: int
    entities: int
    relations: int
    entities_per_type: dict[str, int]
    relations_per_type: dict[str, int]
    span_widths: dict[int, int]
    words: LengthSummary
    pieces: LengthSummary | None
    over_max_pieces: int | None
    max_pieces: int
    nested_pairs: int
    crossing_pairs: int
    same_span_pairs: int
    documents_with_overlap: int
    symmetric_relations: int | None
    skipped: tuple[SkippedDocument, ...] = ()
    duplicate_entities: int = 0
    duplicate_relations: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (span widths keyed by width)."""
        return {
            "split": self.split,
            "path": self.path,
            "documents": self.documents,
            "entities": self.entities,
            "relations": self.relations,
            "entities_per_type": dict(self.entities_per_type),
            "relations_per_type": dict(self.relations_per_type),
            "span_widths": dict(self.span_widths),
            "words": self.words.to_dict(),
            "pieces": None if self.pieces is None else self.pieces.to_dict(),
            "over_max_pieces": self.over_max_pieces,
            "max_pieces": self.max_pieces,
            "nested_pairs": self.nested_pairs,
            "crossing_pairs": self.crossing_pairs,
            "same_span_pairs": self.same_span_pairs,
            "documents_with_overlap": self.documents_with_overlap,
            "symmetric_relations": self.symmetric_relations,
            "skipped": [
                {"index": s.index, "orig_id": s.orig_id, "code": s.code, "message": s.message}
                for s in self.skipped
            ],
            "duplicate_entities": self.duplicate_entities,
            "duplicate_relations": self.duplicate_relations,
        }


@dataclass(frozen=True)
class DatasetStats:
    """Statistics of every split of a dataset spec.

    Attributes:
        name: The dataset spec or file.
        types: The types file used, if any.
        tokenizer: The tokenizer used for piece counts, if any.
        splits: One entry per split, in the dataset's order.

    """

    name: str
    types: str | None
    tokenizer: str | None
    splits: tuple[SplitStats, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "name": self.name,
            "types": self.types,
            "tokenizer": self.tokenizer,
            "splits": {s.split: s.to_dict() for s in self.splits},
        }

    def table(self) -> Group:
        """Render as Rich tables: overview, entity types, relation types, span widths.

        Returns:
            A group of tables with one column per split, ready for ``Console.print``.

        Example:
            >>> from rich.console import Console
            >>> Console().print(dataset_stats("conll04").table())  # doctest: +SKIP

        """
        from rich.console import Group
        from rich.table import Table

        names = [s.split for s in self.splits]

        def new_table(title: str, first: str) -> Table:
            table = Table(title=title, title_justify="left", min_width=len(title))
            table.add_column(first)
            for name in names:
                table.add_column(name, justify="right")
            return table

        overview = new_table(f"{self.name}", "")
        rows: list[tuple[str, list[str]]] = [
            ("documents", [str(s.documents) for s in self.splits]),
            ("entities", [str(s.entities) for s in self.splits]),
            ("relations", [str(s.relations) for s in self.splits]),
            ("symmetric relations", [_opt(s.symmetric_relations) for s in self.splits]),
            ("words min/mean/max", [_minmeanmax(s.words) for s in self.splits]),
            ("words p50/p90/p99", [_percentiles(s.words) for s in self.splits]),
        ]
        if any(s.pieces is not None for s in self.splits):
            rows += [
                ("pieces min/mean/max", [_minmeanmax(s.pieces) for s in self.splits]),
                ("pieces p50/p90/p99", [_percentiles(s.pieces) for s in self.splits]),
                (
                    f"documents > {self.splits[0].max_pieces} pieces",
                    [_opt(s.over_max_pieces) for s in self.splits],
                ),
            ]
        rows += [
            ("nested entity pairs", [str(s.nested_pairs) for s in self.splits]),
            ("crossing entity pairs", [str(s.crossing_pairs) for s in self.splits]),
            ("same-span entity pairs", [str(s.same_span_pairs) for s in self.splits]),
            ("documents with overlap", [str(s.documents_with_overlap) for s in self.splits]),
        ]
        if any(s.skipped for s in self.splits):
            rows.append(("skipped (invalid)", [str(len(s.skipped)) for s in self.splits]))
        if any(s.duplicate_entities or s.duplicate_relations for s in self.splits):
            rows.append(
                (
                    "duplicates removed (ent/rel)",
                    [f"{s.duplicate_entities}/{s.duplicate_relations}" for s in self.splits],
                )
            )
        for label, values in rows:
            overview.add_row(label, *values)

        tables: list[Table] = [overview]
        for title, attr in (
            ("entities per type", "entities_per_type"),
            ("relations per type", "relations_per_type"),
        ):
            table = new_table(title, "type")
            type_names = list(dict.fromkeys(n for s in self.splits for n in getattr(s, attr)))
            for type_name in type_names:
                table.add_row(
                    type_name, *(str(getattr(s, attr).get(type_name, 0)) for s in self.splits)
                )
            tables.append(table)
        widths = new_table("entity span width (words)", "width")
        for width in sorted({w for s in self.splits for w in s.span_widths}):
            widths.add_row(str(width), *(str(s.span_widths.get(width, 0)) for s in self.splits))
        tables.append(widths)
        return Group(*tables)


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)


def _minmeanmax(summary: LengthSummary | None) -> str:
    if summary is None:
        return "-"
    return f"{summary.min}/{summary.mean:.1f}/{summary.max}"


def _percentiles(summary: LengthSummary | None) -> str:
    if summary is None:
        return "-"
    return f"{summary.p50}/{summary.p90}/{summary.p99}"


def _piece_lengths(docs: Sequence[Document], tokenizer: PreTrainedTokenizerBase) -> list[int]:
    vocabulary = list(dict.fromkeys(word for doc in docs for word in doc.tokens))
    if not vocabulary:
        return []
    encoded = tokenizer(vocabulary, add_special_tokens=False)["input_ids"]
    # A word with no pieces counts as one: SpERT substitutes the unknown token for it.
    per_word = {word: max(1, len(ids)) for word, ids in zip(vocabulary, encoded, strict=True)}
    special = tokenizer.num_special_tokens_to_add(pair=False)
    return [special + sum(per_word[w] for w in doc.tokens) for doc in docs]


def _overlap_pairs(doc: Document) -> tuple[int, int, int]:
    """Return ``(nested, crossing, same-span)`` entity pair counts of one document.

    Counted in ``O(n log n)`` for ``n`` entities, without listing the pairs (a document of
    200,000 entities takes about a second): overlapping pairs are all pairs minus the disjoint
    ones (an entity ending at or before another's start, found by binary search), and
    containing pairs (nested or same span) are counted as dominance pairs with a Fenwick tree.
    """
    n = len(doc.entities)
    if n < 2:
        return 0, 0, 0
    import numpy as np

    starts = np.fromiter((e.start for e in doc.entities), np.int64, n)
    ends = np.fromiter((e.end for e in doc.entities), np.int64, n)
    _, counts = np.unique(starts * (int(ends.max()) + 1) + ends, return_counts=True)
    same = int((counts * (counts - 1) // 2).sum())
    disjoint = int(np.searchsorted(np.sort(ends), starts, side="right").sum())
    overlapping = n * (n - 1) // 2 - disjoint
    # Dominance: pairs (a, b) with a.start <= b.start and b.end <= a.end. By start, and by end
    # descending within a start, every container comes before what it contains (identical
    # spans once): count the earlier entities whose end is >= this one's.
    order = np.lexsort((-ends, starts))
    ranks = np.searchsorted(np.unique(ends), ends[order]) + 1  # 1-based, by end
    size = int(ranks.max())
    tree = [0] * (size + 1)
    containing = 0
    for seen, rank in enumerate(ranks.tolist()):
        below, i = 0, rank - 1  # earlier entities ending before this one
        while i > 0:
            below += tree[i]
            i -= i & -i
        containing += seen - below
        i = rank
        while i <= size:
            tree[i] += 1
            i += i & -i
    nested = containing - same
    return nested, overlapping - containing, same


def compute_split_stats(
    docs: Sequence[Document],
    *,
    split: str = "data",
    types: TypeSchema | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    max_pieces: int = MAX_PIECES,
    path: str | Path | None = None,
    report: ReadReport | None = None,
) -> SplitStats:
    """Compute the statistics of one split.

    Args:
        docs: The documents.
        split: Name shown for the split.
        types: Declared types: lists types with zero counts and counts symmetric relations.
        tokenizer: A fast tokenizer for sub-word piece lengths
            (:func:`spertmt.encoding.encoders.load_tokenizer`).
        max_pieces: Piece limit for ``over_max_pieces``.
        path: The file the documents came from.
        report: The read report, for skipped documents and removed duplicates.

    Returns:
        The statistics.

    Example:
        >>> from spertmt.schema import Document, Entity
        >>> doc = Document(("New", "York", "City"), (Entity("Loc", 0, 3), Entity("Loc", 0, 2)))
        >>> stats = compute_split_stats([doc])
        >>> stats.entities, stats.nested_pairs, stats.span_widths
        (2, 1, {2: 1, 3: 1})

    """
    entity_counts: Counter[str] = Counter()
    relation_counts: Counter[str] = Counter()
    widths: Counter[int] = Counter()
    nested = crossing = same = with_overlap = 0
    for doc in docs:
        entity_counts.update(e.type for e in doc.entities)
        relation_counts.update(r.type for r in doc.relations)
        widths.update(e.end - e.start for e in doc.entities)
        n, c, s = _overlap_pairs(doc)
        nested, crossing, same = nested + n, crossing + c, same + s
        with_overlap += bool(n or c or s)

    def per_type(counts: Counter[str], declared: Sequence[str]) -> dict[str, int]:
        order = list(declared) + sorted(set(counts) - set(declared))
        return {name: counts.get(name, 0) for name in order}

    pieces = None
    over = None
    if tokenizer is not None:
        lengths = _piece_lengths(docs, tokenizer)
        pieces = LengthSummary.of(lengths)
        over = sum(1 for n in lengths if n > max_pieces)
    symmetric = None
    if types is not None:
        symmetric_names = types.symmetric_relations
        symmetric = sum(relation_counts[name] for name in symmetric_names)
    return SplitStats(
        split=split,
        path=None if path is None else str(path),
        documents=len(docs),
        entities=sum(entity_counts.values()),
        relations=sum(relation_counts.values()),
        entities_per_type=per_type(entity_counts, types.entity_names if types else ()),
        relations_per_type=per_type(relation_counts, types.relation_names if types else ()),
        span_widths=dict(sorted(widths.items())),
        words=LengthSummary.of([len(doc.tokens) for doc in docs]),
        pieces=pieces,
        over_max_pieces=over,
        max_pieces=max_pieces,
        nested_pairs=nested,
        crossing_pairs=crossing,
        same_span_pairs=same,
        documents_with_overlap=with_overlap,
        symmetric_relations=symmetric,
        skipped=tuple(report.skipped) if report is not None else (),
        duplicate_entities=report.duplicate_entities if report is not None else 0,
        duplicate_relations=report.duplicate_relations if report is not None else 0,
    )


def dataset_stats(
    name_or_path: str | Path,
    *,
    data_dir: str | Path | None = None,
    types: str | Path | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    tokenizer_name: str | None = None,
    skip_invalid: bool = False,
    max_pieces: int = MAX_PIECES,
) -> DatasetStats:
    """Read every split of a dataset spec (or one file) and compute its statistics.

    Args:
        name_or_path: A dataset spec (``conll04``, ``scierc:test``, ``ade``, ``ade:3``) or a
            SpERT JSON/JSONL file.
        data_dir: Folder of the built-in datasets.
        types: Types file; default the dataset's own, or the one ``*_types.json`` beside a
            file.
        tokenizer: A fast tokenizer for piece lengths (``spertmt stats --tokenizer NAME`` loads
            one with :func:`spertmt.encoding.encoders.load_tokenizer`); ``None``: no piece
            lengths.
        tokenizer_name: How to name the tokenizer in the report (default: its
            ``name_or_path``).
        skip_invalid: Skip invalid documents (listed in each split's ``skipped``).
        max_pieces: Piece limit for ``over_max_pieces``.

    Returns:
        One :class:`SplitStats` per split.

    Raises:
        DataError: For unknown datasets, missing files or types, or invalid documents.

    Example:
        >>> stats = dataset_stats("conll04", data_dir="shared/data")  # doctest: +SKIP
        >>> [(s.split, s.documents) for s in stats.splits]            # doctest: +SKIP
        [('train', 922), ('dev', 231), ('test', 288)]

    """
    if isinstance(tokenizer, str | Path):
        raise TypeError(
            "dataset_stats takes a loaded tokenizer; load one first with "
            f"spertmt.encoding.encoders.load_tokenizer({str(tokenizer)!r})"
        )
    ref = resolve_dataset(name_or_path, data_dir=data_dir, types=types)
    types_path = ref.require_types()
    schema = read_types(types_path)
    loaded: PreTrainedTokenizerBase | None = None
    if tokenizer is not None:
        tokenizer_name = tokenizer_name or str(
            getattr(tokenizer, "name_or_path", type(tokenizer).__name__)
        )
        loaded = tokenizer
    splits = []
    for split, path in ref.splits:
        report = ReadReport()
        docs = read_documents(path, types=schema, skip_invalid=skip_invalid, report=report)
        splits.append(
            compute_split_stats(
                docs,
                split=split,
                types=schema,
                tokenizer=loaded,
                max_pieces=max_pieces,
                path=path,
                report=report,
            )
        )
    return DatasetStats(ref.spec, str(types_path), tokenizer_name, tuple(splits))
