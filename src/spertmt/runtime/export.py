"""Export a checkpoint's encoder to ONNX, with a numeric parity check against PyTorch.

Only the **encoder** is exported: ``(input_ids [B, T], attention_mask [B, T]) →
last_hidden_state [B, T, H]``, with dynamic batch and sequence axes. The span and pair heads
stay in PyTorch and are read from the checkpoint folder at prediction time, so a prediction
through ONNX Runtime needs both::

    spertmt export --model runs/spert/model --onnx exported/encoder.onnx
    spertmt predict --model runs/spert/model --onnx exported/encoder.onnx news.txt

or in Python ``SpertMT.from_pretrained("runs/spert/model", onnx="exported/encoder.onnx")``.

The ONNX file records in its metadata the sha256 of the checkpoint's ``model.safetensors``;
loading it with another checkpoint fails (``E321``) instead of silently mixing weights.
``token_type_ids`` is not an input: spertmt never passes it (BERT's all-zero default).

**Tolerance.** Before the file is put in place, ONNX Runtime and PyTorch encode the same
padded batch and the hidden states of the real (non-padding) pieces must agree within
:data:`ONNX_ATOL` = ``1e-4`` (absolute); MiniLM typically differs by about ``1e-5``. Otherwise
nothing is written (``E323``). Span and relation scores computed through the ONNX encoder then
match the PyTorch ones to about ``1e-5`` (the tests require ``1e-4``); a prediction can differ
only where a score sits within that distance of a decision threshold.

The exporter is PyTorch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``):
it needs no ``onnxscript`` and handles every encoder family spertmt supports. Writing the
metadata needs the ``onnx`` package; both it and ``onnxruntime`` come with
``pip install 'spertmt[onnx]'``.

Error codes raised here: ``E232`` (extra missing), ``E323`` (parity check failed or the
exporter failed), ``E233`` (output path unusable).
"""

from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spertmt.errors import CheckpointError, ConfigError
from spertmt.runtime.engines import (
    INPUT_NAMES,
    KIND_ENCODER,
    META_CHECKPOINT,
    META_INPUTS,
    META_KIND,
    META_WEIGHTS,
    ONNX_FILE,
    OUTPUT_NAME,
    OnnxEncoder,
    import_onnxruntime,
    weights_fingerprint,
)

__all__ = ["DEFAULT_OPSET", "ONNX_ATOL", "OnnxExport", "export_onnx"]

ONNX_ATOL = 1e-4
"""Largest absolute difference allowed between ONNX Runtime and PyTorch hidden states."""

DEFAULT_OPSET = 17
"""ONNX opset of the export (17 has a fused LayerNormalization; ONNX Runtime ≥ 1.14)."""

_PARITY_SENTENCES = (
    ("John", "Smith", "lives", "in", "Paris", "and", "works", "for", "Acme", "Corp", "."),
    ("Rome", "is", "old", "."),
    ("The", "unbelievably", "long-winded", "chairwoman", "of", "Mitsubishi", "spoke", "."),
)


SCORE_TOLERANCE = 10
"""Entity scores through the exported encoder may differ from PyTorch's by this many times the
hidden-state tolerance (the heads are linear layers over pooled states)."""


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote.

    Attributes:
        path: The ``.onnx`` file.
        checkpoint: The checkpoint folder it was exported from (the heads live there).
        weights_sha256: sha256 of the checkpoint's ``model.safetensors`` (in the metadata).
        opset: ONNX opset version.
        max_abs_diff: Largest difference between ONNX Runtime and PyTorch hidden states on
            the parity batch (real pieces only).
        atol: The tolerance it had to meet.
        score_max_abs_diff: Largest difference of the entity scores (typed logits of every
            candidate span of the parity sentences) between the model with the ONNX encoder
            and the PyTorch model, through the span stage prediction runs (at most
            :data:`SCORE_TOLERANCE` × ``atol``).
    """

    path: Path
    checkpoint: Path
    weights_sha256: str
    opset: int
    max_abs_diff: float
    atol: float
    score_max_abs_diff: float


class _EncoderGraph(nn.Module):
    """The traced function: Hugging Face encoder → ``last_hidden_state``."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def _parity_batch(tokenizer: Any) -> Any:
    """A padded batch of three sentences of different lengths, as prediction builds it."""
    from spertmt.config import ModelConfig
    from spertmt.encoding.features import pad_id, prepare_documents
    from spertmt.sampling import inference_batch
    from spertmt.schema import Document

    prepared = prepare_documents([Document(tokens=s) for s in _PARITY_SENTENCES], tokenizer)
    padding = pad_id(tokenizer)
    return inference_batch(prepared, ModelConfig(), pad_id=padding)


def _target(output: str | Path) -> Path:
    path = Path(output)
    if path.is_dir():
        return path / ONNX_FILE
    if path.suffix.lower() != ".onnx":
        raise ConfigError(
            f"--onnx {str(output)!r} is neither an existing folder nor a .onnx file name; give "
            f"e.g. {path.with_suffix('.onnx')} (or a folder, which gets {ONNX_FILE})",
            code="E233",
        )
    return path


def export_onnx(
    model_dir: str | Path,
    output: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    atol: float = ONNX_ATOL,
) -> OnnxExport:
    """Export a checkpoint's encoder to ONNX and check it against PyTorch.

    Args:
        model_dir: Checkpoint folder (``runs/<name>/model``).
        output: The ``.onnx`` file to write, or an existing folder (gets ``encoder.onnx``).
            It is written atomically: a failed export or parity check leaves nothing behind.
        opset: ONNX opset version.
        atol: Largest absolute difference allowed between ONNX Runtime and PyTorch hidden
            states on a padded parity batch (real pieces only).

    Returns:
        What was written, with the measured difference.

    Raises:
        CheckpointError: If the checkpoint cannot be loaded (``E301``-``E306``); ``E323`` when
            the exporter fails or the parity check exceeds ``atol``.
        ConfigError: ``E232`` without the ``onnx`` extra; ``E233`` for an unusable output path.
        DataError: ``E115`` when the output cannot be written (read-only folder, a folder
            where a file is wanted).

    Example:
        >>> result = export_onnx("runs/spert/model", "exported/encoder.onnx")  # doctest: +SKIP
        >>> result.max_abs_diff < result.atol                                 # doctest: +SKIP
        True
    """
    from spertmt.data.io import check_output_writable
    from spertmt.model.checkpoint import load_checkpoint
    from spertmt.version import __version__

    import_onnxruntime()
    try:
        import onnx
    except ImportError:
        raise ConfigError(
            "the onnx package is not installed; install the onnx extra: "
            "pip install 'spertmt[onnx]'",
            code="E232",
        ) from None
    checkpoint = Path(model_dir)
    target = _target(output)
    check_output_writable(target)  # a read-only folder is said as such, before the export
    loaded = load_checkpoint(checkpoint, device="cpu")
    model, tokenizer = loaded.model, loaded.tokenizer
    graph = _EncoderGraph(model.encoder.model).eval()  # eval: export must not enable dropout
    parity = _parity_batch(tokenizer)
    input_ids, attention_mask = parity.input_ids, parity.attention_mask
    fingerprint = weights_fingerprint(checkpoint)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    axes = {0: "batch", 1: "sequence"}
    try:
        try:
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                # The TorchScript exporter warns that it is the legacy path and about traced
                # Python booleans in transformers' mask code; neither affects the graph (the
                # parity check below, on a padded batch, is the proof).
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    graph,
                    (input_ids, attention_mask),
                    str(staging),
                    dynamo=False,
                    input_names=list(INPUT_NAMES),
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={name: axes for name in (*INPUT_NAMES, OUTPUT_NAME)},
                    opset_version=opset,
                    do_constant_folding=True,
                )
        except Exception as error:  # the exporter raises many kinds; all mean "no file"
            raise CheckpointError(
                f"the ONNX exporter failed for this encoder ({type(error).__name__}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}); "
                "try another --opset",
                code="E323",
                path=checkpoint,
            ) from error
        proto = onnx.load(str(staging))
        onnx.helper.set_model_props(
            proto,
            {
                META_KIND: KIND_ENCODER,
                META_WEIGHTS: fingerprint,
                META_CHECKPOINT: str(checkpoint.resolve()),
                META_INPUTS: ",".join(INPUT_NAMES),
                "spertmt.version": __version__,
                "spertmt.torch_version": torch.__version__,
                "spertmt.parity_atol": repr(float(atol)),
            },
        )
        onnx.save(proto, str(staging))
        del proto

        session = OnnxEncoder(staging, config=model.encoder.model.config)
        with torch.inference_mode():
            expected = graph(input_ids, attention_mask)
        actual = session(input_ids, attention_mask).last_hidden_state
        real = attention_mask.bool()
        diff = float((actual[real] - expected[real]).abs().max())
        if not diff <= atol:
            raise CheckpointError(
                f"the exported encoder differs from PyTorch by {diff:.2e} on the parity batch, "
                f"more than the tolerance {atol:.0e}; nothing was written. Try another --opset",
                code="E323",
                path=checkpoint,
            )
        del session
        score_diff = _score_parity(checkpoint, model, staging, parity)
        if not score_diff <= SCORE_TOLERANCE * atol:
            raise CheckpointError(
                f"with the exported encoder the entity scores differ from PyTorch's by "
                f"{score_diff:.2e} on the parity batch, more than {SCORE_TOLERANCE} × the "
                f"tolerance {atol:.0e}; nothing was written. Try another --opset",
                code="E323",
                path=checkpoint,
            )
        os.replace(staging, target)
    finally:
        if staging.exists():
            staging.unlink()
    return OnnxExport(
        path=target,
        checkpoint=checkpoint,
        weights_sha256=fingerprint,
        opset=opset,
        max_abs_diff=diff,
        atol=atol,
        score_max_abs_diff=score_diff,
    )


def _score_parity(checkpoint: Path, model: Any, onnx_file: Path, batch: Any) -> float:
    """Entity-score difference of the model with the ONNX encoder and the PyTorch model.

    Both run the span stage that prediction runs (:meth:`SpertMTModel.score_spans` on the
    parity batch, as :class:`~spertmt.inference.predictor.Predictor` calls it), so this is
    what the heads will see.
    """
    from spertmt.model.checkpoint import load_checkpoint
    from spertmt.runtime.engines import attach_onnx_encoder

    with_onnx = attach_onnx_encoder(load_checkpoint(checkpoint, device="cpu").model, onnx_file)
    with torch.inference_mode():
        ours, theirs = (m.score_spans(batch) for m in (model, with_onnx))
    real = ours.span_mask
    return float((ours.entities.logits[real] - theirs.entities.logits[real]).abs().max())
