"""The Python facade: :class:`SpertMT` loads a checkpoint and predicts, streams and evaluates.

A thin layer over :mod:`spertmt.model.checkpoint`, :mod:`spertmt.inference.predictor`,
:mod:`spertmt.inference.planning` and :mod:`spertmt.evaluation.metrics`. It takes raw text,
token lists and documents, one or many, and always returns new
:class:`~spertmt.schema.Document` objects; its inputs are never modified.

Example:
    >>> from spertmt import SpertMT
    >>> model = SpertMT.from_pretrained("runs/spert/model")           # doctest: +SKIP
    >>> doc = model.predict("John Smith lives in Paris.")               # doctest: +SKIP
    >>> [(e.text, e.type, e.char_start) for e in doc.entities]         # doctest: +SKIP
    [('John Smith', 'Peop', 0), ('Paris', 'Loc', 20)]

"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import torch

from spertmt.config import DecisionRule, ModelConfig
from spertmt.errors import ConfigError, InputError
from spertmt.inference.planning import MAX_SENTENCE_WORDS, given_lists, merge, plan_input
from spertmt.inference.predictor import (
    MAX_PAIRS,
    PairLimitError,
    PairProgressHook,
    Predictor,
    ProgressHook,
)
from spertmt.model.checkpoint import (
    CheckpointMetadata,
    checkpoint_types_file,
    load_checkpoint,
    save_checkpoint,
)
from spertmt.schema import Document, Entity, TypeSchema

if TYPE_CHECKING:
    from spertmt.evaluation.metrics import EvalReport
    from spertmt.model.spert import SpertMTModel
    from spertmt.runtime.engines import Projections, Runtime
    from spertmt.runtime.precision import Precision

__all__ = [
    "DECISION_OPTIONS",
    "MAX_SENTENCE_WORDS",
    "PredictInput",
    "SpertMT",
    "check_batch_size",
]

DECISION_OPTIONS = tuple(f.name for f in dataclasses.fields(DecisionRule))
"""The decision-rule fields that :meth:`SpertMT.predict`, :meth:`~SpertMT.pipe` and
:meth:`~SpertMT.evaluate` take as keyword options for one call."""

PredictInput: TypeAlias = "str | Sequence[str] | Document"
"""One prediction input: raw text, a token list, or a :class:`Document`."""

CHUNK_FACTOR = 8
""":meth:`SpertMT.pipe` (and ``spertmt predict``) read ``CHUNK_FACTOR × batch_size`` inputs at
a time."""


class SpertMT:
    """A trained entity and relation extractor: predict, stream, evaluate, save.

    Build it with :meth:`from_pretrained` (a checkpoint folder written by ``spertmt train``
    or :meth:`save_pretrained`), or wrap a model and tokenizer you already hold.

    Calls on one instance are serialised by a lock, so a single instance can be shared by
    threads (e.g. a server's request handlers). The decision rule is a value
    (:class:`~spertmt.config.DecisionRule`): each call may override any of its fields
    (``entity_threshold=``, ``entity_overlap="resolve"``, ...), and an override applies to
    that call only.

    Args:
        model: The model (:class:`~spertmt.model.spert.SpertMTModel`); it is put in eval mode.
        tokenizer: Its fast tokenizer (:func:`spertmt.encoding.encoders.load_tokenizer`).
        rule: The default decision rule (the checkpoint's, when loaded from one).
        metadata: What the checkpoint said about itself, when loaded from one.
        precision: The default arithmetic: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"auto"``
            (:mod:`spertmt.runtime.precision`).

    Example:
        >>> model = SpertMT.from_pretrained("runs/spert/model")        # doctest: +SKIP
        >>> model.types.entity_names                                     # doctest: +SKIP
        ('Loc', 'Org', 'Peop', 'Other')

    """

    def __init__(
        self,
        model: SpertMTModel,
        tokenizer: Any,
        *,
        rule: DecisionRule | None = None,
        metadata: CheckpointMetadata | None = None,
        precision: str = "fp32",
    ) -> None:
        self._predictor = Predictor(model, tokenizer, rule)
        self._predictor.precision = self._resolve_precision(precision)
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
        rule: DecisionRule | None = None,
        verify: bool = True,
        precision: str = "fp32",
        **decision: Any,
    ) -> SpertMT:
        """Load a checkpoint folder.

        Args:
            path: Checkpoint folder (``runs/<name>/model``, or one written by
                :meth:`save_pretrained`).
            device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a :class:`torch.device`;
                ``None`` picks CUDA when available, else the CPU (always the CPU with
                ``quantize`` or ``onnx``).
            quantize: Quantise the encoder's linear layers to int8 (dynamic quantisation,
                CPU only; the heads stay float, and so do the encoder's feed-forward output
                projections: fp32, or bf16 with ``precision="bf16"``, or with ``"auto"`` on a
                CPU with native bf16). Faster on CPUs, scores change slightly
                (``docs/speed.md``).
            onnx: Run the encoder with ONNX Runtime from this export of the same checkpoint
                (a ``.onnx`` file written by ``spertmt export``, or its folder); the heads stay
                in PyTorch. CPU only; needs ``pip install 'spertmt[onnx]'``.
            rule: Default decision rule instead of the checkpoint's.
            verify: Check the weights file against the SHA-256 its ``config.json`` records
                (``False`` saves a fraction of a second on large encoders).
            precision: Default arithmetic of prediction: ``"fp32"``; ``"bf16"`` autocast on
                a CPU with AMX or AVX512-BF16 or a bf16 GPU; ``"fp16"`` autocast on CUDA;
                ``"auto"`` (bf16 where native, else fp32). Weights stay fp32 and scores come
                back as fp32; results can differ slightly from fp32 (``docs/speed.md``).
                With ``quantize``, it is the arithmetic of the projections int8 leaves out
                (``fp32``, ``bf16``, or ``auto``: bf16 where native); the model's runtime
                is then ``"torch-int8-bf16"`` and its precision ``"fp32"`` (no autocast).
            **decision: Fields of the default decision rule to change (see
                :data:`DECISION_OPTIONS`), e.g. ``entity_overlap="resolve"``.

        Returns:
            The loaded model, in eval mode, on ``device``.

        Raises:
            CheckpointError: If the folder is missing, incomplete, damaged or of an unknown
                format (``E301``-``E306``); for an ONNX file that is not a spertmt export
                (``E320``) or was exported from other weights (``E321``).
            ConfigError: For an unknown device string, or CUDA on a machine without it
                (``E209``); ``quantize``/``onnx`` with a non-CPU device (``E230``) or both
                together (``E231``); ``onnx`` without ONNX Runtime installed (``E232``); a
                precision the device cannot run (``E234``) or a 16-bit one with ``onnx``
                (``E235``).

        Example:
            >>> model = SpertMT.from_pretrained("runs/spert/model", device="cpu")  # doctest: +SKIP
            >>> model.device                                                      # doctest: +SKIP
            device(type='cpu')
            >>> fast = SpertMT.from_pretrained("runs/spert/model", quantize=True)  # doctest: +SKIP
            >>> fast.runtime                                                      # doctest: +SKIP
            'torch-int8'
            >>> mixed = SpertMT.from_pretrained("runs/spert/model", quantize=True,
            ...                                 precision="bf16")              # doctest: +SKIP
            >>> mixed.runtime                                                     # doctest: +SKIP
            'torch-int8-bf16'

        """
        from spertmt.runtime.devices import inference_device
        from spertmt.runtime.engines import prepare_for_inference

        chosen = inference_device(device, quantize=quantize, onnx=onnx)
        projections: Projections = "fp32"
        if quantize and onnx is None and precision != "fp32" and chosen.type == "cpu":
            # int8 with a 16-bit precision: the projections kept out of int8 run in bf16
            # (where native: E234 otherwise; auto: bf16 where native); no autocast around it.
            from spertmt.runtime.precision import resolve_precision

            projections = "bf16" if resolve_precision(precision, chosen).name == "bf16" else "fp32"
            precision = "fp32"
        checkpoint = load_checkpoint(path, device=chosen, verify=verify)
        prepare_for_inference(
            checkpoint.model,
            device=chosen,
            quantize=quantize,
            onnx=onnx,
            checkpoint_dir=path,
            projections=projections,
        )
        loaded = cls(
            checkpoint.model,
            checkpoint.tokenizer,
            rule=rule if rule is not None else checkpoint.rule,
            metadata=checkpoint.metadata,
            precision=precision,
        )
        if decision:
            loaded._predictor.rule = loaded.rule_for(**decision)
        return loaded

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the model as a checkpoint folder (see :mod:`spertmt.model.checkpoint`).

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
                self._predictor.model,
                self._predictor.tokenizer,
                types=self.types,
                model_config=self._predictor.model.config,
                rule=self.rule,
                training=training,
            )

    # ------------------------------------------------------------------ properties
    @property
    def types(self) -> TypeSchema:
        """The entity and relation types the model predicts."""
        return self._predictor.model.types

    @property
    def config(self) -> ModelConfig:
        """The model's architecture and loss weights."""
        return self._predictor.model.config

    @property
    def rule(self) -> DecisionRule:
        """The default decision rule (per-call options override it for that call only)."""
        return self._predictor.rule

    @property
    def predictor(self) -> Predictor:
        """The :class:`~spertmt.inference.predictor.Predictor` behind this facade.

        It takes documents as word tokens and returns predictions, under any rule. Calls on
        it are not serialised by this facade's lock: share the facade between threads, not
        the predictor.
        """
        return self._predictor

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return self._predictor.device

    @property
    def runtime(self) -> Runtime:
        """How the encoder runs: ``torch``, ``torch-int8``, ``torch-int8-bf16`` or ``onnxruntime``.

        ``torch-int8`` is the quantised encoder, ``torch-int8-bf16`` the same with its
        feed-forward output projections in bf16.
        """
        from spertmt.runtime.engines import runtime_of

        return runtime_of(self._predictor.model)

    @property
    def precision(self) -> str:
        """The default arithmetic of prediction (``"fp32"``, ``"bf16"`` or ``"fp16"``)."""
        return self._predictor.precision.name

    @property
    def metadata(self) -> CheckpointMetadata | None:
        """What the checkpoint said about itself (versions, training record), if loaded."""
        return self._metadata

    @property
    def model(self) -> SpertMTModel:
        """The underlying :class:`~spertmt.model.spert.SpertMTModel`."""
        return self._predictor.model

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer."""
        return self._predictor.tokenizer

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
        entities: Sequence[Entity] | None = ...,
        rule: DecisionRule | None = ...,
        precision: str | None = ...,
        max_pairs: int | None = ...,
        pair_progress: PairProgressHook | None = ...,
        **decision: Any,
    ) -> Document: ...

    @overload
    def predict(
        self,
        inputs: list[PredictInput] | tuple[PredictInput, ...],
        *,
        batch_size: int = ...,
        entities: Sequence[Sequence[Entity]] | None = ...,
        rule: DecisionRule | None = ...,
        precision: str | None = ...,
        max_pairs: int | None = ...,
        pair_progress: PairProgressHook | None = ...,
        **decision: Any,
    ) -> list[Document]: ...

    def predict(
        self,
        inputs: str | Document | list[PredictInput] | tuple[PredictInput, ...],
        *,
        batch_size: int = 32,
        entities: Sequence[Entity] | Sequence[Sequence[Entity]] | None = None,
        rule: DecisionRule | None = None,
        precision: str | None = None,
        max_pairs: int | None = None,
        pair_progress: PairProgressHook | None = None,
        **decision: Any,
    ) -> Document | list[Document]:
        """Predict entities and relations for raw text, token lists or documents.

        Input kinds, freely mixed in a list:

        - ``str``: raw text. It is split into sentences and tokenised
          (:func:`spertmt.data.text.tokenize_text`); the model runs per sentence and the sentences
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
            entities: Relation-only mode: the known entities, as word spans into each input's
                tokens (for raw text: the words of ``tokenize_text(text)``, all sentences
                together). For one input a list of entities; for a list of inputs a list with
                one entity list per input. The entities are returned as given, in the order
                given (with character offsets added for raw text) and only relations are
                predicted, between entities of the same sentence.
            rule: Decision rule for this call instead of the model's (:attr:`rule`).
            precision: Arithmetic for this call instead of the model's (:attr:`precision`),
                as in :meth:`from_pretrained`.
            max_pairs: Most ordered entity pairs (``k·(k-1)`` for ``k`` entities) that one
                sentence or document may hold; default
                :data:`~spertmt.inference.predictor.MAX_PAIRS` (about 3,160 entities).
            pair_progress: Called with ``(pairs scored, pairs to score)`` while a batch with
                many pairs is scored block by block (a long document with many entities).
            **decision: Decision-rule fields for this call only (:data:`DECISION_OPTIONS`):
                ``entity_threshold`` (τ_e; models with the binary entity head, or the IoU
                head in ``product`` mode), ``entity_score`` (``"gate"``/``"product"``),
                ``iou_threshold``, ``entity_overlap`` (``"allow"``/``"resolve"``),
                ``relation_threshold`` (SpERT: 0.4), ``relation_binary_threshold``; ``None``
                keeps the field.

        Returns:
            A :class:`Document` for one input; a list of them, in input order, for a list.
            Entities are sorted by span (except in relation-only mode) and carry a ``score``;
            relations index the document's ``entities`` and carry a ``score``.

        Raises:
            InputError: ``E501`` for an input of another kind, ``E502`` for a token that is
                not a string, ``E503`` when ``entities`` does not match the inputs, ``E504``
                for an invalid given entity, ``E505`` for a bad option value, ``E506`` for a
                document whose ``token_offsets`` do not fit its tokens (``E505`` also for an
                unknown or invalid decision option), ``E507`` for raw text
                that is not valid Unicode (a lone surrogate), ``E508``
                (:class:`~spertmt.inference.predictor.PairLimitError`) for an input whose
                given or predicted entities make more than ``max_pairs`` pairs. Each message
                names the input index.

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
        chosen = self._call_options(rule, decision, batch_size)
        arithmetic = self._resolve_precision(precision)
        given = None
        if entities is not None:
            given = given_lists(entities, len(items), single=single)
        results = self._run(
            items,
            given,
            first_index=0,
            batch_size=batch_size,
            rule=chosen,
            precision=arithmetic,
            max_pairs=max_pairs,
            pair_progress=pair_progress,
        )
        return results[0] if single else results

    def pipe(
        self,
        inputs: Iterable[PredictInput],
        *,
        batch_size: int = 32,
        rule: DecisionRule | None = None,
        precision: str | None = None,
        **decision: Any,
    ) -> Iterator[Document]:
        """Predict a stream of inputs lazily, in input order.

        Reads ``8 × batch_size`` inputs at a time, predicts them and yields their documents
        before reading more, so a stream larger than memory can be processed. Each element is
        one input, of any kind :meth:`predict` accepts (raw text, token list, Document), and
        gives exactly what ``predict([element])[0]`` would.

        Args:
            inputs: Any iterable of inputs (a list, a generator, a file's lines, ...).
            batch_size: Sentences per forward pass.
            rule: Decision rule for this stream instead of the model's.
            precision: Arithmetic for this stream instead of the model's.
            **decision: Decision-rule fields for this stream only, as in :meth:`predict`.

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
        chosen = self._call_options(rule, decision, batch_size)
        arithmetic = self._resolve_precision(precision)
        return self._stream(iter(inputs), batch_size=batch_size, rule=chosen, precision=arithmetic)

    def _stream(
        self, iterator: Iterator[Any], *, batch_size: int, rule: DecisionRule, precision: Precision
    ) -> Iterator[Document]:
        first = 0
        while chunk := list(itertools.islice(iterator, CHUNK_FACTOR * batch_size)):
            yield from self._run(
                chunk,
                None,
                first_index=first,
                batch_size=batch_size,
                rule=rule,
                precision=precision,
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
        rule: DecisionRule | None = None,
        progress: ProgressHook | None = None,
        precision: str | None = None,
        **decision: Any,
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
            rule: Decision rule for this evaluation instead of the model's.
            progress: Called with the number of documents finished after each batch.
            precision: Arithmetic for this evaluation instead of the model's.
            **decision: Decision-rule fields for this evaluation only, as in :meth:`predict`.

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
        from spertmt.evaluation.metrics import evaluate_documents

        chosen = self._call_options(rule, decision, batch_size)
        arithmetic = self._resolve_precision(precision)
        gold = self.gold_documents(docs_or_path, data_dir=data_dir)
        with self._lock:
            predictions = self._predictor.predict(
                gold, rule=chosen, batch_size=batch_size, progress=progress, precision=arithmetic
            )
        return evaluate_documents(gold, predictions, self.types, no_overlap=no_overlap)

    def gold_documents(
        self, docs_or_path: str | Path | Sequence[Document], *, data_dir: str | Path | None = None
    ) -> list[Document]:
        """The gold documents :meth:`evaluate` scores: read and checked as it reads them.

        Args:
            docs_or_path: Gold documents, a SpERT JSON/JSONL file, or a built-in dataset split.
            data_dir: Folder of the built-in datasets (default ``$SPERTMT_DATA_DIR`` or the
                cache).

        Returns:
            The documents, validated against the model's types.

        Raises:
            DataError: For a missing or invalid file, an unknown dataset, or gold types the
                model does not know.
            InputError: ``E501`` when a list element is not a :class:`Document`.
        """
        from spertmt.data.datasets import resolve_dataset
        from spertmt.data.io import read_documents

        if isinstance(docs_or_path, (str, Path)):
            types_file = None
            if self._metadata is not None:
                types_file = checkpoint_types_file(self._metadata.path)
            resolved = resolve_dataset(docs_or_path, data_dir=data_dir, types=types_file)
            return read_documents(resolved.path, types=self.types)
        gold = list(docs_or_path)
        for index, doc in enumerate(gold):
            if not isinstance(doc, Document):
                raise InputError(
                    f"input {index} is a {type(doc).__name__}, not a Document; evaluate() and "
                    "gold_documents() take gold Documents or the path of a data file",
                    code="E501",
                )
        return gold

    # ------------------------------------------------------------------ internals
    def _run(
        self,
        items: Sequence[Any],
        given: Sequence[tuple[Entity, ...]] | None,
        *,
        first_index: int,
        batch_size: int,
        rule: DecisionRule,
        precision: Precision,
        max_pairs: int | None = None,
        pair_progress: PairProgressHook | None = None,
    ) -> list[Document]:
        """Predict a list of inputs: plan each, run every unit in one call, merge back."""
        plans = [
            plan_input(item, first_index + i, None if given is None else given[i], self.types)
            for i, item in enumerate(items)
        ]
        relation_only = given is not None
        # In relation-only mode a unit with fewer than two entities can hold no relation.
        runs = [
            not relation_only or len(unit.entities) >= 2 for plan in plans for unit in plan.units
        ]
        units = [unit for plan in plans for unit in plan.units]
        to_model = [unit for unit, run in zip(units, runs, strict=True) if run]
        try:
            with self._lock:
                predicted = self._predictor.predict(
                    to_model,
                    rule=rule,
                    batch_size=batch_size,
                    given_entities=relation_only,
                    precision=precision,
                    max_pairs=MAX_PAIRS if max_pairs is None else max_pairs,
                    pair_progress=pair_progress,
                )
        except PairLimitError as error:
            # Name the input (and its sentence) rather than the predictor's unit number.
            owners = [
                (i, number) for i, plan in enumerate(plans) for number in range(len(plan.units))
            ]
            i, number = [o for o, run in zip(owners, runs, strict=True) if run][error.position]
            orig = plans[i].orig_id
            where = f"input {first_index + i}" + (f" (orig_id {orig})" if orig is not None else "")
            if len(plans[i].units) > 1:
                where += f", sentence {number + 1}"
            raise error.moved(where, first_index + i) from None
        outputs = iter(predicted)
        per_unit = [next(outputs) if run else unit for unit, run in zip(units, runs, strict=True)]
        results = []
        position = 0
        for plan in plans:
            count = len(plan.units)
            results.append(merge(plan, per_unit[position : position + count]))
            position += count
        return results

    def rule_for(self, rule: DecisionRule | None = None, **decision: Any) -> DecisionRule:
        """The decision rule a call with these options uses, checked as :meth:`predict` does.

        ``rule`` (or :attr:`rule`) with the ``decision`` fields applied.

        Raises:
            InputError: ``E505`` for an unknown option, a bad value, or an entity threshold
                this model cannot use.

        Example:
            >>> model.rule_for(entity_overlap="resolve").entity_overlap  # doctest: +SKIP
            'resolve'
        """
        base = rule if rule is not None else self.rule
        if not isinstance(base, DecisionRule):
            raise InputError(
                f"rule must be a DecisionRule, got a {type(base).__name__}", code="E505"
            )
        for name, value in decision.items():
            if name not in DECISION_OPTIONS:
                close = difflib.get_close_matches(name, DECISION_OPTIONS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(
                    f"unknown option {name!r}{hint}; the decision options are "
                    f"{', '.join(DECISION_OPTIONS)}",
                    code="E505",
                )
            if isinstance(value, bool) or (
                value is not None
                and name.endswith("threshold")
                and not isinstance(value, (int, float))
            ):
                raise InputError(
                    f"option {name}: must be a number in [0, 1] or None, got {value!r}",
                    code="E505",
                )
        try:
            chosen = base.replace(**decision)
        except ConfigError as error:
            raise InputError(
                error.message.replace("config key decision.", "option "), code="E505"
            ) from None
        if decision.get("entity_threshold") is not None and not chosen.uses_entity_threshold(
            self._predictor.model.config
        ):
            # Silently ignoring it would look like a threshold that has no effect.
            raise InputError(
                "entity_threshold has no effect on this model: it decides entities by arg-max "
                "(entity_binary_head is off and the IoU head is not in product mode); leave "
                "entity_threshold unset",
                code="E505",
            )
        return chosen

    def _resolve_precision(self, precision: str | None) -> Precision:
        """The precision of a call: ``precision`` checked against the model, or the default.

        Raises:
            ConfigError: ``E203`` unknown name, ``E234`` unsupported here, ``E235`` with
                the int8 or ONNX runtime.
        """
        if precision is None:
            return self._predictor.precision
        from spertmt.runtime.engines import runtime_of
        from spertmt.runtime.precision import resolve_precision

        runtime = runtime_of(self._predictor.model)
        return resolve_precision(
            precision,
            self._predictor.device,
            quantize=runtime.startswith("torch-int8"),
            onnx=runtime if runtime == "onnxruntime" else None,
        )

    def _call_options(
        self, rule: DecisionRule | None, decision: dict[str, Any], batch_size: Any
    ) -> DecisionRule:
        """Check a call's options at once (before any input is read); return its rule."""
        chosen = self.rule_for(rule, **decision)
        check_batch_size(batch_size)
        return chosen


def check_batch_size(batch_size: Any) -> None:
    """``E505`` unless ``batch_size`` is a positive integer (checked before any input is read).

    Raises:
        InputError: ``E505`` for zero, a negative number, a bool or a non-integer.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}", code="E505")
