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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from spertmt.config import DecisionRule
from spertmt.decoding import (
    decide_entities,
    decide_relations,
    decode_documents,
    given_entity_decision,
)
from spertmt.encoding.features import pad_id, prepare_documents
from spertmt.model.outputs import SpanState
from spertmt.model.spert import SpertMTModel
from spertmt.runtime.precision import Precision
from spertmt.sampling import inference_batch
from spertmt.schema import Document, Entity

ProgressHook = Callable[[int], None]
"""Called with the number of documents just finished."""


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

        Returns:
            One new document per input, in input order, with scored entities and relations.
        """
        # One batch at a time: its span state is dropped before the next one is encoded.
        batches = self._scored_batches(docs, batch_size, given_entities, precision)
        return self._assemble(docs, batches, rule, progress)

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
        return self._assemble(encoded.inputs, encoded.batches, rule, None)

    # ------------------------------------------------------------------ internals
    def _assemble(
        self,
        docs: Sequence[Document],
        batches: Iterable[ScoredBatch],
        rule: DecisionRule | None,
        progress: ProgressHook | None,
    ) -> list[Document]:
        """Decide every scored batch and put the documents back in input order."""
        rule = rule if rule is not None else self.rule
        results = [None if doc.tokens else _empty_prediction(doc) for doc in docs]
        with torch.inference_mode():
            for scored in batches:
                decoded = self._decode_batch(scored, rule)
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

    def _decode_batch(self, scored: ScoredBatch, rule: DecisionRule) -> list[Document]:
        state = scored.state
        if scored.given is not None:
            entities = given_entity_decision(state.span_mask)
        else:
            entities = decide_entities(state.entities, state.span_mask, state.spans, rule)
        with scored.precision.autocast():
            pairs = self.model.score_pairs(state, entities.keep)
        relations = decide_relations(pairs, rule)
        return decode_documents(
            scored.docs,
            state.spans,
            entities,
            pairs.pairs,
            relations,
            self.model.types,
            given_entities=scored.given,
        )


def _empty_prediction(doc: Document) -> Document:
    return Document(tokens=(), orig_id=doc.orig_id, text=doc.text, token_offsets=doc.token_offsets)
