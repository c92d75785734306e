"""The one inference path: a :class:`Predictor` is a model, its tokenizer and a decision rule.

Documents go in as word tokens and new :class:`~spertmt.schema.Document` objects come out
(inputs are never modified). Every caller uses it: the Python API, evaluation during training,
threshold tuning, export parity checks and the server. Per batch::

    inference_batch ─▶ model.score_spans ─▶ decide_entities ─▶ model.score_pairs
                    ─▶ decide_relations ─▶ decode_documents

The span stage does not depend on the rule, so :meth:`Predictor.encode` can keep it and
:meth:`Predictor.decode` re-decide the same documents under many rules (threshold tuning)
without running the encoder again.

A predictor runs in one :class:`~spertmt.runtime.precision.Precision` (fp32 unless asked):
both model stages of a batch run under its autocast, and the scores come back as fp32.

Pair work grows with the square of a document's entities (``k`` entities make ``k·(k-1)``
ordered pairs). With ``max_pairs`` set (:class:`~spertmt.inference.api.SpertMT` and the
command line set :data:`MAX_PAIRS`, about 3,160 entities; evaluation and training set none), a
document over it is refused with :class:`PairLimitError` (``E508``) before its pairs are
scored: given entities before the encoder runs, predicted ones after the entity decision. A batch
over :data:`PAIR_BLOCK` pair slots is scored in blocks of at most that many, each decided
before the next, so memory stays bounded and a progress hook can follow the blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from spertmt.config import DecisionRule
from spertmt.decoding import (
    RelationDecision,
    decide_entities,
    decide_relations,
    decode_documents,
    given_entity_decision,
)
from spertmt.encoding.features import pad_id, prepare_documents
from spertmt.errors import InputError
from spertmt.model.outputs import SpanState
from spertmt.model.spert import SpertMTModel
from spertmt.runtime.precision import Precision
from spertmt.sampling import inference_batch
from spertmt.schema import Document, Entity

ProgressHook = Callable[[int], None]
"""Called with the number of documents just finished."""

PairProgressHook = Callable[[int, int], None]
"""Called with ``(pairs scored, pairs to score)`` of a batch scored in blocks, per block."""

MAX_PAIRS = 10_000_000
"""Most ordered entity pairs per document that prediction accepts by default: about 3,160
entities (``k·(k-1)`` pairs).

:meth:`SpertMT.predict <spertmt.inference.api.SpertMT.predict>`, ``pipe``, the server and
``spertmt predict`` apply it; scoring takes about 1 s a million pairs on one CPU core with
MiniLM, and a document over the limit is refused with ``E508`` (:class:`PairLimitError`)
before any of its pairs are scored. ``max_pairs=`` (``spertmt predict --max-pairs``) raises
or lowers it. :meth:`Predictor.predict` has no limit unless given one (evaluation during
training must not stop on an untrained model that keeps every span).
"""

PAIR_BLOCK = 250_000
"""A batch with more pair slots than this is scored in blocks of at most this many.

One call scores ``B · k²`` slots for ``B`` documents and ``k`` the most entities of one
(about 1.3 kB of memory each while it runs). Above this, each block is decided (relation
thresholds) before the next and only its relations are kept, so memory stays bounded
whatever the number of pairs (2,000 given entities in one document: 0.6 GB instead of 2.6 GB;
4,000: 0.9 GB instead of 19 GB). Blocks are unions of two groups of a document's entities,
so the pairs inside a group are scored more than once: at most twice the work of one call.
"""


def pair_count(entities: int) -> int:
    """Ordered pairs of ``entities`` distinct entities: ``k·(k-1)``.

    Example:
        >>> pair_count(2000)
        3998000
    """
    return entities * max(entities - 1, 0)


class PairLimitError(InputError):
    """A document whose entities make more ordered pairs than ``max_pairs`` (``E508``).

    Args:
        where: The document, as the message should name it (``input 3 (orig_id 17)``).
        entities: How many entities it holds (given, or kept by the model).
        limit: The limit that applies (``max_pairs``).
        given: True for given entities (relation-only mode), False for predicted ones.
        position: Index of the document among the inputs of the call that raised it.

    Example:
        >>> print(PairLimitError(where="input 0", entities=2001, limit=4_000_000, given=True,
        ...                      position=0))  # doctest: +ELLIPSIS
        [E508] input 0: 2,001 given entities make 4,002,000 ordered entity pairs, more than...
    """

    def __init__(self, *, where: str, entities: int, limit: int, given: bool, position: int):
        self.where = where
        self.entities = entities
        self.pairs = pair_count(entities)
        self.limit = limit
        self.given = given
        self.position = position
        if given:
            what = "given entities"
            fix = "give fewer entities or split the document"
        else:
            what = "entities kept by the model"
            fix = "raise the entity threshold or split the document"
        super().__init__(
            f"{where}: {entities:,} {what} make {self.pairs:,} ordered entity pairs, more "
            f"than the limit of {limit:,} pairs a document (max_pairs, --max-pairs); {fix}, "
            "or raise the limit (scoring takes about 1 s a million pairs on one CPU core)",
            code="E508",
        )

    def moved(self, where: str, position: int) -> PairLimitError:
        """The same error, naming the document as the caller knows it."""
        return PairLimitError(
            where=where,
            entities=self.entities,
            limit=self.limit,
            given=self.given,
            position=position,
        )


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Indices of each batch: documents sorted by length (stable), ``batch_size`` at a time."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for begin in range(0, len(order), batch_size):
        yield order[begin : begin + batch_size]


@dataclass(frozen=True)
class ScoredBatch:
    """One batch after the span stage.

    Attributes:
        positions: The input positions of its documents.
        docs: The documents, in batch order.
        state: The span stage's scores and representations.
        given: Relation-only mode: each document's given entities, sorted by span.
        precision: The precision of the span stage (the pair stage runs in the same).
    """

    positions: tuple[int, ...]
    docs: tuple[Document, ...]
    state: SpanState
    given: tuple[tuple[Entity, ...], ...] | None
    precision: Precision


@dataclass(frozen=True)
class EncodedDocuments:
    """Documents after the span stage (:meth:`Predictor.encode`), ready to be decoded.

    Attributes:
        inputs: The input documents.
        batches: The scored batches (documents without tokens are in none).
    """

    inputs: tuple[Document, ...]
    batches: tuple[ScoredBatch, ...]


class Predictor:
    """A model, its tokenizer and a decision rule: word-token documents in, predictions out.

    Args:
        model: A trained model (put in eval mode here).
        tokenizer: Its fast tokenizer.
        rule: The decision rule (default: SpERT's).
        precision: The arithmetic of the model (default: fp32 on the model's device); build
            it with :func:`~spertmt.runtime.precision.resolve_precision`.

    Example:
        >>> predictor = Predictor(model, tokenizer, DecisionRule())     # doctest: +SKIP
        >>> docs = predictor.predict([Document(("John", "lives", "in", "Paris"))])
        ... # doctest: +SKIP
        >>> strict = predictor.predict(docs, rule=predictor.rule.replace(relation_threshold=0.6))
        ... # doctest: +SKIP
    """

    pair_block: int = PAIR_BLOCK
    """Pair slots a batch may hold before it is scored in blocks (:data:`PAIR_BLOCK`)."""

    def __init__(
        self,
        model: SpertMTModel,
        tokenizer: Any,
        rule: DecisionRule | None = None,
        precision: Precision | None = None,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.rule = rule if rule is not None else DecisionRule()
        self.precision = precision if precision is not None else Precision("fp32", "cpu")

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.model.parameters()).device

    def predict(
        self,
        docs: Sequence[Document],
        *,
        rule: DecisionRule | None = None,
        batch_size: int = 32,
        given_entities: bool = False,
        progress: ProgressHook | None = None,
        precision: Precision | None = None,
        max_pairs: int | None = None,
        pair_progress: PairProgressHook | None = None,
    ) -> list[Document]:
        """Predict entities and relations for documents given as word tokens.

        Args:
            docs: Input documents; their ``entities``/``relations`` are ignored unless
                ``given_entities`` is set.
            rule: Decision rule for this call (default: the predictor's).
            batch_size: Documents per forward pass (documents are sorted by length first).
            given_entities: Relation-only mode: keep each document's entities as they are and
                predict only the relations between them.
            progress: Called with the number of documents finished after each batch.
            precision: Arithmetic for this call (default: the predictor's).
            max_pairs: Most ordered entity pairs a document may hold; ``None``: no limit
                (the blocks still bound the memory).
            pair_progress: Called per block while a batch with many pairs is scored in
                blocks (:data:`PAIR_BLOCK`), with the pairs scored and the pairs to score.

        Returns:
            One new document per input, in input order, with scored entities and relations.

        Raises:
            PairLimitError: ``E508`` for a document over ``max_pairs`` pairs (given entities:
                before any work; predicted entities: before its pairs are scored).
        """
        limit = _pair_limit(max_pairs)
        if given_entities and limit is not None:
            for position, doc in enumerate(docs):
                if pair_count(len(doc.entities)) > limit:
                    raise PairLimitError(
                        where=_document_name(position, doc),
                        entities=len(doc.entities),
                        limit=limit,
                        given=True,
                        position=position,
                    )
        # One batch at a time: its span state is dropped before the next one is encoded.
        batches = self._scored_batches(docs, batch_size, given_entities, precision)
        return self._assemble(docs, batches, rule, progress, limit, pair_progress)

    def encode(
        self,
        docs: Sequence[Document],
        *,
        batch_size: int = 32,
        progress: ProgressHook | None = None,
        precision: Precision | None = None,
    ) -> EncodedDocuments:
        """Run the span stage (encoder and entity heads) once for ``docs``.

        The result holds every batch's span representations (memory grows with the number of
        documents); :meth:`decode` turns it into predictions under any rule, equal to
        :meth:`predict` with that rule.

        Args:
            docs: Input documents (word tokens).
            batch_size: Documents per forward pass (sorted by length first).
            progress: Called with the number of documents finished after each batch.
            precision: Arithmetic for this call (default: the predictor's); :meth:`decode`
                scores the pairs in the same.

        Returns:
            The scored batches, ready for :meth:`decode`.
        """
        with torch.inference_mode():
            batches = []
            for scored in self._scored_batches(docs, batch_size, False, precision):
                batches.append(scored)
                if progress is not None:
                    progress(len(scored.positions))
        return EncodedDocuments(tuple(docs), tuple(batches))

    def decode(
        self, encoded: EncodedDocuments, *, rule: DecisionRule | None = None
    ) -> list[Document]:
        """Predictions for :meth:`encode`'s documents under ``rule`` (default: the predictor's)."""
        return self._assemble(encoded.inputs, encoded.batches, rule, None, None, None)

    # ------------------------------------------------------------------ internals
    def _assemble(
        self,
        docs: Sequence[Document],
        batches: Iterable[ScoredBatch],
        rule: DecisionRule | None,
        progress: ProgressHook | None,
        max_pairs: int | None,
        pair_progress: PairProgressHook | None,
    ) -> list[Document]:
        """Decide every scored batch and put the documents back in input order."""
        rule = rule if rule is not None else self.rule
        results = [None if doc.tokens else _empty_prediction(doc) for doc in docs]
        with torch.inference_mode():
            for scored in batches:
                decoded = self._decode_batch(scored, rule, max_pairs, pair_progress)
                for position, doc in zip(scored.positions, decoded, strict=True):
                    results[position] = doc
                if progress is not None:
                    progress(len(scored.positions))
        return [r for r in results if r is not None]

    def _scored_batches(
        self,
        docs: Sequence[Document],
        batch_size: int,
        given_entities: bool,
        precision: Precision | None = None,
    ) -> Iterator[ScoredBatch]:
        """The span stage, batch by batch (documents sorted by length)."""
        precision = precision if precision is not None else self.precision
        self.model.eval()
        device = self.device
        nonempty = [i for i, d in enumerate(docs) if d.tokens]
        prepared = prepare_documents([docs[i] for i in nonempty], self.tokenizer)
        padding = pad_id(self.tokenizer)
        for chosen in length_sorted_batches([p.num_pieces for p in prepared], batch_size):
            batch_docs = tuple(docs[nonempty[i]] for i in chosen)
            spans = None
            given = None
            if given_entities:
                given = tuple(
                    tuple(sorted(d.entities, key=lambda e: (e.start, e.end))) for d in batch_docs
                )
                spans = [
                    np.array([(e.start, e.end) for e in ents], dtype=np.int64).reshape(-1, 2)
                    for ents in given
                ]
            batch = inference_batch(
                [prepared[i] for i in chosen], self.model.config, pad_id=padding, spans=spans
            ).to(device)
            with precision.autocast():  # not around the yield: the caller's code stays fp32
                state = self.model.score_spans(batch)
            positions = tuple(nonempty[i] for i in chosen)
            yield ScoredBatch(positions, batch_docs, state, given, precision)

    def _decode_batch(
        self,
        scored: ScoredBatch,
        rule: DecisionRule,
        max_pairs: int | None,
        pair_progress: PairProgressHook | None,
    ) -> list[Document]:
        state = scored.state
        if scored.given is not None:
            entities = given_entity_decision(state.span_mask)
        else:
            entities = decide_entities(state.entities, state.span_mask, state.spans, rule)
        counts = entities.keep.sum(-1).tolist()
        for b, count in enumerate(counts):
            if max_pairs is not None and pair_count(count) > max_pairs:
                raise PairLimitError(
                    where=_document_name(scored.positions[b], scored.docs[b]),
                    entities=count,
                    limit=max_pairs,
                    given=scored.given is not None,
                    position=scored.positions[b],
                )
        # One call scores max(k)² pair slots for every document of the batch (padding too).
        if len(counts) * max(counts, default=0) ** 2 > self.pair_block:
            total = sum(pair_count(count) for count in counts)
            pair_index, relations = self._score_pairs_in_blocks(
                scored, entities.keep, rule, total, pair_progress
            )
        else:
            with scored.precision.autocast():
                pairs = self.model.score_pairs(state, entities.keep)
            pair_index, relations = pairs.pairs, decide_relations(pairs, rule)
        return decode_documents(
            scored.docs,
            state.spans,
            entities,
            pair_index,
            relations,
            self.model.types,
            given_entities=scored.given,
        )

    def _score_pairs_in_blocks(
        self,
        scored: ScoredBatch,
        keep: torch.Tensor,
        rule: DecisionRule,
        total: int,
        pair_progress: PairProgressHook | None,
    ) -> tuple[torch.Tensor, RelationDecision]:
        """Score and decide a batch's pairs block by block; keep only the decided relations.

        Each document's kept spans are split, in span order, into groups of ``m`` spans
        (``B·4·m² ≤ pair_block`` for ``B`` documents). Block ``(a, b)``, ``a < b``, scores
        every pair within groups ``a`` and ``b`` together (one
        :meth:`~SpertMTModel.score_pairs` call) and takes from it the pairs across the two
        groups, and the pairs inside group ``a`` when
        ``b = a + 1`` (inside the last group: in the last block). So every ordered pair is
        taken from exactly one block, scored as one call over all pairs would score it.

        Args:
            scored: The batch after the span stage.
            keep: ``[B, S]`` the spans that are entities.
            rule: The decision rule (relation thresholds).
            total: The batch's ordered pairs (for ``pair_progress``).
            pair_progress: Called after each block with ``(pairs taken, total)``.

        Returns:
            ``pairs [B, N, 2]`` span indices of the pairs with a kept relation (``N`` = most
            in a document; padding rows keep nothing) and their relation decision
            ``[B, N, R]``, as :func:`~spertmt.decoding.decode_documents` takes them.
        """
        state = scored.state
        batch = keep.shape[0]
        size = max(1, int((self.pair_block / (4 * batch)) ** 0.5))
        rank = keep.long().cumsum(-1) - 1
        group = torch.where(keep, torch.div(rank, size, rounding_mode="floor"), -1)  # [B, S]
        groups = max(2, int(group.max()) + 1)
        found: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        done = 0
        for a in range(groups - 1):
            for b in range(a + 1, groups):
                block_keep = (group == a) | (group == b)
                with scored.precision.autocast():
                    pairs = self.model.score_pairs(state, block_keep)
                decision = decide_relations(pairs, rule)
                head_group = torch.gather(group, 1, pairs.pairs[..., 0])
                tail_group = torch.gather(group, 1, pairs.pairs[..., 1])
                inside = head_group == tail_group
                owned = ~inside
                if b == a + 1:
                    owned = owned | (inside & (head_group == a))
                if b == groups - 1 and a == groups - 2:
                    owned = owned | (inside & (head_group == b))
                taken = owned & pairs.mask
                done += int(taken.sum())
                rows, slots = torch.nonzero(taken & decision.keep.any(-1), as_tuple=True)
                found.append(
                    (
                        rows,
                        pairs.pairs[rows, slots],
                        decision.keep[rows, slots],
                        decision.scores[rows, slots],
                    )
                )
                if pair_progress is not None:
                    pair_progress(done, total)
        rows = torch.cat([f[0] for f in found])
        order = torch.sort(rows, stable=True).indices
        rows = rows[order]
        per_doc = torch.bincount(rows, minlength=batch)
        width = int(per_doc.max()) if len(rows) else 0
        slot = torch.arange(len(rows), device=rows.device) - (per_doc.cumsum(0) - per_doc)[rows]
        relation_types = self.model.num_relation_types
        pair_index = torch.zeros(batch, width, 2, dtype=torch.long, device=keep.device)
        kept = torch.zeros(batch, width, relation_types, dtype=torch.bool, device=keep.device)
        scores = torch.zeros(batch, width, relation_types, device=keep.device)
        pair_index[rows, slot] = torch.cat([f[1] for f in found])[order]
        kept[rows, slot] = torch.cat([f[2] for f in found])[order]
        scores[rows, slot] = torch.cat([f[3] for f in found])[order].to(scores.dtype)
        return pair_index, RelationDecision(kept, scores)


def _pair_limit(max_pairs: int | None) -> int | None:
    if max_pairs is None:
        return None
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 0:
        raise InputError(
            f"max_pairs must be a whole number of pairs, 0 or more; got {max_pairs!r}",
            code="E505",
        )
    return max_pairs


def _document_name(position: int, doc: Document) -> str:
    orig = f" (orig_id {doc.orig_id})" if doc.orig_id is not None else ""
    return f"document {position}{orig}"


def _empty_prediction(doc: Document) -> Document:
    return Document(tokens=(), orig_id=doc.orig_id, text=doc.text, token_offsets=doc.token_offsets)
