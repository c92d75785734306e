"""spertmt as a spaCy pipeline component: ``nlp.add_pipe("spertmt", config={"model": DIR})``.

The factory is registered through the ``spacy_factories`` entry point (``pyproject.toml``),
so an installed spertmt is found by spaCy without an import::

    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")                      # optional: one model input per sentence
    nlp.add_pipe("spertmt", config={"model": "runs/spert/model", "entity_overlap": "resolve"})
    doc = nlp("John Smith lives in Paris.")
    [(e.text, e.label_) for e in doc.ents]           # or doc.spans["spertmt"] (overlapping)
    doc._.relations                                  # [{"head": (0, 2, "Peop"), "tail": ...}]

The component uses the pipeline's tokens as the model's words (whitespace tokens left out).
When the ``Doc`` has sentence boundaries (a ``sentencizer`` or parser before it) each sentence
is one model input; otherwise the whole ``Doc`` is one (long documents are windowed by the
model). :meth:`SpertMTComponent.predict` is pure; :meth:`~SpertMTComponent.set_annotations`
writes the results, as spaCy's own components do:

- entities go to ``doc.ents`` when no two share a token, else to ``doc.spans["spertmt"]``
  (``spans_key``) with their scores in ``doc.spans["spertmt"].attrs["scores"]``; existing
  ``doc.ents`` are replaced;
- relations go to ``doc._.relations``: ``{"head": (start, end, label), "tail": (start, end,
  label), "type": str, "score": float}`` with spaCy token indices (``end`` exclusive), the
  same form as a ``DocBin`` written by ``spertmt convert --to spacy``.

Config keys: ``model`` (checkpoint folder), ``batch_size`` (sentences per forward pass),
``device`` (``"cpu"``, ``"cuda"``; default: CUDA when available), ``spans_key``, and the
decision-rule fields (``entity_threshold``, ``entity_score``, ``iou_threshold``,
``entity_overlap``, ``relation_threshold``, ``relation_binary_threshold``; ``None`` keeps the
checkpoint's). Importing this module is cheap (spaCy loads every entry point when it makes a
pipeline); torch and the model load only when the component is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from spacy.language import Language

from spertmt.data.convert.docbin import SPANS_KEY, register_relations_extension

if TYPE_CHECKING:
    from spacy.tokens import Doc

    from spertmt.inference.api import PredictInput, SpertMT
    from spertmt.schema import Document

__all__ = ["SpertMTComponent", "make_spertmt"]

_DECISION_KEYS = (
    "entity_threshold",
    "entity_score",
    "iou_threshold",
    "entity_overlap",
    "relation_threshold",
    "relation_binary_threshold",
)


class SpertMTComponent:
    """A spaCy component that predicts entities and relations with a spertmt model.

    Args:
        nlp: The pipeline (only its name is kept, as spaCy passes it).
        name: The component's name in the pipeline.
        model: A loaded :class:`~spertmt.inference.api.SpertMT`.
        batch_size: Sentences per forward pass.
        spans_key: ``doc.spans`` key for overlapping entities.
        decision: Decision-rule fields for every call (``None`` values are left out).
    """

    def __init__(
        self,
        nlp: Language | None,
        name: str,
        model: SpertMT,
        *,
        batch_size: int = 32,
        spans_key: str = SPANS_KEY,
        decision: dict[str, Any] | None = None,
    ) -> None:
        register_relations_extension()
        self.name = name
        self.model = model
        self.batch_size = batch_size
        self.spans_key = spans_key
        self.decision = {k: v for k, v in (decision or {}).items() if v is not None}
        # Fail at construction, not on the first document, for a bad rule option or batch size.
        from spertmt.inference.api import check_batch_size

        model.rule_for(**self.decision)
        check_batch_size(batch_size)

    # ------------------------------------------------------------------ spaCy API
    def __call__(self, doc: Doc) -> Doc:
        """Annotate one ``Doc`` (in place, as spaCy components do) and return it."""
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Annotate a stream of ``Doc`` s, ``batch_size`` documents per model call."""
        from spacy.util import minibatch

        for docs in minibatch(stream, size=batch_size):
            self.set_annotations(docs, self.predict(docs))
            yield from docs

    def predict(self, docs: Iterable[Doc]) -> list[list[tuple[list[int], Document]]]:
        """Predict without changing the docs.

        Returns:
            Per doc, its model inputs' results: ``(spaCy token index of each word, predicted
            Document)`` per sentence (or one for the whole doc).
        """
        from spertmt.schema import Document

        inputs: list[PredictInput] = []
        positions: list[list[list[int]]] = []
        for doc in docs:
            groups = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
            per_doc = []
            for group in groups:
                index = [t.i for t in group if not t.text.isspace()]
                if index:
                    per_doc.append(index)
                    inputs.append(Document(tuple(doc[i].text for i in index)))
            positions.append(per_doc)
        predicted = (
            self.model.predict(inputs, batch_size=self.batch_size, **self.decision)
            if inputs
            else []
        )
        out: list[list[tuple[list[int], Document]]] = []
        k = 0
        for per_doc in positions:
            out.append([(index, predicted[k + j]) for j, index in enumerate(per_doc)])
            k += len(per_doc)
        return out

    def set_annotations(
        self, docs: Iterable[Doc], predictions: list[list[tuple[list[int], Document]]]
    ) -> None:
        """Write entities to ``doc.ents`` (or ``doc.spans``), relations to ``doc._.relations``."""
        from spacy.tokens import Span

        for doc, results in zip(docs, predictions, strict=True):
            spans: list[tuple[int, int, str]] = []
            scores: list[float | None] = []
            relations: list[dict[str, Any]] = []
            for index, predicted in results:
                local = [(index[e.start], index[e.end - 1] + 1, e.type) for e in predicted.entities]
                spans.extend(local)
                scores.extend(e.score for e in predicted.entities)
                relations.extend(
                    {
                        "head": local[r.head],
                        "tail": local[r.tail],
                        "type": r.type,
                        "score": r.score,
                    }
                    for r in predicted.relations
                )
            ordered = sorted(spans)
            overlapping = any(b[0] < a[1] for a, b in zip(ordered, ordered[1:], strict=False))
            made = [Span(doc, start, end, label=label) for start, end, label in spans]
            if overlapping:
                doc.ents = []
                doc.spans[self.spans_key] = made
                doc.spans[self.spans_key].attrs["scores"] = scores
            else:
                doc.ents = made
                if self.spans_key in doc.spans:  # an earlier pass's overlapping entities
                    del doc.spans[self.spans_key]
            doc._.relations = relations


@Language.factory(
    "spertmt",
    default_config={
        "model": None,
        "batch_size": 32,
        "device": None,
        "spans_key": SPANS_KEY,
        **dict.fromkeys(_DECISION_KEYS),
    },
)
def make_spertmt(
    nlp: Language,
    name: str,
    model: str | None,
    batch_size: int,
    device: str | None,
    spans_key: str,
    entity_threshold: float | None,
    entity_score: str | None,
    iou_threshold: float | None,
    entity_overlap: str | None,
    relation_threshold: float | None,
    relation_binary_threshold: float | None,
) -> SpertMTComponent:
    """Make the ``spertmt`` component: load the checkpoint ``model`` (see the module docstring).

    Raises:
        InputError: ``E505`` when ``model`` is not given, or for a bad decision-rule value.
        CheckpointError: When ``model`` is not a loadable checkpoint (``E301``-``E306``).
        ConfigError: For a bad device (``E209``).
    """
    from spertmt.errors import InputError
    from spertmt.inference.api import SpertMT

    if not model:
        raise InputError(
            'the spertmt component needs a checkpoint: nlp.add_pipe("spertmt", '
            'config={"model": "runs/spert/model"})',
            code="E505",
        )
    decision = {
        "entity_threshold": entity_threshold,
        "entity_score": entity_score,
        "iou_threshold": iou_threshold,
        "entity_overlap": entity_overlap,
        "relation_threshold": relation_threshold,
        "relation_binary_threshold": relation_binary_threshold,
    }
    loaded = SpertMT.from_pretrained(model, device=device)
    return SpertMTComponent(
        nlp, name, loaded, batch_size=batch_size, spans_key=spans_key, decision=decision
    )
