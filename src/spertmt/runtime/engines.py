"""CPU inference runtimes: int8 dynamic quantisation and an ONNX Runtime encoder.

Both change the **encoder only**; the span and pair heads (a few small linear layers, the
width embedding, pooling and decoding) stay float PyTorch code. The encoder is where
prediction spends its time (``benchmarks/speed.py`` measures the share), and keeping the heads
in PyTorch keeps one implementation of SpERT's span and pair logic.

- :func:`quantize_encoder` replaces the ``nn.Linear`` layers of the encoder by dynamically
  quantised int8 ones (``torch.ao.quantization.quantize_dynamic``: int8 weights, activations
  quantised per batch at run time), all but the feed-forward output projections
  (:data:`FLOAT_LINEARS`), whose inputs carry the outliers that per-tensor int8 loses. CPU
  only. With ``projections="bf16"`` those projections run in bfloat16 instead of fp32
  (:class:`Bf16Linear`; the ``torch-int8-bf16`` runtime): bf16 keeps int8's lost range, and on
  a CPU with native bf16 they stop being the slow third of the encoder's matrix products.
  ``docs/speed.md`` and ``benchmarks/precision_accuracy.py`` report the accuracy change on
  CoNLL04.
- :class:`OnnxEncoder` runs an encoder exported by :func:`spertmt.runtime.export.export_onnx` in an
  ``onnxruntime.InferenceSession`` and stands in for the Hugging Face encoder inside
  :class:`~spertmt.encoding.encoders.WindowedEncoder` (so long inputs are windowed as before). Its
  hidden states match PyTorch's within :data:`spertmt.runtime.export.ONNX_ATOL`. Needs the ``onnx``
  extra (``pip install 'spertmt[onnx]'``).

Without either, :func:`prepare_for_inference` lets the float encoder's linear layers keep their
16-bit copies under autocast (:class:`AutocastCachedLinear`: the same results, without casting
every weight again for every batch).

:func:`prepare_for_inference` applies either to a loaded model; ``SpertMT.from_pretrained``,
``spertmt predict`` and ``spertmt evaluate --model`` call it with their ``quantize``/``onnx``
options.

Error codes raised here:

- ``E230`` ``quantize`` or ``onnx`` with a device other than the CPU
- ``E231`` ``quantize`` and ``onnx`` together
- ``E232`` the ``onnx`` extra (``onnxruntime``) is not installed
- ``E320`` an ONNX file that is missing, unreadable or not a spertmt encoder export
- ``E321`` an ONNX encoder exported from another checkpoint than the one it is used with
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from spertmt.errors import CheckpointError, ConfigError
from spertmt.runtime.devices import check_cpu

if TYPE_CHECKING:
    from spertmt.model.spert import SpertMTModel

__all__ = [
    "ONNX_FILE",
    "AutocastCachedLinear",
    "Bf16Linear",
    "OnnxEncoder",
    "Runtime",
    "attach_onnx_encoder",
    "cache_autocast_casts",
    "import_onnxruntime",
    "prepare_for_inference",
    "quantize_encoder",
    "resolve_onnx_path",
    "runtime_of",
    "weights_fingerprint",
]

Runtime = Literal["torch", "torch-int8", "torch-int8-bf16", "onnxruntime"]
"""How the encoder runs: float PyTorch, int8 dynamic quantisation (its feed-forward output
projections in fp32, or in bf16), or ONNX Runtime."""

Projections = Literal["fp32", "bf16"]
"""The arithmetic of the linear layers :func:`quantize_encoder` keeps out of int8."""

ONNX_FILE = "encoder.onnx"
"""File name used when an export target or an ``onnx=`` argument is a folder."""

META_KIND = "spertmt.kind"
META_WEIGHTS = "spertmt.weights_sha256"
META_CHECKPOINT = "spertmt.checkpoint"
META_INPUTS = "spertmt.inputs"
KIND_ENCODER = "encoder"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "last_hidden_state"

_ONNX_HELP = "install the onnx extra: pip install 'spertmt[onnx]'"


# ---------------------------------------------------------------------------- checks
def runtime_of(model: SpertMTModel) -> Runtime:
    """Tell how a model's encoder runs.

    Example:
        >>> runtime_of(model)  # doctest: +SKIP
        'torch'
    """
    encoder = model.encoder.model
    if isinstance(encoder, OnnxEncoder):
        return "onnxruntime"
    if any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in encoder.modules()):
        if any(isinstance(m, Bf16Linear) for m in encoder.modules()):
            return "torch-int8-bf16"
        return "torch-int8"
    return "torch"


# ---------------------------------------------------------------------------- quantisation
FLOAT_LINEARS = ("output.dense", "ffn.lin2")
"""Name endings of the encoder's feed-forward output projections, kept in float by
:func:`quantize_encoder` (``layer.N.output.dense`` in BERT, RoBERTa, MPNet and DeBERTa,
``ffn.lin2`` in DistilBERT; an attention block's ``attention.output.dense`` is quantised).

Their input is the feed-forward block's wide activation, whose few very large values per-tensor
int8 cannot hold together with the small ones. Chosen on CoNLL04 dev over six trained MiniLM
models (docs/speed.md): quantising them too costs 2.25 ± 1.63 relation F1 for 2.4× the fp32
speed; keeping them float costs 0.04 ± 0.91 for 1.7×."""


class Bf16Linear(nn.Module):
    """A frozen linear layer that computes in bfloat16 and answers in its input's type.

    Stands in for an ``nn.Linear`` of a quantised encoder (:func:`quantize_encoder` with
    ``projections="bf16"``): the weight and bias are stored in bf16 (half the memory of fp32),
    the input is rounded to bf16 for the product, which accumulates in fp32 inside the kernel,
    and the result is cast back, so the layers around it see fp32 as before. Inference only.

    Example:
        >>> layer = Bf16Linear(nn.Linear(4, 2))
        >>> layer(torch.ones(3, 4)).dtype, layer.weight.dtype
        (torch.float32, torch.bfloat16)
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().to(torch.bfloat16)
        self.weight = nn.Parameter(weight, requires_grad=False)
        bias = linear.bias
        self.bias = (
            None
            if bias is None
            else nn.Parameter(bias.detach().to(torch.bfloat16), requires_grad=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ weight.T + bias`` in bf16, returned in ``x``'s type."""
        out = nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias)
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        """As ``nn.Linear`` shows itself, plus the type."""
        return f"in_features={self.in_features}, out_features={self.out_features}, bf16"


class AutocastCachedLinear(nn.Linear):
    """An ``nn.Linear`` that keeps its 16-bit copy between batches under autocast.

    Under :func:`torch.autocast` every call of a linear layer casts its fp32 weight and bias
    to the autocast type again; over an encoder that is the whole model rewritten once per
    batch. Outside autograd this layer keeps the cast copy and reuses it while the weight is
    unchanged (same storage, same version counter: an optimiser step or a load bumps it), and
    rounds the input as autocast would, so its output is bit for bit autocast's. With grad
    enabled, or without autocast, it is ``nn.Linear``. :func:`prepare_for_inference` turns the
    float encoder's linear layers into this class in place (the parameters and the state dict
    stay the same).

    Example:
        >>> layer = nn.Linear(4, 2)
        >>> cache_autocast_casts(layer) is layer, type(layer).__name__
        (True, 'AutocastCachedLinear')
    """

    _low_copy: tuple[tuple[object, ...], torch.Tensor, torch.Tensor | None] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``nn.Linear``'s product; under autocast outside autograd, with the cached copy."""
        kind = x.device.type
        if torch.is_grad_enabled() or not torch.is_autocast_enabled(kind):
            return super().forward(x)
        dtype = torch.get_autocast_dtype(kind)
        weight, bias = self._low(dtype)
        return nn.functional.linear(x.to(dtype), weight, bias)

    def _low(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        bias = self.bias
        key = (
            dtype,
            self.weight.data_ptr(),
            self.weight._version,
            None if bias is None else (bias.data_ptr(), bias._version),
        )
        cached = self._low_copy
        if cached is None or cached[0] != key:
            low_bias = None if bias is None else bias.detach().to(dtype)
            cached = (key, self.weight.detach().to(dtype), low_bias)
            self._low_copy = cached  # one assignment: a concurrent reader sees old or new
        return cached[1], cached[2]


def cache_autocast_casts(module: nn.Module) -> nn.Module:
    """Make every plain ``nn.Linear`` in ``module`` an :class:`AutocastCachedLinear`, in place."""
    for layer in module.modules():
        if type(layer) is nn.Linear:
            layer.__class__ = AutocastCachedLinear
    return module


def _stays_float(name: str) -> bool:
    """Whether the encoder's linear layer ``name`` is a feed-forward output projection."""
    return name.endswith(FLOAT_LINEARS) and not name.endswith("attention.output.dense")


def quantize_encoder(model: SpertMTModel, *, projections: Projections = "fp32") -> SpertMTModel:
    """Quantise the encoder's linear layers to int8 (dynamic quantisation), in place.

    Only ``model.encoder`` changes; the heads stay float32, and the encoder's feed-forward
    output projections (:data:`FLOAT_LINEARS`) stay out of int8: fp32 by default, bf16 with
    ``projections="bf16"`` (:class:`Bf16Linear`; fast only where the CPU has native bf16,
    which the caller checks: :func:`spertmt.runtime.precision.resolve_precision`). The model
    must be on the CPU.
    ``torch.ao.quantization.quantize_dynamic`` is deprecated upstream in favour of the
    ``torchao`` package but is still the CPU int8 path that ships with torch itself (no extra
    dependency); its deprecation warnings are silenced here.

    Args:
        model: A model on the CPU, in eval mode.
        projections: ``"fp32"`` or ``"bf16"``: the arithmetic of the projections kept out of
            int8.

    Returns:
        The same model, with the encoder's ``nn.Linear`` modules other than the feed-forward
        output projections replaced by ``torch.ao.nn.quantized.dynamic.Linear``, and those
        projections by :class:`Bf16Linear` with ``projections="bf16"``.

    Raises:
        ConfigError: ``E230`` when the model is not on the CPU; ``E203`` for another
            ``projections``.

    Example:
        >>> model = quantize_encoder(model)  # doctest: +SKIP
        >>> runtime_of(model)                # doctest: +SKIP
        'torch-int8'
    """
    if projections not in ("fp32", "bf16"):
        raise ConfigError(f"projections {projections!r} is not fp32 or bf16", code="E203")
    device = next(model.parameters()).device
    check_cpu(device, quantize=True, onnx=None)
    with warnings.catch_warnings():
        # Deprecated in favour of torchao, yet still shipped and working in torch 2.x.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization.*")
        from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

        encoder = model.encoder.model.eval()
        for layer in encoder.modules():  # quantize_dynamic converts plain nn.Linear only
            if type(layer) is AutocastCachedLinear:
                layer.__dict__.pop("_low_copy", None)
                layer.__class__ = nn.Linear  # type: ignore[assignment]  # back to its base
        chosen = {
            name: default_dynamic_qconfig
            for name, module in encoder.named_modules()
            if isinstance(module, nn.Linear) and not _stays_float(name)
        }
        # In place: no second copy of the encoder while it is converted.
        model.encoder.model = quantize_dynamic(encoder, chosen, dtype=torch.qint8, inplace=True)
    if projections == "bf16":
        for prefix, parent in list(model.encoder.model.named_modules()):
            for name, child in list(parent.named_children()):
                full = f"{prefix}.{name}" if prefix else name
                if isinstance(child, nn.Linear) and _stays_float(full):
                    setattr(parent, name, Bf16Linear(child))
    return model


# ---------------------------------------------------------------------------- ONNX Runtime
def import_onnxruntime() -> ModuleType:
    """Import ``onnxruntime``, or fail with one line that says how to install it.

    Raises:
        ConfigError: ``E232`` when it is not installed.
    """
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(f"ONNX Runtime is not installed; {_ONNX_HELP}", code="E232") from None
    return onnxruntime


def resolve_onnx_path(path: str | Path) -> Path:
    """Return the ONNX file: ``path`` itself, or ``path/encoder.onnx`` for a folder."""
    candidate = Path(path)
    return candidate / ONNX_FILE if candidate.is_dir() else candidate


def weights_fingerprint(checkpoint_dir: str | Path) -> str:
    """Return the sha256 of a checkpoint's ``model.safetensors`` (ties an export to it).

    Example:
        >>> weights_fingerprint("runs/demo/model")[:12]  # doctest: +SKIP
        '3f1c0e9a77b2'
    """
    from spertmt.data.io import sha256_file
    from spertmt.model.checkpoint import WEIGHTS_FILE

    return sha256_file(Path(checkpoint_dir) / WEIGHTS_FILE)


class _EncoderOutput:
    """The one field of a Hugging Face encoder output that spertmt reads."""

    __slots__ = ("last_hidden_state",)

    def __init__(self, last_hidden_state: torch.Tensor) -> None:
        self.last_hidden_state = last_hidden_state


class OnnxEncoder(nn.Module):
    """An exported encoder run by ONNX Runtime, called like a Hugging Face encoder.

    It takes ``input_ids`` and ``attention_mask`` (``[B, T]``, int64; ``token_type_ids`` are
    not an input: spertmt never passes them, so BERT's all-zero default is baked in) and
    returns an object whose ``last_hidden_state`` is ``[B, T, H]`` float32 on the CPU.
    Batch and sequence axes are dynamic.

    Args:
        path: The ``.onnx`` file written by :func:`spertmt.runtime.export.export_onnx`.
        config: The encoder's Hugging Face config (kept for ``encoder_config()`` and windows).
        threads: Intra-op threads of the session; ``None`` uses ``torch.get_num_threads()``,
            so ``torch.set_num_threads`` governs both runtimes alike.

    Raises:
        ConfigError: ``E232`` without ``onnxruntime``.
        CheckpointError: ``E320`` when the file is missing or not a spertmt encoder export.

    Example:
        >>> encoder = OnnxEncoder("exported/encoder.onnx", config=model.encoder.model.config)
        ... # doctest: +SKIP
        >>> encoder(input_ids=ids, attention_mask=mask).last_hidden_state.shape  # doctest: +SKIP
        torch.Size([2, 9, 384])
    """

    def __init__(self, path: str | Path, *, config: Any, threads: int | None = None) -> None:
        super().__init__()
        ort = import_onnxruntime()
        self.path = Path(path)
        self.config = config
        if not self.path.is_file():
            raise CheckpointError(
                "no such ONNX file; write it with `spertmt export --model DIR --onnx FILE`",
                code="E320",
                path=self.path,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise CheckpointError(
                f"ONNX Runtime cannot load this file ({str(error).strip().splitlines()[0]}); "
                "export it again with `spertmt export`",
                code="E320",
                path=self.path,
            ) from None
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        names = tuple(i.name for i in self.session.get_inputs())
        if self.metadata.get(META_KIND) != KIND_ENCODER or names != INPUT_NAMES:
            raise CheckpointError(
                f"is not an encoder exported by spertmt (inputs {list(names)}, metadata "
                f"{META_KIND}={self.metadata.get(META_KIND)!r}); export it with "
                "`spertmt export --model DIR --onnx FILE`",
                code="E320",
                path=self.path,
            )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> _EncoderOutput:
        """Run the session on ``[B, T]`` ids and mask; returns ``last_hidden_state [B, T, H]``."""
        feed = {
            "input_ids": input_ids.detach().to("cpu", torch.int64).numpy(),
            "attention_mask": attention_mask.detach().to("cpu", torch.int64).numpy(),
        }
        (hidden,) = self.session.run([OUTPUT_NAME], feed)
        return _EncoderOutput(torch.from_numpy(hidden))


def attach_onnx_encoder(
    model: SpertMTModel, onnx: str | Path, *, checkpoint_dir: str | Path | None = None
) -> SpertMTModel:
    """Swap the model's PyTorch encoder for an ONNX Runtime one, in place.

    Args:
        model: A model on the CPU (its heads keep running in PyTorch).
        onnx: The exported ``.onnx`` file, or a folder holding ``encoder.onnx``.
        checkpoint_dir: The checkpoint the model was loaded from; when given, the export must
            come from exactly its weights (sha256 of ``model.safetensors``).

    Returns:
        The same model.

    Raises:
        ConfigError: ``E230`` when the model is not on the CPU, ``E232`` without onnxruntime.
        CheckpointError: ``E320`` for a bad file, ``E321`` for an export of other weights.
    """
    check_cpu(next(model.parameters()).device, quantize=False, onnx=onnx)
    path = resolve_onnx_path(onnx)
    encoder = OnnxEncoder(path, config=model.encoder.model.config)
    if checkpoint_dir is not None:
        expected = encoder.metadata.get(META_WEIGHTS)
        actual = weights_fingerprint(checkpoint_dir)
        if expected != actual:
            source = encoder.metadata.get(META_CHECKPOINT, "another checkpoint")
            raise CheckpointError(
                f"was exported from other weights ({source}, sha256 {str(expected)[:12]}…) than "
                f"the checkpoint {checkpoint_dir} (sha256 {actual[:12]}…); export this "
                "checkpoint again with `spertmt export --model DIR --onnx FILE`",
                code="E321",
                path=path,
            )
    # Duck-typed stand-in: WindowedEncoder only calls it and reads `last_hidden_state`/`config`.
    model.encoder.model = encoder  # type: ignore[assignment]
    return model


def prepare_for_inference(
    model: SpertMTModel,
    *,
    device: torch.device,
    quantize: bool = False,
    onnx: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    projections: Projections = "fp32",
) -> SpertMTModel:
    """Apply the requested CPU runtime to a freshly loaded model.

    Args:
        model: The loaded model (on ``device``).
        device: Where it runs; ``quantize``/``onnx`` need the CPU.
        quantize: Quantise the encoder to int8 (:func:`quantize_encoder`).
        onnx: Run the encoder from this ONNX export (:func:`attach_onnx_encoder`).
        checkpoint_dir: The checkpoint folder, to check that an ONNX export belongs to it.
        projections: With ``quantize``: the arithmetic of the projections kept out of int8.

    Returns:
        The same model.

    Raises:
        ConfigError: ``E230``/``E231``/``E232`` (see :func:`check_cpu`, :func:`import_onnxruntime`).
        CheckpointError: ``E320``/``E321`` for an unusable ONNX export.
    """
    check_cpu(device, quantize=quantize, onnx=onnx)
    if quantize:
        quantize_encoder(model, projections=projections)
    elif onnx is not None:
        attach_onnx_encoder(model, onnx, checkpoint_dir=checkpoint_dir)
    else:
        cache_autocast_casts(model.encoder)
    return model.eval()
