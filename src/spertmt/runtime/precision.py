"""Numeric precision of training and prediction: fp32, bf16 or fp16 autocast.

Mixed precision runs the matrix products in a 16-bit type under :func:`torch.autocast` while
the weights (and, in training, the optimiser state) stay fp32; the model's scores are cast back
to fp32 (:mod:`spertmt.model.outputs`), so losses and decisions are computed at full precision.

- ``fp32``: no autocast (SpERT exactly; the default).
- ``bf16``: bfloat16 autocast. On a CPU only where it has native bf16 instructions (AMX or
  AVX512-BF16): elsewhere PyTorch emulates bf16 and runs slower than fp32, so it is refused.
  On CUDA where the GPU supports bf16 (Ampere and later).
- ``fp16``: float16 autocast with dynamic loss scaling in training; CUDA only.
- ``auto``: ``bf16`` where it is native (CPU with AMX or AVX512-BF16, or a bf16 GPU),
  ``fp32`` otherwise; :attr:`Precision.note` says which and why.

Error codes raised here: ``E234`` a precision the device cannot run; ``E235`` a 16-bit
precision together with ``onnx``, or for one call of a model already loaded with ``quantize``
(those runtimes have their own arithmetic; int8 with bf16 projections is chosen when the model
is loaded: ``SpertMT.from_pretrained(quantize=True, precision="bf16")``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch

from spertmt.errors import ConfigError

PrecisionName = Literal["fp32", "bf16", "fp16", "auto"]
PRECISIONS: tuple[str, ...] = get_args(PrecisionName)
"""The accepted names."""

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """A resolved precision: what autocast runs, on which device type.

    Attributes:
        name: ``fp32``, ``bf16`` or ``fp16`` (``auto`` resolved).
        device_type: ``cpu`` or ``cuda``.
        note: Why ``auto`` chose this (empty when the name was given).

    """

    name: str
    device_type: str
    note: str = ""

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast type, ``None`` for fp32."""
        return _DTYPES[self.name]

    @property
    def needs_loss_scaling(self) -> bool:
        """fp16 gradients underflow without a dynamic loss scale."""
        return self.name == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """A context that runs the model in this precision (nothing for fp32).

        Example:
            >>> with Precision("fp32", "cpu").autocast():
            ...     torch.ones(2, 2) @ torch.ones(2, 2)
            tensor([[2., 2.],
                    [2., 2.]])
        """
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def cpu_bf16_native() -> tuple[bool, str]:
    """Whether this CPU has native bf16 instructions, and which.

    Asks PyTorch first (``torch.cpu._is_amx_tile_supported`` /
    ``_is_avx512_bf16_supported``, present in the versions we pin), then the CPU flags in
    ``/proc/cpuinfo`` (``amx_bf16``, ``avx512_bf16``).

    Example:
        >>> native, how = cpu_bf16_native()
        >>> isinstance(native, bool) and isinstance(how, str)
        True
    """
    cpu = getattr(torch, "cpu", None)
    for attr, label in (
        ("_is_amx_tile_supported", "AMX"),
        ("_is_avx512_bf16_supported", "AVX512-BF16"),
    ):
        check = getattr(cpu, attr, None)
        if check is not None:
            try:
                if check():
                    return True, label
            except RuntimeError:  # pragma: no cover - a build without the probe
                pass
    flags = _cpu_flags()
    for flag, label in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16")):
        if flag in flags:
            return True, label
    return False, "neither AMX nor AVX512-BF16"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cuda_bf16_native(device: torch.device) -> bool:
    """Whether the GPU of ``device`` computes bf16 in hardware.

    That is compute capability 8.0 or later (Ampere on), or a ROCm build. A GPU on which torch
    would only emulate bf16 (which ``torch.cuda.is_bf16_supported()`` counts by default) does
    not count: there bf16 is slower than fp32.
    """
    if torch.version.hip:
        return True
    major, _minor = torch.cuda.get_device_capability(device)
    return major >= 8


def resolve_precision(
    name: str,
    device: torch.device,
    *,
    key: str | None = None,
    quantize: bool = False,
    onnx: object = None,
) -> Precision:
    """Check that ``device`` can run precision ``name``; resolve ``auto``.

    Args:
        name: ``fp32``, ``bf16``, ``fp16`` or ``auto``.
        device: Where the model runs.
        key: The configuration key it came from (``train.precision``), for messages;
            ``None`` for an argument (``precision=``, ``--precision``).
        quantize: The int8 runtime is already on (a call of a loaded model: only fp32 or auto
            fit it; its projections' arithmetic was chosen when it was loaded).
        onnx: The ONNX Runtime encoder is on (idem).

    Returns:
        The resolved precision.

    Raises:
        ConfigError: ``E203`` for an unknown name; ``E234`` for bf16 on a CPU without native
            bf16 or a GPU without it, or fp16 off CUDA; ``E235`` for bf16/fp16 together with
            ``quantize`` or ``onnx``.

    Example:
        >>> resolve_precision("fp32", torch.device("cpu")).dtype is None
        True
        >>> resolve_precision("auto", torch.device("cpu"), quantize=True).name
        'fp32'
    """
    if name not in PRECISIONS:
        raise ConfigError(f"{name!r} is not one of {', '.join(PRECISIONS)}", code="E203", key=key)
    kind = device.type
    other_runtime = quantize or onnx is not None
    if name == "fp32":
        return Precision("fp32", kind)
    if other_runtime:
        if name == "auto":
            return Precision("fp32", kind, "auto: fp32, because the int8/ONNX runtime is on")
        if quantize:
            raise ConfigError(
                f"precision {name} cannot change a model loaded with quantize, which runs its "
                "own arithmetic; for int8 with bf16 projections, load it with quantize=True "
                "and precision='bf16' (--quantize --precision bf16)",
                code="E235",
                key=key,
            )
        raise ConfigError(
            f"precision {name} cannot be combined with onnx, which runs its own arithmetic; "
            "drop one of them",
            code="E235",
            key=key,
        )
    if kind == "cuda":
        bf16 = cuda_bf16_native(device)
        if name == "auto":
            return (
                Precision("bf16", kind, "auto: bf16, the GPU supports it")
                if bf16
                else Precision(
                    "fp32", kind, "auto: fp32, the GPU has no bf16 in hardware (capability < 8.0)"
                )
            )
        if name == "bf16" and not bf16:
            raise ConfigError(
                "this GPU does not support bf16 in hardware (compute capability below 8.0, "
                "where torch would emulate it, slower than fp32); use fp16 (with loss scaling) "
                "or fp32",
                code="E234",
                key=key,
            )
        return Precision(name, kind)
    if name == "fp16":
        raise ConfigError(
            f"fp16 runs on CUDA only, but the device is {str(device)!r}; use bf16 (on a CPU "
            "with AMX or AVX512-BF16), auto or fp32",
            code="E234",
            key=key,
        )
    native, how = cpu_bf16_native()
    if name == "auto":
        return (
            Precision("bf16", kind, f"auto: bf16, this CPU has {how}")
            if native
            else Precision("fp32", kind, f"auto: fp32, this CPU has {how}")
        )
    if not native:
        raise ConfigError(
            f"bf16 needs a CPU with AMX or AVX512-BF16 and this one has {how} (PyTorch would "
            "emulate it, slower than fp32); use fp32 or auto",
            code="E234",
            key=key,
        )
    return Precision("bf16", kind)
