"""What a method costs: wall time and the number of images passed forward and backward through a network."""
from __future__ import annotations

import time
from dataclasses import dataclass

from torch import nn

__all__ = ["PassCount", "count_passes"]


@dataclass
class PassCount:
    """Images through the network's forward (``forward``) and backward (``backward``) passes, and wall seconds.
    A batch of B images counts B; a forward pass under ``no_grad`` counts as a forward only."""

    forward: int = 0
    backward: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"forward": self.forward, "backward": self.backward, "seconds": self.seconds}


class count_passes:
    """Context manager counting the images ``model`` processes inside the block (a forward hook on ``model``; the
    backward of an output that requires grad is counted by a hook on that output tensor) and the wall time.

    >>> with count_passes(net) as c:
    ...     net(x)
    >>> c.forward, c.backward, c.seconds
    """

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise ValueError(f"count_passes needs an nn.Module, got {type(model).__name__}")
        self.model = model
        self.count = PassCount()

    def _hook(self, _m, _inp, out):
        n = int(out.shape[0]) if hasattr(out, "shape") and out.dim() > 0 else 1
        self.count.forward += n
        if getattr(out, "requires_grad", False):
            def on_grad(grad, n=n):
                self.count.backward += n
            out.register_hook(on_grad)

    def __enter__(self) -> PassCount:
        self._handle = self.model.register_forward_hook(self._hook)
        self._t0 = time.perf_counter()
        return self.count

    def __exit__(self, *exc) -> None:
        self.count.seconds += time.perf_counter() - self._t0
        self._handle.remove()
