"""Checkpoint-level tasks: predict a file, score a checkpoint on a dataset.

Both load a checkpoint folder (:func:`spertmt.checkpoint.load_checkpoint`), run
:func:`spertmt.prediction.predict_documents` and hand the result on: to a SpERT JSON file
(:func:`predict_file`) or to the SpERT-compatible evaluator (:func:`evaluate_checkpoint`). The
command line's ``spertmt predict`` and ``spertmt evaluate --model`` are thin calls into them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from spertmt.checkpoint import TYPES_FILE, load_checkpoint
from spertmt.training import resolve_device

if TYPE_CHECKING:
    from spertmt.metrics import EvalReport


def predict_file(
    model_dir: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    *,
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = False,
) -> int:
    """Predict entities and relations for the documents of a SpERT JSON or JSONL file.

    Only each document's ``tokens`` (and ``orig_id``) are used; entities and relations in the
    input are ignored. The output is SpERT JSON with a ``score`` on every predicted entity and
    relation, one document per input document, in input order.

    Args:
        model_dir: Checkpoint folder (e.g. ``runs/<name>/model``).
        input_path: SpERT JSON list or JSON Lines file of documents.
        output_path: Where to write the predictions (JSONL when it ends in ``.jsonl``).
        batch_size: Documents per forward pass.
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when available.
        progress: Show a progress bar.

    Returns:
        The number of documents written.

    Raises:
        CheckpointError: If the model folder cannot be loaded.
        DataError: If the input file is missing or malformed.

    Example:
        >>> predict_file("runs/demo/model", "sentences.json", "predictions.json")  # doctest: +SKIP
        288

    """
    from spertmt.data.io import read_documents, write_documents
    from spertmt.prediction import predict_documents

    model, tokenizer, _, _, _ = load_checkpoint(model_dir, device=resolve_device(device))
    docs = [
        dataclasses.replace(doc, entities=(), relations=())
        for doc in read_documents(input_path, require_annotations=False)
    ]
    predictions = predict_documents(
        model, tokenizer, docs, batch_size=batch_size, progress=progress
    )
    write_documents(output_path, predictions)
    return len(predictions)


def evaluate_checkpoint(
    model_dir: str | Path,
    data: str,
    *,
    data_dir: str | Path | None = None,
    no_overlap: bool = False,
    batch_size: int = 32,
    device: str | None = None,
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
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when available.

    Returns:
        The evaluation report (entities, relations strict and boundaries; micro and macro).

    Raises:
        CheckpointError: If the model folder cannot be loaded.
        DataError: For an unknown dataset, a missing file or documents whose types the
            checkpoint does not know.

    Example:
        >>> report = evaluate_checkpoint("runs/demo/model", "conll04:test")  # doctest: +SKIP
        >>> Console().print(report.table())                                  # doctest: +SKIP

    """
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents
    from spertmt.metrics import evaluate_documents
    from spertmt.prediction import predict_documents

    model, tokenizer, types, _, _ = load_checkpoint(model_dir, device=resolve_device(device))
    # The checkpoint's own types decide what counts; the dataset need not ship a types file.
    resolved = resolve_dataset(data, data_dir=data_dir, types=Path(model_dir) / TYPES_FILE)
    gold = read_documents(resolved.path, types=types)
    predictions = predict_documents(model, tokenizer, gold, batch_size=batch_size)
    return evaluate_documents(gold, predictions, types, no_overlap=no_overlap)
