"""Batched inference over documents: encode once, sort by length, score, decode.

Returns new :class:`~spertmt.schema.Document` objects and never modifies its inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from spertmt.decoding import decide_relations, decode_documents
from spertmt.model.spert import SpertMTModel
from spertmt.sampling import inference_batch, prepare_documents
from spertmt.schema import Document


def _length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    order = np.argsort(np.asarray(lengths), kind="stable")
    for begin in range(0, len(order), batch_size):
        yield order[begin : begin + batch_size]


def predict_documents(
    model: SpertMTModel,
    tokenizer,
    docs: Sequence[Document],
    *,
    batch_size: int = 32,
    given_entities: bool = False,
    progress: bool = False,
) -> list[Document]:
    """Predict entities and relations for documents given as word tokens.

    Args:
        model: A trained model (put in eval mode here).
        tokenizer: Its fast tokenizer.
        docs: Input documents; their ``entities``/``relations`` are ignored unless
            ``given_entities`` is set.
        batch_size: Documents per forward pass (documents are sorted by length first).
        given_entities: Relation-only mode: keep each document's entities as they are and
            predict only the relations between them.
        progress: Show a progress bar.

    Returns:
        One new document per input, in input order, with scored entities and relations.
    """
    model.eval()
    device = next(model.parameters()).device
    results: list[Document | None] = [None] * len(docs)
    nonempty = [i for i, d in enumerate(docs) if len(d.tokens) > 0]
    for i, d in enumerate(docs):
        if not d.tokens:
            results[i] = Document(
                tokens=(), orig_id=d.orig_id, text=d.text, token_offsets=d.token_offsets
            )
    prepared = prepare_documents([docs[i] for i in nonempty], tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = list(_length_sorted_batches([p.num_pieces for p in prepared], batch_size))

    progress_bar = None
    if progress and len(batches) > 1:
        from rich.progress import Progress

        progress_bar = Progress(transient=True)
        progress_bar.start()
        task = progress_bar.add_task("predicting", total=len(nonempty))
    try:
        with torch.inference_mode():
            for chosen in batches:
                batch_docs = [docs[nonempty[i]] for i in chosen]
                batch_prep = [prepared[i] for i in chosen]
                spans = None
                known = None
                if given_entities:
                    known = [sorted(d.entities, key=lambda e: (e.start, e.end)) for d in batch_docs]
                    spans = [
                        np.array([(e.start, e.end) for e in ents], dtype=np.int64).reshape(-1, 2)
                        for ents in known
                    ]
                batch = inference_batch(batch_prep, model.config, pad_id=pad_id, spans=spans).to(
                    device
                )
                output = model(batch, given_entities=given_entities)
                decision = output.entities
                assert decision is not None  # inference builds its pairs from a decision
                rel_keep, rel_scores = decide_relations(
                    output.relation_logits,
                    output.relation_binary_logits,
                    output.pair_mask,
                    model.config,
                )
                decoded = decode_documents(
                    batch_docs,
                    batch.spans,
                    decision,
                    output.pairs,
                    rel_keep,
                    rel_scores,
                    model.types,
                    given_entities=known,
                )
                for i, doc in zip(chosen, decoded, strict=True):
                    results[nonempty[i]] = doc
                if progress_bar is not None:
                    progress_bar.advance(task, len(chosen))
    finally:
        if progress_bar is not None:
            progress_bar.stop()
    return [r for r in results if r is not None]
