"""Checkpoint-level tasks: predict a file, score a checkpoint on a dataset.

:func:`predict_file` reads raw text or tokenised documents (:mod:`spertmt.data.inputs`),
predicts them with :class:`spertmt.SpertMT` and writes SpERT JSON, JSON Lines or an HTML page
(:mod:`spertmt.inference.render`). :func:`evaluate_checkpoint` scores a checkpoint on a dataset
with the SpERT-compatible evaluator. The command line's ``spertmt predict`` and
``spertmt evaluate --model`` are thin calls into them.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from spertmt.errors import ConfigError
from spertmt.inference.api import CHUNK_FACTOR

if TYPE_CHECKING:
    from spertmt.data.inputs import PredictionInputs
    from spertmt.evaluation.metrics import EvalReport
    from spertmt.inference.api import PredictInput, SpertMT
    from spertmt.schema import Document, TypeSchema


OutputFormat = Literal["json", "jsonl", "html"]
"""What ``spertmt predict`` writes: SpERT JSON, JSON Lines, or one HTML page."""

_OUTPUT_SUFFIXES: dict[str, OutputFormat] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".html": "html",
    ".htm": "html",
}


@dataclass(frozen=True)
class PredictSummary:
    """What :func:`predict_file` did.

    Attributes:
        documents: Documents predicted and written (one per non-empty input document).
        entities: Entities in the output.
        relations: Relations in the output.
        blank_lines: Blank lines skipped in line-per-document text input.
        input_format: How the input was read (``text``, ``json`` or ``jsonl``).
        output_format: What was written (``json``, ``jsonl`` or ``html``).
        output: The output file, or ``None`` for standard output.
    """

    documents: int
    entities: int
    relations: int
    blank_lines: int
    input_format: str
    output_format: OutputFormat
    output: Path | None


def output_format_of(path: str | Path | None, requested: str | None = None) -> OutputFormat:
    """Decide what to write: ``requested`` if given, else by the suffix of ``path`` (JSON).

    Args:
        path: The output file; ``None`` (standard output) writes JSON unless requested.
        requested: ``"json"``, ``"jsonl"`` or ``"html"``.

    Returns:
        The output format.

    Raises:
        ConfigError: E210 for an unknown requested format.

    Example:
        >>> output_format_of("out.jsonl"), output_format_of(None), output_format_of("a", "html")
        ('jsonl', 'json', 'html')

    """
    if requested is not None:
        if requested not in ("json", "jsonl", "html"):
            raise ConfigError(
                f"unknown output format {requested!r}; use json, jsonl or html", code="E210"
            )
        return requested  # type: ignore[return-value]
    if path is None:
        return "json"
    return _OUTPUT_SUFFIXES.get(Path(path).suffix.lower(), "json")


def predict_file(
    model_dir: str | Path,
    input_path: str | Path,
    output_path: str | Path | None = None,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    whole_file: bool = False,
    given_entities: bool = False,
    decision: Mapping[str, Any] | None = None,
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = False,
    quantize: bool = False,
    onnx: str | Path | None = None,
    precision: str = "fp32",
) -> PredictSummary:
    """Predict entities and relations for a file of raw text or tokenised documents.

    Input (see :mod:`spertmt.data.inputs`): raw text (``.txt``, or ``-`` for standard input,
    which takes JSON or JSON Lines too with ``input_format``),
    one document per line or the whole file as one document; or SpERT JSON / JSON Lines,
    whose ``tokens`` and ``orig_id`` are used (their entities only with ``given_entities``,
    their relations never). Output: one document per non-empty input document, in input
    order, as SpERT JSON or JSON Lines with a ``score`` on every prediction, or as one HTML
    page. Raw-text documents also carry their ``text`` (and their line number as
    ``orig_id``), and each entity its ``char_start``, ``char_end`` and ``text``.

    Args:
        model_dir: Checkpoint folder (e.g. ``runs/<name>/model``).
        input_path: The input file, or ``-`` for standard input (raw text unless
            ``input_format`` says otherwise).
        output_path: Where to write; ``None`` writes to standard output. Files are written
            atomically.
        input_format: ``"text"``, ``"json"`` or ``"jsonl"``; ``None`` decides by suffix.
        output_format: ``"json"``, ``"jsonl"`` or ``"html"``; ``None`` decides by the suffix of
            ``output_path`` (JSON when unknown or writing to standard output).
        whole_file: Raw text: the whole input is one document.
        given_entities: Relation-only mode: keep the input's entities (checked against the
            model's types) and predict only the relations between them.
        decision: Decision-rule fields for this run (``{"entity_overlap": "resolve"}``;
            see :data:`spertmt.inference.api.DECISION_OPTIONS`); the rest is the checkpoint's rule.
        batch_size: Sentences per forward pass.
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when available (the CPU
            with ``quantize`` or ``onnx``).
        progress: Show a progress bar (on standard error).
        quantize: Quantise the encoder to int8 (CPU only; see :mod:`spertmt.runtime.engines`).
        onnx: Run the encoder from this ONNX export of the checkpoint (CPU only).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (:mod:`spertmt.runtime.precision`).

    Returns:
        What was written.

    Raises:
        CheckpointError: If the model folder cannot be loaded.
        ConfigError: E210/E211 for an unknown format or options that do not fit the input;
            E230-E232 for ``quantize``/``onnx`` that cannot run (see
            :mod:`spertmt.runtime.engines`); E234/E235 for a precision that cannot.
        DataError: If the input is missing, not UTF-8, or malformed (naming file, document
            and field), or the output cannot be written.
        InputError: E505 for a decision option the model cannot use, unknown or out of range.

    Example:
        >>> summary = predict_file("runs/demo/model", "news.txt", "news.html")  # doctest: +SKIP
        >>> summary.documents, summary.output_format                            # doctest: +SKIP
        (120, 'html')

    """
    from spertmt.data.inputs import read_prediction_inputs
    from spertmt.data.io import (
        check_output_writable,
        documents_to_text,
        write_documents,
        write_text_atomic,
    )
    from spertmt.inference.api import SpertMT

    out_format = output_format_of(output_path, output_format)
    if output_path is not None:
        check_output_writable(output_path)  # before the model loads and the work is done

    def read(types: TypeSchema | None) -> PredictionInputs:
        return read_prediction_inputs(
            input_path,
            input_format=input_format,
            whole_file=whole_file,
            given_entities=given_entities,
            types=types,
        )

    # Bad input fails before the model loads, except given entities, which need its types.
    inputs = None if given_entities else read(None)
    model = SpertMT.from_pretrained(
        model_dir,
        device=device,
        quantize=quantize,
        onnx=onnx,
        precision=precision,
        **dict(decision or {}),
    )
    if inputs is None:
        inputs = read(model.types)
    predicted = _predict_in_chunks(model, inputs, batch_size=batch_size, progress=progress)
    if out_format == "html":
        from spertmt.inference.render import render_html

        text = render_html(predicted, model.types, title=f"spertmt: {inputs.source}")
    else:
        text = documents_to_text(predicted, out_format)
    if output_path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    elif out_format == "html":
        write_text_atomic(output_path, text)
    else:
        write_documents(output_path, predicted, format=out_format)
    return PredictSummary(
        documents=len(predicted),
        entities=sum(len(doc.entities) for doc in predicted),
        relations=sum(len(doc.relations) for doc in predicted),
        blank_lines=inputs.blank_lines,
        input_format=inputs.format,
        output_format=out_format,
        output=None if output_path is None else Path(output_path),
    )


def _progress_bar(*, enabled: bool) -> Any:
    """A transient progress bar on standard error (documents done / total, time left)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )


def _predict_in_chunks(
    model: SpertMT,
    inputs: PredictionInputs,
    *,
    batch_size: int,
    progress: bool,
) -> list[Document]:
    """Predict ``inputs`` a chunk at a time (a progress update per chunk), in input order."""
    items: list[PredictInput] = list(inputs.items)
    chunk = CHUNK_FACTOR * batch_size
    bar = _progress_bar(enabled=progress and len(items) > chunk)
    out: list[Document] = []
    with bar:
        task = bar.add_task("predicting", total=len(items))
        for first in range(0, len(items), chunk):
            given = None if inputs.given is None else list(inputs.given[first : first + chunk])
            out.extend(
                model.predict(items[first : first + chunk], batch_size=batch_size, entities=given)
            )
            bar.advance(task, min(chunk, len(items) - first))
    if inputs.line_numbers is not None:
        out = [
            dataclasses.replace(doc, orig_id=line)
            for doc, line in zip(out, inputs.line_numbers, strict=True)
        ]
    return out


def evaluate_checkpoint(
    model_dir: str | Path,
    data: str,
    *,
    data_dir: str | Path | None = None,
    no_overlap: bool = False,
    batch_size: int = 32,
    device: str | None = None,
    quantize: bool = False,
    onnx: str | Path | None = None,
    decision: Mapping[str, Any] | None = None,
    progress: bool = False,
    precision: str = "fp32",
) -> EvalReport:
    """Score a checkpoint on a dataset split with the SpERT-compatible evaluator.

    Args:
        model_dir: Checkpoint folder.
        data: Dataset name with split (``conll04:test``, ``ade:3:test``) or a SpERT JSON file;
            its documents are validated against the checkpoint's types.
        data_dir: Folder of the built-in datasets (default: ``$SPERTMT_DATA_DIR`` or the cache).
        no_overlap: Score without overlapping entities (ADE "without overlap"; SpERT's exact
            rule, see ``docs/evaluation.md``).
        batch_size: Documents per forward pass.
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when available (the CPU
            with ``quantize`` or ``onnx``).
        quantize: Score the int8-quantised encoder (CPU only; see :mod:`spertmt.runtime.engines`).
        onnx: Score with the encoder run by ONNX Runtime from this export (CPU only).
        decision: Decision-rule fields for this evaluation, as in :func:`predict_file`.
        progress: Show the prediction's progress (on standard error).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (:mod:`spertmt.runtime.precision`).

    Returns:
        The evaluation report (entities, relations strict and boundaries; micro and macro).

    Raises:
        CheckpointError: If the model folder cannot be loaded.
        ConfigError: E230-E232 for ``quantize``/``onnx`` that cannot run; E234/E235 for a
            precision that cannot.
        DataError: For an unknown dataset, a missing file or documents whose types the
            checkpoint does not know.

    Example:
        >>> report = evaluate_checkpoint("runs/demo/model", "conll04:test")  # doctest: +SKIP
        >>> Console().print(report.table())                                  # doctest: +SKIP

    """
    from rich.markup import escape

    from spertmt.inference.api import SpertMT

    model = SpertMT.from_pretrained(
        model_dir,
        device=device,
        quantize=quantize,
        onnx=onnx,
        precision=precision,
        **dict(decision or {}),
    )
    with _progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"scoring {escape(str(data))}", total=None)
        return model.evaluate(
            data,
            data_dir=data_dir,
            no_overlap=no_overlap,
            batch_size=batch_size,
            progress=lambda done: bar.advance(task, done),
        )
