"""Checkpoint-level tasks: predict a file, score a checkpoint on a dataset.

:func:`predict_file` reads raw text or tokenised documents (:mod:`spertmt.data.inputs`),
predicts them with :class:`spertmt.SpertMT` and writes SpERT JSON, JSON Lines or an HTML page
(:mod:`spertmt.inference.render`). :func:`evaluate_checkpoint` scores a checkpoint on a dataset
with the SpERT-compatible evaluator. The command line's ``spertmt predict`` and
``spertmt evaluate --model`` are thin calls into them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import stat
import sys
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from spertmt.errors import ConfigError
from spertmt.inference.api import CHUNK_FACTOR

if TYPE_CHECKING:
    from spertmt.data.inputs import InputStream
    from spertmt.evaluation.metrics import EvalReport
    from spertmt.inference.api import SpertMT
    from spertmt.schema import Document


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
        documents: Documents in the output (one per non-empty input document of the shard),
            those of an earlier run included on ``resume``.
        entities: Entities predicted by this call.
        relations: Relations predicted by this call.
        blank_lines: Blank lines skipped in line-per-document text input.
        input_format: How the input was read (``text``, ``json`` or ``jsonl``).
        output_format: What was written (``json``, ``jsonl`` or ``html``).
        output: The output file, or ``None`` for standard output.
        resumed: Documents that an earlier, stopped run had written (``resume``); 0 otherwise.
        seconds: Wall time of the prediction (reading, model, writing; not the model load).
    """

    documents: int
    entities: int
    relations: int
    blank_lines: int
    input_format: str
    output_format: OutputFormat
    output: Path | None
    resumed: int = 0
    seconds: float = 0.0

    @property
    def documents_per_second(self) -> float:
        """Documents predicted by this call per second of :attr:`seconds`."""
        done = self.documents - self.resumed
        return done / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Shard:
    """Every ``count``-th input document, from the ``index``-th: document k is in shard k mod n.

    Attributes:
        index: Which shard, from 0 to ``count - 1``.
        count: How many shards the input is split into.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Read ``"i/n"`` (``0 <= i < n``).

        Raises:
            ConfigError: E215 for anything else.

        Example:
            >>> Shard.parse("1/4")
            Shard(index=1, count=4)
        """
        parts = str(text).strip().split("/")
        try:
            index, count = (int(part) for part in parts)
        except ValueError:
            index = count = -1
        if len(parts) != 2 or count < 1 or not 0 <= index < count:
            raise ConfigError(
                f"--shard {text!r} is not i/n with 0 <= i < n (e.g. 0/4, 1/4, 2/4, 3/4: document "
                "k goes to shard k mod n)",
                code="E215",
            )
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, position: int) -> bool:
        """Whether the input document at zero-based ``position`` is in this shard."""
        return position % self.count == self.index

    def size(self, total: int) -> int:
        """How many of ``total`` input documents are in this shard."""
        return len(range(self.index, total, self.count))


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
    max_pairs: int | None = None,
    shard: Shard | str | None = None,
    resume: bool = False,
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

    The input is read lazily, a chunk of ``CHUNK_FACTOR × batch_size`` documents at a time
    (a file is read through once first, to validate it and count its documents before the
    model loads), so with JSON Lines output memory stays bounded whatever the input's size.
    JSON Lines are written as the documents are predicted: to a file through
    :class:`~spertmt.data.io.JsonLinesWriter` (``OUT.partial``, renamed to ``OUT`` when the
    last document is written; a run stopped early leaves ``OUT.partial`` with every finished
    document as complete lines, and ``OUT.partial.json`` saying what run wrote it), to
    standard output flushed per chunk. JSON and HTML are written once, at the end,
    atomically (they hold every prediction in memory).

    Args:
        model_dir: Checkpoint folder (e.g. ``runs/<name>/model``).
        input_path: The input file, or ``-`` for standard input (raw text unless
            ``input_format`` says otherwise).
        output_path: Where to write; ``None`` writes to standard output. JSON and HTML files
            are written atomically, JSON Lines chunk by chunk (see above).
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
        progress: Show a progress bar with documents done, documents per second and time
            left (on standard error).
        quantize: Quantise the encoder to int8 (CPU only; see :mod:`spertmt.runtime.engines`).
        onnx: Run the encoder from this ONNX export of the checkpoint (CPU only).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (:mod:`spertmt.runtime.precision`).
        max_pairs: Most ordered entity pairs a document may hold (default
            :data:`~spertmt.inference.predictor.MAX_PAIRS`).
        shard: Predict only shard ``i`` of ``n`` (a :class:`Shard` or ``"i/n"``): the input
            documents ``k`` with ``k mod n == i``, in input order, with their ids.
        resume: Continue the ``OUT.partial`` that a stopped run with the same input, model,
            options and shard left (JSON Lines to a file only): its complete lines are kept,
            and prediction restarts at the next document. Without ``OUT.partial`` the run
            starts from the beginning.

    Returns:
        What was written.

    Raises:
        CheckpointError: If the model folder cannot be loaded.
        ConfigError: E210/E211 for an unknown format or options that do not fit the input or
            output (``resume`` without a JSON Lines file to write, or from standard input);
            E215 for a bad ``shard``; E216 when ``OUT.partial`` was written by another run (other
            input, model, options or shard) or has no record of its run; E230-E232 for
            ``quantize``/``onnx`` that cannot run (see :mod:`spertmt.runtime.engines`);
            E234/E235 for a precision that cannot.
        DataError: If the input is missing, not UTF-8, or malformed (naming file, document
            and field), or the output cannot be written.
        InputError: E505 for a decision option the model cannot use, unknown or out of range;
            E508 for a document over ``max_pairs`` pairs (naming the file and document).
        KeyboardInterrupt: Ctrl-C (or SIGTERM, which the command line turns into one) while
            predicting; re-raised with a message that says what was kept.

    Example:
        >>> summary = predict_file("runs/demo/model", "news.txt", "news.html")  # doctest: +SKIP
        >>> summary.documents, summary.output_format                            # doctest: +SKIP
        (120, 'html')
        >>> predict_file("runs/demo/model", "corpus.jsonl", "out.1.jsonl", shard="1/4",
        ...              resume=True)                                          # doctest: +SKIP

    """
    from spertmt.data.inputs import open_prediction_inputs
    from spertmt.data.io import (
        JsonLinesWriter,
        check_output_writable,
        count_complete_lines,
        documents_to_text,
        partial_path,
        write_documents,
        write_text_atomic,
    )
    from spertmt.inference.api import SpertMT

    out_format = output_format_of(output_path, output_format)
    part = Shard.parse(shard) if isinstance(shard, str) else shard
    stream = open_prediction_inputs(
        input_path, input_format=input_format, whole_file=whole_file, given_entities=given_entities
    )
    if resume and (output_path is None or out_format != "jsonl"):
        raise ConfigError(
            "--resume continues JSON Lines written to a file: give -o OUT.jsonl (or --format "
            "jsonl with -o)",
            code="E211",
        )
    if resume and stream.read_once:
        raise ConfigError(
            f"--resume needs an input file: {stream.source} (standard input or a pipe) cannot "
            "be checked to be the input of the stopped run, nor read again from its start",
            code="E211",
        )
    record = None
    if output_path is not None:
        # Before the model loads and the work is done.
        check_output_writable(output_path, inputs=[input_path])
        if out_format == "jsonl":
            record = run_record(
                model_dir,
                input_path,
                input_format=stream.format,
                whole_file=whole_file,
                given_entities=given_entities,
                decision=decision,
                precision=precision,
                quantize=quantize,
                onnx=onnx,
                shard=part,
            )
            if resume:
                check_resumable(output_path, record)

    # Bad input fails before the model loads, except given entities, which need its types.
    total = None if given_entities or stream.read_once else stream.count()
    model = SpertMT.from_pretrained(
        model_dir,
        device=device,
        quantize=quantize,
        onnx=onnx,
        precision=precision,
        **dict(decision or {}),
    )
    if given_entities:
        stream = stream.with_types(model.types)
        total = None if stream.read_once else stream.count()
    started = time.perf_counter()
    wanted = total if total is None or part is None else part.size(total)
    tally = _Tally()
    if out_format == "jsonl":
        writer = None
        if output_path is not None:
            assert record is not None
            # The record first: a .partial never exists without the run that wrote it.
            write_text_atomic(_record_path(output_path), json.dumps(record, indent=2) + "\n")
            writer = JsonLinesWriter(output_path, resume=resume)
        done = 0 if writer is None else writer.documents
        if wanted is not None and done > wanted:
            raise ConfigError(
                f"cannot resume: {partial_path(output_path or '')} holds {done} documents but the "
                f"input has {wanted}; start over without --resume",
                code="E216",
            )
        where = "standard output" if writer is None else str(writer.partial)
        chunks = _predict_in_chunks(
            model,
            stream,
            batch_size=batch_size,
            progress=progress,
            max_pairs=max_pairs,
            shard=part,
            skip=done,
            total=wanted,
        )
        try:
            for docs in chunks:
                if writer is None:
                    sys.stdout.write(documents_to_text(docs, "jsonl"))
                    sys.stdout.flush()
                else:
                    writer.write(docs)
                tally.add(docs)
            if writer is not None:
                writer.commit()
                _record_path(output_path or "").unlink(missing_ok=True)
        except KeyboardInterrupt as stop:
            of = "" if wanted is None else f" of {wanted}"
            count = done + tally.documents
            if writer is not None:
                # What the file holds, not what this loop counted: a stop can land after a
                # chunk is written and synced but before it is counted (or, mid-write, the
                # writer cuts the torn chunk back).
                writer.close()
                count = count_complete_lines(writer.partial)
            kept = f"kept {count}{of} documents"
            detail = f"{kept} in {where} (complete JSON lines)"
            raise type(stop)(detail) from None
        finally:
            chunks.close()  # ends the progress bar now, not when garbage is collected
            if writer is not None:
                writer.close()
        written = done + tally.documents
    else:
        done = 0
        chunks = _predict_in_chunks(
            model, stream, batch_size=batch_size, progress=progress, max_pairs=max_pairs,
            shard=part, total=wanted,
        )  # fmt: skip
        try:
            predicted = [doc for docs in chunks for doc in docs]
        except KeyboardInterrupt as stop:
            detail = (
                f"nothing written: {out_format.upper()} output is written at the end; "
                "write .jsonl to keep the documents finished before a stop"
            )
            raise type(stop)(detail) from None
        finally:
            chunks.close()
        tally.add(predicted)
        written = tally.documents
        if out_format == "html":
            from spertmt.inference.render import render_html

            text = render_html(predicted, model.types, title=f"spertmt: {stream.source}")
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
        documents=written,
        entities=tally.entities,
        relations=tally.relations,
        blank_lines=stream.blank_lines,
        input_format=stream.format,
        output_format=out_format,
        output=None if output_path is None else Path(output_path),
        resumed=done,
        seconds=round(time.perf_counter() - started, 3),
    )


# ---------------------------------------------------------------------------------- resume

RECORD_SUFFIX = ".json"
"""``OUT.partial`` + this: the record of the run that writes ``OUT.partial``."""

_HEAD_BYTES = 1 << 20


def _record_path(output_path: str | Path) -> Path:
    from spertmt.data.io import partial_path

    partial = partial_path(output_path)
    return partial.with_name(partial.name + RECORD_SUFFIX)


def run_record(
    model_dir: str | Path,
    input_path: str | Path,
    *,
    input_format: str,
    whole_file: bool = False,
    given_entities: bool = False,
    decision: Mapping[str, Any] | None = None,
    precision: str = "fp32",
    quantize: bool = False,
    onnx: str | Path | None = None,
    shard: Shard | None = None,
) -> dict[str, Any]:
    """What identifies a prediction run, as ``OUT.partial.json`` records it for ``--resume``.

    The input (absolute path, size, modification time, SHA-256 of its first MiB), the model
    (absolute path and the weights' SHA-256 its ``config.json`` records) and every option
    that changes what is written: format, whole file, given entities, the decision-rule
    fields, precision, quantize, ONNX file, shard. Batch size and device may change between
    a run and its resume (scores may then differ in the last decimals, as with any batch
    size).

    Returns:
        A JSON-ready dict.
    """
    source = Path(input_path)
    size: int | None = None
    mtime: int | None = None
    head: str | None = None
    try:
        info = source.stat()
        if stat.S_ISREG(info.st_mode):  # a pipe or FIFO would be consumed (or block) here
            with open(source, "rb") as handle:
                head = hashlib.sha256(handle.read(_HEAD_BYTES)).hexdigest()
            size, mtime = info.st_size, info.st_mtime_ns
    except OSError:
        pass
    model = Path(model_dir)
    try:
        weights = json.loads((model / "config.json").read_text(encoding="utf-8"))
        weights_sha = weights.get("weights_sha256") if isinstance(weights, dict) else None
    except (OSError, ValueError):
        weights_sha = None
    return {
        "record_version": 1,
        "input": {
            "path": str(source.resolve()) if str(input_path) != "-" else "-",
            "size": size,
            "mtime_ns": mtime,
            "head_sha256": head,
        },
        "model": {"path": str(model.resolve()), "weights_sha256": weights_sha},
        "options": {
            "input_format": input_format,
            "whole_file": whole_file,
            "given_entities": given_entities,
            "decision": dict(sorted((decision or {}).items())),
            "precision": precision,
            "quantize": quantize,
            "onnx": None if onnx is None else str(Path(onnx).resolve()),
            "shard": None if shard is None else str(shard),
        },
    }


def check_resumable(output_path: str | Path, record: Mapping[str, Any]) -> None:
    """Refuse to continue ``OUT.partial`` unless its record is ``record`` (this run's).

    Nothing to continue (no ``OUT.partial``) is fine: the run starts from the beginning.

    Raises:
        ConfigError: E216 naming what differs, or when ``OUT.partial`` has no readable record.
    """
    from spertmt.data.io import partial_path

    partial = partial_path(output_path)
    if not partial.exists():
        return
    sidecar = _record_path(output_path)
    fix = f"run without --resume to start over, or write to another -o than {output_path}"
    try:
        saved = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(
            f"cannot resume: {partial} has no readable record of the run that wrote it "
            f"({sidecar.name}); {fix}",
            code="E216",
        ) from None
    flat_saved, flat_now = _flatten(saved), _flatten(dict(record))
    changed = [k for k in sorted(flat_saved.keys() | flat_now.keys())
               if flat_saved.get(k) != flat_now.get(k)]  # fmt: skip
    if changed:
        details = ", ".join(
            f"{k} (was {flat_saved.get(k)!r}, now {flat_now.get(k)!r})" for k in changed[:3]
        )
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise ConfigError(
            f"cannot resume: {partial} was written by another run: {details}{more}; {fix}",
            code="E216",
        )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):  # an empty one adds nothing: {} equals no fields
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# ---------------------------------------------------------------------------------- chunks


@dataclass
class _Tally:
    """Documents, entities and relations written so far."""

    documents: int = 0
    entities: int = 0
    relations: int = 0

    def add(self, docs: Sequence[Document]) -> None:
        self.documents += len(docs)
        self.entities += sum(len(doc.entities) for doc in docs)
        self.relations += sum(len(doc.relations) for doc in docs)


def _progress_bar(*, enabled: bool) -> Any:
    """A transient progress bar on standard error (done / total, documents a second, time left)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        """Items a second, over the last half minute."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )


def _predict_in_chunks(
    model: SpertMT,
    stream: InputStream,
    *,
    batch_size: int,
    progress: bool,
    max_pairs: int | None = None,
    shard: Shard | None = None,
    skip: int = 0,
    total: int | None = None,
) -> Generator[list[Document], None, None]:
    """Predict the stream a chunk at a time, in input order; yield each chunk's documents.

    ``shard`` keeps its documents only; the first ``skip`` documents kept are not yielded (a
    resume). Chunks start at the same documents as in a run from the beginning, so a resume
    predicts the chunk it stopped in again in full and drops the documents already written:
    every document is scored in the batches an uninterrupted run scores it in, and the output
    is the same, byte for byte. The bar counts documents (of ``total``), and shows a second
    task while a batch with many entity pairs is scored block by block.
    """
    from spertmt.inference.predictor import PairLimitError

    chunk_size = CHUNK_FACTOR * batch_size
    bar = _progress_bar(enabled=progress)
    pair_task: Any = None

    def on_pairs(done: int, total: int) -> None:
        nonlocal pair_task
        if pair_task is None:
            pair_task = bar.add_task("scoring entity pairs", total=total)
        bar.update(pair_task, completed=done, total=total)
        if done >= total:
            bar.remove_task(pair_task)
            pair_task = None

    documents = stream.documents()
    if shard is not None:
        documents = (d for d in documents if shard.takes(d.index))
    aligned = skip - skip % chunk_size
    documents = itertools.islice(documents, aligned, None)
    drop = skip - aligned
    with bar:
        task = bar.add_task("predicting", total=total, completed=skip)
        while chunk := list(itertools.islice(documents, chunk_size)):
            given = None if not stream.given_entities else [d.given or () for d in chunk]
            try:
                out = model.predict(
                    [d.item for d in chunk],
                    batch_size=batch_size,
                    entities=given,
                    max_pairs=max_pairs,
                    pair_progress=on_pairs,
                )
            except PairLimitError as error:
                where = chunk[error.position]
                raise error.moved(where.name, where.index) from None
            out = [
                doc if d.line_number is None else dataclasses.replace(doc, orig_id=d.line_number)
                for doc, d in zip(out, chunk, strict=True)
            ]
            out, drop = out[drop:], 0
            bar.advance(task, len(out))
            yield out


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
    gold = model.gold_documents(data, data_dir=data_dir)  # read first: the bar's total
    with _progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"scoring {escape(str(data))}", total=len(gold))
        return model.evaluate(
            gold,
            no_overlap=no_overlap,
            batch_size=batch_size,
            progress=lambda done: bar.advance(task, done),
        )
