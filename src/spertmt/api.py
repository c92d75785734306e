"""The Python facade: :class:`SpertMT` loads a checkpoint and predicts, streams and evaluates.

A thin layer over :mod:`spertmt.checkpoint`, :mod:`spertmt.prediction`, :mod:`spertmt.text`
and :mod:`spertmt.metrics`. It takes raw text, token lists and documents, one or many, and
always returns new :class:`~spertmt.schema.Document` objects; its inputs are never modified.

Example:
    >>> from spertmt import SpertMT
    >>> model = SpertMT.from_pretrained("runs/spert/model")           # doctest: +SKIP
    >>> doc = model.predict("John Smith lives in Paris.")               # doctest: +SKIP
    >>> [(e.text, e.type, e.char_start) for e in doc.entities]         # doctest: +SKIP
    [('John Smith', 'Peop', 0), ('Paris', 'Loc', 20)]

"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import torch

from spertmt.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
from spertmt.config import ModelConfig
from spertmt.errors import InputError
from spertmt.prediction import predict_documents
from spertmt.schema import Document, Entity, Relation, TypeSchema
from spertmt.text import tokenize_text

if TYPE_CHECKING:
    from spertmt.metrics import EvalReport
    from spertmt.model.spert import SpertMTModel
    from spertmt.runtime import Runtime

__all__ = ["MAX_SENTENCE_WORDS", "PredictInput", "SpertMT"]

PredictInput: TypeAlias = "str | Sequence[str] | Document"
"""One prediction input: raw text, a token list, or a :class:`Document`."""

MAX_SENTENCE_WORDS = 256
"""Raw-text sentences longer than this many words are cut into pieces before prediction.

A guard against text without sentence punctuation, whose single "sentence" would make the
span grid (words × ``max_span_width``) and the entity pairs grow without bound. Benchmark
sentences are far shorter (CoNLL04, SciERC and ADE stay under 130 words).
"""

_CHUNK_FACTOR = 8
""":meth:`SpertMT.pipe` reads ``_CHUNK_FACTOR × batch_size`` inputs at a time."""


@dataclass(frozen=True)
class _Plan:
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


class SpertMT:
    """A trained entity and relation extractor: predict, stream, evaluate, save.

    Build it with :meth:`from_pretrained` (a checkpoint folder written by ``spertmt train``
    or :meth:`save_pretrained`), or wrap a model and tokenizer you already hold.

    Calls on one instance are serialised by a lock, so a single instance can be shared by
    threads (e.g. a server's request handlers) and per-call thresholds never leak between them.

    Args:
        model: The model (:class:`~spertmt.model.spert.SpertMTModel`); it is put in eval mode.
        tokenizer: Its fast tokenizer (:func:`spertmt.encoder.load_tokenizer`).
        metadata: What the checkpoint said about itself, when loaded from one.

    Example:
        >>> model = SpertMT.from_pretrained("runs/spert/model")        # doctest: +SKIP
        >>> model.types.entity_names                                     # doctest: +SKIP
        ('Loc', 'Org', 'Peop', 'Other')

    """

    def __init__(
        self, model: SpertMTModel, tokenizer: Any, *, metadata: CheckpointMetadata | None = None
    ) -> None:
        self._model = model.eval()
        self._tokenizer = tokenizer
        self._metadata = metadata
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        device: str | torch.device | None = None,
        quantize: bool = False,
        onnx: str | Path | None = None,
    ) -> SpertMT:
        """Load a checkpoint folder.

        Args:
            path: Checkpoint folder (``runs/<name>/model``, or one written by
                :meth:`save_pretrained`).
            device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a :class:`torch.device`;
                ``None`` picks CUDA when available, else the CPU (always the CPU with
                ``quantize`` or ``onnx``).
            quantize: Quantise the encoder's linear layers to int8 (dynamic quantisation,
                CPU only; the heads stay float). Faster on CPUs, scores change slightly
                (``docs/speed.md``).
            onnx: Run the encoder with ONNX Runtime from this export of the same checkpoint
                (a ``.onnx`` file written by ``spertmt export``, or its folder); the heads stay
                in PyTorch. CPU only; needs ``pip install 'spertmt[onnx]'``.

        Returns:
            The loaded model, in eval mode, on ``device``.

        Raises:
            CheckpointError: If the folder is missing, incomplete, damaged or of an unknown
                format (``E301``-``E306``); for an ONNX file that is not a spertmt export
                (``E320``) or was exported from other weights (``E321``).
            ConfigError: For an unknown device string, or CUDA on a machine without it
                (``E209``); ``quantize``/``onnx`` with a non-CPU device (``E230``) or both
                together (``E231``); ``onnx`` without ONNX Runtime installed (``E232``).

        Example:
            >>> model = SpertMT.from_pretrained("runs/spert/model", device="cpu")  # doctest: +SKIP
            >>> model.device                                                      # doctest: +SKIP
            device(type='cpu')
            >>> fast = SpertMT.from_pretrained("runs/spert/model", quantize=True)  # doctest: +SKIP
            >>> fast.runtime                                                      # doctest: +SKIP
            'torch-int8'

        """
        from spertmt.runtime import inference_device, prepare_for_inference

        chosen = inference_device(device, quantize=quantize, onnx=onnx)
        model, tokenizer, _, _, metadata = load_checkpoint(path, device=chosen)
        prepare_for_inference(
            model, device=chosen, quantize=quantize, onnx=onnx, checkpoint_dir=path
        )
        return cls(model, tokenizer, metadata=metadata)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the model as a checkpoint folder (see :mod:`spertmt.checkpoint`).

        The training record of the checkpoint it was loaded from (``training.json``) is
        written again, so a copy keeps its model card.

        Args:
            path: Target folder; an existing checkpoint there is replaced atomically.

        Returns:
            The checkpoint folder.

        Raises:
            CheckpointError: If ``path`` is a file or a non-empty folder that is not a
                checkpoint (``E308``); for a quantised or ONNX Runtime model, whose encoder
                weights are no longer the float ones (``E322``).

        Example:
            >>> model.save_pretrained("exported/spert-conll04")  # doctest: +SKIP
            PosixPath('exported/spert-conll04')

        """
        if self.runtime != "torch":
            from spertmt.errors import CheckpointError

            raise CheckpointError(
                f"this model runs its encoder as {self.runtime!r}, whose weights cannot be saved "
                "as a checkpoint; load the checkpoint without quantize/onnx and save that",
                code="E322",
                path=path,
            )
        training = self._metadata.training if self._metadata is not None else None
        with self._lock:
            return save_checkpoint(
                path,
                self._model,
                self._tokenizer,
                types=self.types,
                model_config=self._model.config,
                training=training,
            )

    # ------------------------------------------------------------------ properties
    @property
    def types(self) -> TypeSchema:
        """The entity and relation types the model predicts."""
        return self._model.types

    @property
    def config(self) -> ModelConfig:
        """The model's configuration (architecture and decision thresholds)."""
        return self._model.config

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self._model.parameters()).device

    @property
    def runtime(self) -> Runtime:
        """How the encoder runs: ``"torch"``, ``"torch-int8"`` (quantised) or ``"onnxruntime"``."""
        from spertmt.runtime import runtime_of

        return runtime_of(self._model)

    @property
    def metadata(self) -> CheckpointMetadata | None:
        """What the checkpoint said about itself (versions, training record), if loaded."""
        return self._metadata

    @property
    def model(self) -> SpertMTModel:
        """The underlying :class:`~spertmt.model.spert.SpertMTModel`."""
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer."""
        return self._tokenizer

    def __repr__(self) -> str:
        return (
            f"SpertMT(encoder={self.config.encoder!r}, "
            f"entity_types={list(self.types.entity_names)}, "
            f"relation_types={list(self.types.relation_names)}, device='{self.device}')"
        )

    # ------------------------------------------------------------------ prediction
    @overload
    def predict(
        self,
        inputs: str | Document,
        *,
        batch_size: int = ...,
        entity_threshold: float | None = ...,
        relation_threshold: float | None = ...,
        entities: Sequence[Entity] | None = ...,
    ) -> Document: ...

    @overload
    def predict(
        self,
        inputs: list[PredictInput] | tuple[PredictInput, ...],
        *,
        batch_size: int = ...,
        entity_threshold: float | None = ...,
        relation_threshold: float | None = ...,
        entities: Sequence[Sequence[Entity]] | None = ...,
    ) -> list[Document]: ...

    def predict(
        self,
        inputs: str | Document | list[PredictInput] | tuple[PredictInput, ...],
        *,
        batch_size: int = 32,
        entity_threshold: float | None = None,
        relation_threshold: float | None = None,
        entities: Sequence[Entity] | Sequence[Sequence[Entity]] | None = None,
    ) -> Document | list[Document]:
        """Predict entities and relations for raw text, token lists or documents.

        Input kinds, freely mixed in a list:

        - ``str``: raw text. It is split into sentences and tokenised
          (:func:`spertmt.text.tokenize_text`); the model runs per sentence and the sentences
          are merged back into **one** document for the whole string: ``tokens`` are all its
          words, ``text`` is the string, ``token_offsets`` the ``(char_start, char_end)`` of
          each word, and every entity carries word ``start``/``end`` into ``tokens`` plus
          ``char_start``/``char_end``/``text`` into the string (``text[char_start:char_end]``
          is the entity's ``text``). Relations link entities of the same sentence. Empty or
          whitespace-only text gives a document with no tokens.
        - a token list (``list``/``tuple`` of ``str``, as an element of the input list):
          the words of one sentence; no character offsets.
        - :class:`Document`: only its ``tokens``, ``orig_id``, ``text`` and ``token_offsets``
          are used (gold entities and relations are ignored unless passed as ``entities``);
          entities get character offsets when it carries ``text`` and ``token_offsets``.

        A ``str`` or a ``Document`` on its own is one input and gives one document. A list
        or tuple is always many inputs and gives a list, one document per input in input
        order; so a single token list is passed as ``[tokens]`` or ``Document(tokens)``.

        Args:
            inputs: One input, or a list of inputs.
            batch_size: Sentences per forward pass (sorted by length first).
            entity_threshold: τ_e for this call only (models with the binary entity head, or
                the IoU head in ``product`` mode); ``None`` keeps the model's.
            relation_threshold: Relation threshold for this call only; ``None`` keeps the
                model's (SpERT: 0.4).
            entities: Relation-only mode: the known entities, as word spans into each input's
                tokens (for raw text: the words of ``tokenize_text(text)``, all sentences
                together). For one input a list of entities; for a list of inputs a list with
                one entity list per input. The entities are returned as given, in the order
                given (with character offsets added for raw text) and only relations are
                predicted, between entities of the same sentence.

        Returns:
            A :class:`Document` for one input; a list of them, in input order, for a list.
            Entities are sorted by span (except in relation-only mode) and carry a ``score``;
            relations index the document's ``entities`` and carry a ``score``.

        Raises:
            InputError: ``E501`` for an input of another kind, ``E502`` for a token that is
                not a string, ``E503`` when ``entities`` does not match the inputs, ``E504``
                for an invalid given entity, ``E505`` for a bad option value, ``E506`` for a
                document whose ``token_offsets`` do not fit its tokens, ``E507`` for raw text
                that is not valid Unicode (a lone surrogate). Each message names the input
                index.

        Example:
            >>> doc = model.predict("John Smith lives in Paris. He likes it.")  # doctest: +SKIP
            >>> [(e.text, e.type, e.start, e.end, e.char_start) for e in doc.entities]
            ... # doctest: +SKIP
            [('John Smith', 'Peop', 0, 2, 0), ('Paris', 'Loc', 4, 5, 20)]
            >>> [(r.type, r.head, r.tail) for r in doc.relations]  # doctest: +SKIP
            [('Live_In', 0, 1)]
            >>> docs = model.predict(["Ann met Bob.", ["Rome", "is", "old"]], batch_size=8)
            ... # doctest: +SKIP
            >>> len(docs)  # doctest: +SKIP
            2

        """
        single = isinstance(inputs, (str, Document))
        if single:
            items: list[Any] = [inputs]
        elif isinstance(inputs, (list, tuple)):
            items = list(inputs)
        else:
            raise InputError(
                f"inputs is a {type(inputs).__name__}; pass a str, a Document, or a list of "
                "them (use pipe() for a stream or generator)",
                code="E501",
            )
        given = None
        if entities is not None:
            given = self._given_lists(entities, len(items), single=single)
        results = self._run(
            items,
            given,
            first_index=0,
            batch_size=batch_size,
            entity_threshold=entity_threshold,
            relation_threshold=relation_threshold,
        )
        return results[0] if single else results

    def pipe(
        self,
        inputs: Iterable[PredictInput],
        *,
        batch_size: int = 32,
        entity_threshold: float | None = None,
        relation_threshold: float | None = None,
    ) -> Iterator[Document]:
        """Predict a stream of inputs lazily, in input order.

        Reads ``8 × batch_size`` inputs at a time, predicts them and yields their documents
        before reading more, so a stream larger than memory can be processed. Each element is
        one input, of any kind :meth:`predict` accepts (raw text, token list, Document), and
        gives exactly what ``predict([element])[0]`` would.

        Args:
            inputs: Any iterable of inputs (a list, a generator, a file's lines, ...).
            batch_size: Sentences per forward pass.
            entity_threshold: τ_e for this stream only; ``None`` keeps the model's.
            relation_threshold: Relation threshold for this stream only.

        Returns:
            An iterator of predicted documents, one per input.

        Raises:
            InputError: ``E501`` if ``inputs`` is a single ``str`` or ``Document`` (use
                :meth:`predict`), else as :meth:`predict` for each input, naming its index
                in the stream (raised when the stream reaches it). ``E505`` for a bad option
                value, at once.

        Example:
            >>> with open("news.txt", encoding="utf-8") as lines:              # doctest: +SKIP
            ...     for doc in model.pipe(line.strip() for line in lines):
            ...         print([(e.text, e.type) for e in doc.entities])

        """
        if isinstance(inputs, (str, Document)):
            raise InputError(
                f"pipe() takes an iterable of inputs, got a single {type(inputs).__name__}; "
                "use predict() for one input, or wrap it in a list",
                code="E501",
            )
        self._check_options(batch_size, entity_threshold, relation_threshold)
        return self._stream(
            iter(inputs),
            batch_size=batch_size,
            entity_threshold=entity_threshold,
            relation_threshold=relation_threshold,
        )

    def _stream(
        self,
        iterator: Iterator[Any],
        *,
        batch_size: int,
        entity_threshold: float | None,
        relation_threshold: float | None,
    ) -> Iterator[Document]:
        first = 0
        while chunk := list(itertools.islice(iterator, _CHUNK_FACTOR * batch_size)):
            # Thresholds are swapped per chunk, never across a yield: a paused generator must
            # not leave the shared model with this stream's settings.
            yield from self._run(
                chunk,
                None,
                first_index=first,
                batch_size=batch_size,
                entity_threshold=entity_threshold,
                relation_threshold=relation_threshold,
            )
            first += len(chunk)

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        docs_or_path: str | Path | Sequence[Document],
        *,
        no_overlap: bool = False,
        batch_size: int = 32,
        data_dir: str | Path | None = None,
    ) -> EvalReport:
        """Score the model on gold documents with the SpERT-compatible evaluator.

        Args:
            docs_or_path: Gold documents, a SpERT JSON/JSONL file, or a built-in dataset split
                (``conll04:test``, ``ade:3:test``); files are validated against the model's
                types.
            no_overlap: Score without overlapping entities (ADE's "without overlap" setting).
            batch_size: Documents per forward pass.
            data_dir: Folder of the built-in datasets (default ``$SPERTMT_DATA_DIR`` or the
                cache).

        Returns:
            The report: entities, relations strict and boundaries, micro and macro.

        Raises:
            DataError: For a missing or invalid file, an unknown dataset, or gold types the
                model does not know.
            InputError: ``E501`` when a list element is not a :class:`Document`.

        Example:
            >>> report = model.evaluate("conll04:test")      # doctest: +SKIP
            >>> round(report.relation_strict.micro.f1, 2)    # doctest: +SKIP
            71.47

        """
        from spertmt.data.datasets import resolve_dataset
        from spertmt.data.io import read_documents
        from spertmt.metrics import evaluate_documents

        self._check_options(batch_size, None, None)
        if isinstance(docs_or_path, (str, Path)):
            resolved = resolve_dataset(docs_or_path, data_dir=data_dir)
            gold = read_documents(resolved.path, types=self.types)
        else:
            gold = list(docs_or_path)
            for index, doc in enumerate(gold):
                if not isinstance(doc, Document):
                    raise InputError(
                        f"input {index} is a {type(doc).__name__}, not a Document; evaluate() "
                        "takes gold Documents or the path of a data file",
                        code="E501",
                    )
        with self._lock:
            predictions = predict_documents(
                self._model, self._tokenizer, gold, batch_size=batch_size
            )
        return evaluate_documents(gold, predictions, self.types, no_overlap=no_overlap)

    # ------------------------------------------------------------------ internals
    def _run(
        self,
        items: Sequence[Any],
        given: Sequence[tuple[Entity, ...]] | None,
        *,
        first_index: int,
        batch_size: int,
        entity_threshold: float | None,
        relation_threshold: float | None,
    ) -> list[Document]:
        """Predict a list of inputs: plan each, run every unit in one call, merge back."""
        self._check_options(batch_size, entity_threshold, relation_threshold)
        plans = [
            self._plan(item, first_index + i, None if given is None else given[i])
            for i, item in enumerate(items)
        ]
        relation_only = given is not None
        # In relation-only mode a unit with fewer than two entities can hold no relation.
        runs = [
            not relation_only or len(unit.entities) >= 2 for plan in plans for unit in plan.units
        ]
        units = [unit for plan in plans for unit in plan.units]
        to_model = [unit for unit, run in zip(units, runs, strict=True) if run]
        with self._lock, self._thresholds(entity_threshold, relation_threshold):
            predicted = predict_documents(
                self._model,
                self._tokenizer,
                to_model,
                batch_size=batch_size,
                given_entities=relation_only,
            )
        outputs = iter(predicted)
        per_unit = [next(outputs) if run else unit for unit, run in zip(units, runs, strict=True)]
        results = []
        position = 0
        for plan in plans:
            count = len(plan.units)
            results.append(_merge(plan, per_unit[position : position + count]))
            position += count
        return results

    @contextlib.contextmanager
    def _thresholds(
        self, entity_threshold: float | None, relation_threshold: float | None
    ) -> Iterator[None]:
        """Use other decision thresholds inside the block; the model's config comes back after.

        The decision rule reads ``model.config`` (also inside ``forward``, where relation pairs
        are built from the decided entities), so the override is a replaced copy of the
        frozen config, put back in ``finally`` whatever happens.
        """
        original = self._model.config
        config = original
        if entity_threshold is not None:
            config = dataclasses.replace(config, entity_threshold=float(entity_threshold))
        if relation_threshold is not None:
            config = dataclasses.replace(config, relation_threshold=float(relation_threshold))
        if config is original:
            yield
            return
        self._model.config = config
        try:
            yield
        finally:
            self._model.config = original

    def _check_options(
        self, batch_size: Any, entity_threshold: Any, relation_threshold: Any
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(
                f"batch_size must be a positive integer, got {batch_size!r}", code="E505"
            )
        for name, value in (
            ("entity_threshold", entity_threshold),
            ("relation_threshold", relation_threshold),
        ):
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0.0 <= value <= 1.0)
            ):
                raise InputError(
                    f"{name} must be a number in [0, 1] or None, got {value!r}", code="E505"
                )
        if entity_threshold is not None and not self._model.config.uses_entity_threshold:
            # Silently ignoring it would look like a threshold that has no effect.
            raise InputError(
                "entity_threshold has no effect on this model: it decides entities by arg-max "
                "(entity_binary_head is off and the IoU head is not in product mode); leave "
                "entity_threshold unset",
                code="E505",
            )

    def _given_lists(self, entities: Any, count: int, *, single: bool) -> list[tuple[Entity, ...]]:
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

    def _plan(self, item: Any, index: int, given: tuple[Entity, ...] | None) -> _Plan:
        """Turn one input into model units (one per sentence for raw text)."""
        if isinstance(item, str):
            sentences = tokenize_text(item, max_words=MAX_SENTENCE_WORDS, input_index=index)
            tokens = tuple(t for s in sentences for t in s.tokens)
            offsets: tuple[tuple[int, int], ...] | None = tuple(
                o for s in sentences for o in s.token_offsets or ()
            )
            bases = tuple(itertools.accumulate((len(s.tokens) for s in sentences), initial=0))
            units = tuple(Document(tokens=s.tokens) for s in sentences)
            plan = _Plan(tokens, units, bases[:-1], text=item, token_offsets=offsets)
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
            plan = _Plan(
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
            plan = _Plan(tokens, units, (0,) if tokens else ())
        else:
            raise InputError(
                f"input {index} is a {type(item).__name__}; expected a str (raw text), a list "
                "of str (tokens) or a Document",
                code="E501",
            )
        if given is None:
            return plan
        return self._with_given(plan, given, index)

    def _with_given(self, plan: _Plan, given: tuple[Entity, ...], index: int) -> _Plan:
        """Attach the caller's entities to the units, joining units that an entity spans."""
        names = set(self.types.entity_names)
        for number, entity in enumerate(given):
            where = f"input {index}, entities[{number}]"
            if not isinstance(entity, Entity):
                raise InputError(
                    f"{where} is a {type(entity).__name__}, not an Entity", code="E504"
                )
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
                    "the words are those of spertmt.text.tokenize_text(text), all sentences "
                    "together",
                    code="E504",
                )
        # A sentence boundary that an entity crosses is dropped: both sides become one unit.
        cuts = [c for c in plan.bases[1:] if not any(e.start < c < e.end for e in given)]
        bounds = [0, *cuts, len(plan.tokens)] if plan.tokens else [0]
        units, bases, unit_entities = [], [], []
        order = sorted(range(len(given)), key=lambda i: (given[i].start, given[i].end))
        for begin, end in itertools.pairwise(bounds):
            members = tuple(i for i in order if begin <= given[i].start < end)
            local = tuple(
                dataclasses.replace(
                    given[i], start=given[i].start - begin, end=given[i].end - begin
                )
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


def _merge(plan: _Plan, predicted: Sequence[Document]) -> Document:
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
