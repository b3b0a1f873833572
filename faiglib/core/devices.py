"""Devices: a device string is checked when it is given, not when training starts minutes later."""
from __future__ import annotations

import torch

__all__ = ["SUPPORTED", "check_device"]

#: The device types faiglib runs on.
SUPPORTED = ("cpu", "cuda", "mps")
_FORMS = "'cpu', 'cuda', 'cuda:N' or 'mps'"


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` if this machine has it; else ``ValueError`` saying what exists.

    Refused: strings torch does not parse (``"gpu"``), types faiglib does not run on (``"meta"``, ``"xpu"``),
    ``"cuda"`` without a usable CUDA, ``"cuda:N"`` with N beyond the device count, ``"mps"`` where
    ``torch.backends.mps.is_available()`` is false.
    """
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise ValueError(f"unknown device {device!r}; use {_FORMS}") from None
    else:
        raise ValueError(f"unknown device {device!r} (a {type(device).__name__}); use {_FORMS}")
    if dev.type not in SUPPORTED:
        raise ValueError(f"device type {dev.type!r} is not supported by faiglib; use {_FORMS}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            built = ("without CUDA" if torch.version.cuda is None
                     else f"with CUDA {torch.version.cuda}, but no GPU is usable")
            raise ValueError(f"device {str(dev)!r}: CUDA is not available (torch {torch.__version__} is built "
                             f"{built}); use device='cpu'")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(dev)!r}: this machine has {count} CUDA device(s), "
                             f"cuda:0 .. cuda:{count - 1}")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(dev)!r}: MPS (Apple GPU) is not available on this machine; use device='cpu'")
    return dev
