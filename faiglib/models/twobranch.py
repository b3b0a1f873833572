"""A two-branch blind SR network in the spirit of DASR (Wang et al., CVPR 2021), for the paper's Table 1.

DASR's design, which this module follows: a *degradation encoder* turns the LR input into a degradation
representation, learned without degradation labels by a contrastive loss (two patches of the same image
share its degradation and form a positive pair; patches of other images are negatives), and the restorer
is built from *degradation-aware* (DA) convolutions: the representation predicts a depthwise 3x3 kernel per
channel and per sample (followed by a 1x1 conv) and a channel-attention vector that rescales the features.

What is simplified (on purpose, to fit a CPU and to keep both models of Table 1 comparable):

* the restorer's head and tail are MSRResNet's (``conv_first``, pixel-shuffle ``upconv1``, ``conv_hr``,
  ``conv_last``, bilinear global skip), so the two models of Table 1 differ only in the body; DASR's body is
  5 groups of 5 DA blocks with group skips, here one chain of ``num_block`` DA blocks (as MSRResNet's body);
* the encoder has no batch norm (so a single test image and a training batch see the same network), four
  convs instead of six, and a width ``enc_feat`` of its own;
* the representation is compressed to ``rep_dim`` values before the DA convs (DASR: 256 -> 64); a small
  ``rep_dim`` keeps the per-block kernel generators from dominating the parameter count, so that the FLOPs
  *and* the parameters of an MSRResNet can both be matched;
* the contrastive loss is InfoNCE with in-batch negatives on a projection head (:func:`contrastive_loss`),
  instead of MoCo's momentum encoder and queue, and it is trained jointly with the L1 loss from the first
  iteration (DASR pre-trains the encoder alone first).

Images are ``(B, 3, h, w)`` in [0, 1]; the output is ``(B, 3, scale*h, scale*w)`` (not clamped).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from faiglib.models.networks import _add_sr_tail, _check_scale, _init_residual_net, _leaky, _sr_tail

__all__ = ["DegradationEncoder", "DAConv", "DABlock", "TwoBranchSR", "contrastive_loss", "split_views"]


class DegradationEncoder(nn.Module):
    """LR image ``(B, 3, h, w)`` -> degradation representation ``(B, 2 * enc_feat)`` (global average of conv
    features), plus a projection head used only by the contrastive loss (:meth:`project`).

    Two convs at full LR resolution see fine structure (noise, residual sharpness); two more after a stride-2
    conv widen the receptive field (blur spreads over several pixels) at a quarter of the cost.
    """

    def __init__(self, enc_feat: int = 16, num_in_ch: int = 3):
        super().__init__()
        if enc_feat < 1:
            raise ValueError(f"enc_feat must be >= 1, got {enc_feat}")
        e = enc_feat
        self.convs = nn.ModuleList([nn.Conv2d(num_in_ch, e, 3, 1, 1), nn.Conv2d(e, e, 3, 1, 1),
                                    nn.Conv2d(e, 2 * e, 3, 1, 1), nn.Conv2d(2 * e, 2 * e, 3, 1, 1)])
        self.head = nn.Sequential(nn.Linear(2 * e, 2 * e), nn.LeakyReLU(0.1), nn.Linear(2 * e, 2 * e))
        self.out_dim = 2 * e

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = _leaky(conv(x))
        return x.mean(dim=(-2, -1))

    def project(self, representation: torch.Tensor) -> torch.Tensor:
        """``(B, out_dim)`` -> ``(B, out_dim)`` embedding for :func:`contrastive_loss` (training only)."""
        return self.head(representation)


class DAConv(nn.Module):
    """Degradation-aware convolution: ``pointwise(lrelu(depthwise_r(x))) + x * attention(r)``.

    ``x``: features ``(B, C, h, w)``; ``r``: representation ``(B, rep_dim)``. The depthwise 3x3 kernels,
    one per sample and channel, are predicted from ``r`` by a two-layer MLP; the attention ``(B, C)`` in
    (0, 1) by another one. Returns ``(B, C, h, w)``.
    """

    def __init__(self, num_feat: int, rep_dim: int, reduction: int = 4):
        super().__init__()
        hidden = max(num_feat // reduction, 1)
        self.kernel = nn.Sequential(nn.Linear(rep_dim, rep_dim), nn.LeakyReLU(0.1), nn.Linear(rep_dim, num_feat * 9))
        self.pointwise = nn.Conv2d(num_feat, num_feat, 1)
        self.attention = nn.Sequential(nn.Linear(rep_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_feat), nn.Sigmoid())

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        kernels = self.kernel(r).reshape(b * c, 1, 3, 3)
        # every (sample, channel) pair is its own group: one grouped conv applies all per-sample kernels
        y = F.conv2d(x.reshape(1, b * c, h, w), kernels, padding=1, groups=b * c).reshape(b, c, h, w)
        y = self.pointwise(_leaky(y))
        return y + x * self.attention(r).reshape(b, c, 1, 1)


class DABlock(nn.Module):
    """DASR's DA block: ``x + conv2(lrelu(da2(lrelu(conv1(lrelu(da1(x, r)))), r)))``; 3x3 convs, no BN."""

    def __init__(self, num_feat: int, rep_dim: int):
        super().__init__()
        self.da1 = DAConv(num_feat, rep_dim)
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.da2 = DAConv(num_feat, rep_dim)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        out = _leaky(self.da1(x, r))
        out = _leaky(self.conv1(out))
        out = _leaky(self.da2(out, r))
        return x + self.conv2(out)


class TwoBranchSR(nn.Module):
    """Encoder branch + DA-conv restorer (see the module docstring). ``forward(x)`` runs both branches.

    ``num_feat``: restorer width; ``num_block``: DA blocks; ``enc_feat``: encoder width (default
    ``num_feat // 2``); ``rep_dim``: size of the compressed representation fed to every DA conv (default
    ``max(num_feat // 8, 2)``).
    """

    def __init__(self, num_feat: int = 32, num_block: int = 4, enc_feat: int | None = None,
                 rep_dim: int | None = None, upscale: int = 2, num_in_ch: int = 3, num_out_ch: int = 3):
        super().__init__()
        # defaults scale with the width: 64 features -> encoder 32 (representation 64), rep_dim 8
        enc_feat = max(num_feat // 2, 1) if enc_feat is None else enc_feat
        rep_dim = max(num_feat // 8, 2) if rep_dim is None else rep_dim
        _check_scale(upscale, (2, 3, 4))
        if num_feat < 1 or num_block < 0 or rep_dim < 1:
            raise ValueError(f"num_feat and rep_dim must be >= 1 and num_block >= 0, got {num_feat}, {rep_dim}, {num_block}")
        self.upscale = upscale
        self.encoder = DegradationEncoder(enc_feat, num_in_ch)
        self.compress = nn.Linear(self.encoder.out_dim, rep_dim)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.ModuleList([DABlock(num_feat, rep_dim) for _ in range(num_block)])
        _add_sr_tail(self, num_feat, num_out_ch, upscale)
        # As MSRResNet (linear layers too), so the untrained network starts at the bilinear skip: the same
        # starting point for both models of Table 1.
        _init_residual_net(self, (nn.Conv2d, nn.Linear))

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features ``(B, 2 * enc_feat)`` of LR images ``(B, 3, h, w)`` (before compression)."""
        return self.encoder(x)

    def restore(self, x: torch.Tensor, representation: torch.Tensor) -> torch.Tensor:
        """The restorer branch: LR ``(B, 3, h, w)`` and encoder features ``(B, 2 * enc_feat)`` -> SR output."""
        r = _leaky(self.compress(representation))
        feat = _leaky(self.conv_first(x))
        out = feat
        for block in self.body:
            out = block(out, r)
        return _sr_tail(self, out, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.restore(x, self.representation(x))


def split_views(lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two non-overlapping views of each LR patch ``(B, 3, h, w)``: its left and right halves, each
    ``(B, 3, h, w // 2)``. They share the sample's degradation but not its content, which is what the
    contrastive loss needs to pull together (DASR draws two patches of one image)."""
    w = lr.shape[-1]
    if w < 2:
        raise ValueError(f"need LR patches at least 2 pixels wide to split into two views, got {tuple(lr.shape)}")
    half = w // 2
    return lr[..., :half], lr[..., half: 2 * half]


def contrastive_loss(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """InfoNCE with in-batch negatives: the positive of ``query[i]`` is ``key[i]``, its negatives the other keys.

    ``query``, ``key``: ``(B, D)`` embeddings (L2-normalised here), ``B >= 2``. Returns the mean over ``i`` of
    ``-log softmax_j(<q_i, k_j> / temperature)[i]``, a scalar >= 0; ``log B`` when all keys are alike.
    """
    if query.shape != key.shape or query.dim() != 2:
        raise ValueError(f"query and key must both be (B, D), got {tuple(query.shape)} and {tuple(key.shape)}")
    if query.shape[0] < 2:
        raise ValueError("the contrastive loss needs a batch of at least 2 (the other samples are the negatives)")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = F.normalize(query, dim=1) @ F.normalize(key, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(query.shape[0], device=query.device))
