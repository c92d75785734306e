"""Prediction inside data engines: Ray Data's ``map_batches``, Spark's ``mapInPandas``.

:class:`BatchPredictor` loads a checkpoint once (per Ray actor, per Spark task) and maps a
batch of rows, given as a dict of columns (Ray's ``"numpy"`` batches) or as a pandas
``DataFrame`` (Ray's ``"pandas"`` batches, Spark), to a batch of result rows of the same
kind: the id column of the input, and ``prediction``, the document as ``spertmt predict``
writes it (one JSON Lines line: SpERT's format with scores).

Rows hold either tokenised documents (a ``tokens`` column, as in SpERT JSON Lines, read by
``ray.data.read_json``) or raw text (a ``text`` column). Nothing here imports Ray, Spark or
pandas: the class is plain Python, picklable by its arguments, so any engine that calls a
function on batches can use it (``pip install 'spertmt[ray]'`` installs Ray Data).

Example:
    >>> import ray                                                             # doctest: +SKIP
    >>> from spertmt.inference.batches import BatchPredictor
    >>> ds = ray.data.read_json("corpus.jsonl")                                # doctest: +SKIP
    >>> out = ds.map_batches(BatchPredictor, fn_constructor_kwargs={"model_dir": "runs/m"},
    ...                      batch_size=256, concurrency=2)                    # doctest: +SKIP
    >>> out.write_json("predictions/")                                         # doctest: +SKIP

"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spertmt.errors import InputError
from spertmt.schema import Document

__all__ = ["BatchPredictor"]


class BatchPredictor:
    """A callable that predicts a batch of rows: load once, call for every batch.

    Args:
        model_dir: Checkpoint folder; loaded when the object is built (once per worker).
        input_column: The column to predict: ``"tokens"`` (a list of words per row) or
            ``"text"`` (raw text); ``None`` takes ``tokens`` when the batch has it, else
            ``text``.
        id_column: Copied from input to output, to match results to inputs (absent from a
            batch: ``None`` in every row).
        batch_size: Sentences per forward pass.
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when available.
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto``.
        **decision: Decision-rule fields for every batch (``entity_overlap="resolve"``).

    Raises:
        CheckpointError: If the model folder cannot be loaded.
        InputError: E505 for a bad option; E501 for a batch without the input column.

    Example:
        >>> predict = BatchPredictor("runs/spert/model")                       # doctest: +SKIP
        >>> predict({"tokens": [["John", "lives", "in", "Rome"]], "orig_id": [7]})
        ... # doctest: +SKIP
        {'orig_id': [7], 'prediction': ['{"tokens": ["John", ...], "orig_id": 7}']}
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        input_column: str | None = None,
        id_column: str = "orig_id",
        batch_size: int = 32,
        device: str | None = None,
        precision: str = "fp32",
        **decision: Any,
    ) -> None:
        from spertmt.inference.api import SpertMT

        self.model = SpertMT.from_pretrained(
            model_dir, device=device, precision=precision, **decision
        )
        self.input_column = input_column
        self.id_column = id_column
        self.batch_size = batch_size

    def __call__(self, batch: Any) -> Any:
        """Predict one batch; return the result rows as the same kind of batch.

        Args:
            batch: A dict of columns (lists or NumPy arrays) or a pandas ``DataFrame``.

        Returns:
            ``{id_column: ..., "prediction": [...]}`` (a ``DataFrame`` for a ``DataFrame``),
            one row per input row, in input order.
        """
        from spertmt.data.io import documents_to_text

        frame = hasattr(batch, "columns") and hasattr(batch, "to_dict")
        columns = list(batch.columns) if frame else list(batch)
        column = self.input_column or ("tokens" if "tokens" in columns else "text")
        if column not in columns:
            raise InputError(
                f"the batch has no {column!r} column (it has {', '.join(map(str, columns))}); "
                "give rows a 'tokens' (list of words) or 'text' column, or name it with "
                "input_column=",
                code="E501",
            )
        values = list(batch[column])
        ids = list(batch[self.id_column]) if self.id_column in columns else [None] * len(values)
        ids = [_plain(i) for i in ids]
        if column == "text" or (self.input_column is not None and column != "tokens"):
            inputs: list[Any] = [str(v) for v in values]
        else:
            inputs = [
                Document(tuple(str(t) for t in tokens), orig_id=i)
                for tokens, i in zip(values, ids, strict=True)
            ]
        docs = self.model.predict(inputs, batch_size=self.batch_size) if inputs else []
        lines = [documents_to_text([doc], "jsonl").rstrip("\n") for doc in docs]
        result: Mapping[str, list[Any]] = {self.id_column: ids, "prediction": lines}
        if frame:
            import pandas

            return pandas.DataFrame(result)
        return dict(result)


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (so that it serialises as JSON)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", 1) == 0 else value
