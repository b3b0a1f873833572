"""A trained network from a checkpoint file: the architecture recorded in it (or named), built and loaded.

It lives in the models layer (it builds networks); :mod:`faiglib.core.checkpoint` reads and writes the files.
"""
from __future__ import annotations

import os
from typing import Any

from torch import nn

from faiglib.core.checkpoint import CheckpointError, load_state
from faiglib.models.networks import build_network

__all__ = ["load_model"]


def load_model(path: str | os.PathLike, arch: str | None = None, key: str | None = None,
               **arch_kwargs: Any) -> nn.Module:
    """Build the network recorded in the checkpoint (or ``arch(**arch_kwargs)`` for a BasicSR file) and load it."""
    state, meta = load_state(path, key)
    arch = arch or meta.get("arch")
    if arch is None:
        raise CheckpointError(f"{path}: no architecture recorded; pass arch= and its keyword arguments")
    # the recorded kwargs belong to the recorded architecture; they do not apply to another arch=
    recorded = meta.get("arch_kwargs", {}) if meta.get("arch", arch) == arch else {}
    kwargs = {**recorded, **arch_kwargs}
    model = build_network(arch, **kwargs)
    missing, unexpected = set(model.state_dict()) - set(state), set(state) - set(model.state_dict())
    if missing or unexpected:
        raise CheckpointError(f"{path}: does not fit {arch}({kwargs}): missing {sorted(missing)[:4]}, "
                              f"unexpected {sorted(unexpected)[:4]}")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: does not fit {arch}({kwargs}): {err}") from None
    return model.eval()
