"""Devices: which one a run uses, and whether a CPU-only runtime can use it.

Error codes raised here: ``E209`` an unknown device or CUDA where there is none; ``E230``
``quantize``/``onnx`` on a device other than the CPU; ``E231`` both together.
"""

from __future__ import annotations

import torch

from spertmt.errors import ConfigError


def resolve_device(device: str | None, *, key: str = "train.device") -> torch.device:
    """Return ``device`` as given, else CUDA when available, else the CPU.

    Args:
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``None``.
        key: Where the value came from, for the message (``train.device``, ``device``).

    Raises:
        ConfigError: For an unknown device string or CUDA without a GPU (E209).

    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"unknown device {device!r}; use cpu, cuda or cuda:N", code="E209", key=key
        ) from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"CUDA is not available on this machine; set {key} to cpu or leave it unset",
            code="E209",
            key=key,
        )
    return chosen


def check_cpu(device: torch.device, *, quantize: bool, onnx: object) -> None:
    """Refuse ``quantize``/``onnx`` on a non-CPU device, and the two together.

    Raises:
        ConfigError: ``E230`` for a CUDA (or other non-CPU) device, ``E231`` for both options.
    """
    if quantize and onnx is not None:
        raise ConfigError(
            "quantize and onnx cannot be combined: the ONNX encoder is float32 and replaces the "
            "PyTorch encoder that quantize would convert; choose one",
            code="E231",
        )
    if (quantize or onnx is not None) and device.type != "cpu":
        what = "quantize (int8 dynamic quantisation)" if quantize else "onnx (ONNX Runtime)"
        raise ConfigError(
            f"{what} runs on the CPU only, but device {str(device)!r} was requested; use "
            "device='cpu' (--device cpu) or leave the device unset",
            code="E230",
        )


def inference_device(
    device: str | torch.device | None, *, quantize: bool = False, onnx: object = None
) -> torch.device:
    """Resolve the device of a prediction run, checking it fits ``quantize``/``onnx``.

    ``None`` picks CUDA when available, except with ``quantize`` or ``onnx`` (CPU-only
    runtimes), where it picks the CPU.

    Raises:
        ConfigError: ``E209`` for an unknown or unavailable device; ``E230``/``E231`` as
            :func:`check_cpu`.
    """
    if device is None and (quantize or onnx is not None):
        chosen = torch.device("cpu")
    else:
        chosen = (
            device if isinstance(device, torch.device) else resolve_device(device, key="device")
        )
    check_cpu(chosen, quantize=quantize, onnx=onnx)
    return chosen
