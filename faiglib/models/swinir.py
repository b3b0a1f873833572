"""SwinIR: residual Swin transformer groups with (shifted-)window self-attention (Liang et al., ICCVW 2021), with
the classical (pixel shuffle), lightweight (one-step pixel shuffle) and real-SR (nearest + conv) tails.

Layout and state-dict key names follow the original SwinIR and BasicSR's copy of it (``patch_norm=True``, no
absolute position embedding), so their published checkpoints load (:func:`faiglib.load_sr_model`; the shift masks
they store as ``attn_mask`` buffers are recomputed here for every input size). The classical layout
(``upsampler="pixelshuffle"``, ``resi_connection="1conv"``):

* ``conv_first`` (3x3 conv, 3 -> ``embed_dim``); tokens ``(B, h*w, C)`` normalised by ``patch_embed.norm``;
* ``layers.<i>`` residual Swin groups: ``residual_group.blocks.<j>`` Swin blocks, then ``conv`` (3x3 on the
  token map), plus the group's skip;
* a Swin block ``...blocks.<j>``: ``norm1`` -> window attention ``attn`` (``qkv`` and ``proj`` Linear layers,
  ``relative_position_bias_table`` of shape ``((2W-1)^2, heads)``; buffer ``relative_position_index``) on
  windows of ``W x W`` tokens, shifted by ``W // 2`` in every odd block -> skip; ``norm2`` -> ``mlp``
  (``fc1`` -> GELU -> ``fc2``) -> skip;
* ``norm`` (LayerNorm), ``conv_after_body`` (3x3) + long skip from ``conv_first``;
* ``conv_before_upsample.0`` (3x3 conv ``embed_dim`` -> ``num_feat`` and LeakyReLU), ``upsample`` (``upsample.0``
  conv + pixel shuffle, ``upsample.2`` at x4), ``conv_last``.

Inputs ``(B, 3, h, w)`` in [0, 1] of any size: they are reflect-padded to multiples of the window size and the
output is cropped back to ``(B, 3, scale*h, scale*w)`` (not clamped). The DIV2K mean is subtracted inside
(non-persistent buffer, as BasicSR's plain attribute). Every activation is its own module instance.

The published SwinIR-light body is ``embed_dim=60, depths=(6, 6, 6, 6), num_heads=(6, 6, 6, 6), window_size=8,
mlp_ratio=2`` (with a one-step upsampler, which this network does not have: the classical upsampler is kept).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from faiglib.core.units import ATTENTION_RULES, attention_head_units, head_table
from faiglib.models.rcan import DIV2K_MEAN, pixel_shuffle_upsampler

__all__ = ["SwinIR", "UPSAMPLERS", "residual_conv", "SWINIR_UNIT_RULES", "SWINIR_HEAD_RULES", "WindowAttention", "SwinBlock", "window_partition", "window_reverse",
           "relative_position_index", "shift_attention_mask", "pad_to_window"]


def window_partition(x: Tensor, window: int) -> Tensor:
    """``(B, H, W, C)`` -> ``(B * H/w * W/w, w*w, C)``: windows in row-major order (per image, window rows
    first), tokens of a window in row-major order. ``H`` and ``W`` must be multiples of ``window``."""
    b, h, w, c = x.shape
    if h % window or w % window:
        raise ValueError(f"window_partition needs H and W that are multiples of the window {window}, got {h}x{w}; "
                         f"pad first (pad_to_window)")
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B * H/w * W/w, w*w, C)`` -> ``(B, H, W, C)``."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // window) * (w // window))
    x = windows.view(b, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def relative_position_index(window: int) -> Tensor:
    """``(w*w, w*w)`` long: for tokens ``i = (y_i, x_i)``, ``j = (y_j, x_j)`` of a window (row-major), the row
    of the bias table for their offset: ``(y_i - y_j + w - 1) * (2w - 1) + (x_i - x_j + w - 1)``,
    in ``[0, (2w-1)^2)``."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window - 1
    dx = xs[:, None] - xs[None, :] + window - 1
    return dy * (2 * window - 1) + dx


def shift_attention_mask(h: int, w: int, window: int, shift: int) -> Tensor:
    """Additive mask ``(nW, w*w, w*w)`` for attention in the windows of a map ``(h, w)`` rolled by ``-shift``:
    0 between tokens that were neighbours before the roll, -100 between tokens that the cyclic roll brought into
    one window from different regions (so softmax gives them ~0 weight). Regions: per axis
    ``[0, -window)``, ``[-window, -shift)``, ``[-shift, end)``."""
    labels = torch.zeros(1, h, w, 1)
    region = 0
    cuts = lambda n: ((0, n - window), (n - window, n - shift), (n - shift, n))  # noqa: E731
    for y0, y1 in cuts(h):
        for x0, x1 in cuts(w):
            labels[:, y0:y1, x0:x1, :] = region
            region += 1
    windows = window_partition(labels, window).squeeze(-1)  # (nW, w*w)
    different = windows[:, :, None] != windows[:, None, :]
    return torch.zeros(different.shape).masked_fill(different, -100.0)


def pad_to_window(x: Tensor, window: int) -> Tensor:
    """Reflect-pad ``(B, C, h, w)`` at the bottom / right to multiples of ``window`` (BasicSR's
    ``check_image_size``); sizes up to ``window - 1`` smaller than the image are fine for reflection, smaller
    images are padded by replication."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % window, (-w) % window
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows of ``window x window`` tokens with a learned relative position
    bias per head. Input ``(nW*B, w*w, C)``, optional additive mask ``(nW, w*w, w*w)``; output same shape."""

    def __init__(self, dim: int, window: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by {num_heads} heads")
        self.window = window
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)  # (bw, heads, n, n)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask.to(attn)[None, :, None]
            attn = attn.view(bw, self.num_heads, n, n)
        attn = self.softmax(attn)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    """``fc1`` -> GELU -> ``fc2``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm Swin block on tokens ``(B, h*w, C)`` of an ``(h, w)`` map (multiples of the window):
    ``x + attn(norm1(x))`` in (shifted) windows, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int, mlp_ratio: float):
        super().__init__()
        if not 0 <= shift < window:
            raise ValueError(f"shift must lie in [0, window {window}), got {shift}")
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self._masks: dict[tuple, Tensor] = {}

    def _mask(self, h: int, w: int, device: torch.device) -> Tensor | None:
        if not self.shift:
            return None
        key = (h, w, str(device))
        if key not in self._masks:  # a pure function of (h, w): computed once per size
            self._masks[key] = shift_attention_mask(h, w, self.window, self.shift).to(device)
        return self._masks[key]

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        h, w = size
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), self._mask(h, w, x.device))
        y = window_reverse(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class BasicLayer(nn.Module):
    """``depth`` Swin blocks, the odd ones shifted by ``window // 2`` (key ``blocks``)."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, mlp_ratio: float):
        super().__init__()
        self.blocks = nn.ModuleList([SwinBlock(dim, num_heads, window, 0 if j % 2 == 0 else window // 2, mlp_ratio)
                                     for j in range(depth)])

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        for block in self.blocks:
            x = block(x, size)
        return x


def residual_conv(dim: int, resi_connection: str) -> nn.Module:
    """The conv closing a residual Swin group and the body: ``"1conv"`` -- one 3x3 conv; ``"3conv"`` (SwinIR's
    real-SR large models) -- 3x3 to ``dim // 4``, LeakyReLU 0.2, 1x1, LeakyReLU 0.2, 3x3 back to ``dim`` (keys
    ``0``, ``2``, ``4``)."""
    if resi_connection == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    if resi_connection == "3conv":
        return nn.Sequential(nn.Conv2d(dim, dim // 4, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(dim // 4, dim // 4, 1),
                             nn.LeakyReLU(0.2), nn.Conv2d(dim // 4, dim, 3, 1, 1))
    raise ValueError(f"resi_connection must be '1conv' or '3conv', got {resi_connection!r}")


class RSTB(nn.Module):
    """Residual Swin transformer block (group): ``x + conv(unembed(blocks(x)))``, on tokens ``(B, h*w, C)``."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, mlp_ratio: float,
                 resi_connection: str = "1conv"):
        super().__init__()
        self.residual_group = BasicLayer(dim, depth, num_heads, window, mlp_ratio)
        self.conv = residual_conv(dim, resi_connection)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        b, n, c = x.shape
        y = self.residual_group(x, size).transpose(1, 2).reshape(b, c, *size)
        return x + self.conv(y).flatten(2).transpose(1, 2)


class PatchEmbed(nn.Module):
    """``(B, C, h, w)`` -> tokens ``(B, h*w, C)`` with a LayerNorm (key ``patch_embed.norm``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


#: SwinIR's units (strict): conv ``(out, in)`` slices, Linear rows (``qkv``, ``proj``, ``fc1``, ``fc2``), one
#: unit per head of every relative-position-bias table; LayerNorms hold none.
SWINIR_UNIT_RULES = {**ATTENTION_RULES, WindowAttention: head_table}
#: The option of per-head attention units: a head's bias-table column, its q / k / v rows in ``qkv`` and its
#: input columns in ``proj`` (:func:`~faiglib.core.units.attention_head_units`); MLP rows and convs as above.
SWINIR_HEAD_RULES = {**ATTENTION_RULES, WindowAttention: attention_head_units}


UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv")


class SwinIR(nn.Module):
    """SwinIR (Liang et al. 2021) with any of its three SR tails (``upsampler``):

    * ``"pixelshuffle"`` (classical SR): ``conv_before_upsample`` (3x3 to ``num_feat``, LeakyReLU 0.01),
      ``upsample`` (conv + pixel shuffle per factor), ``conv_last``;
    * ``"pixelshuffledirect"`` (lightweight SR): ``upsample`` only -- one 3x3 conv to ``3·scale²`` channels and a
      pixel shuffle, straight from the body's features;
    * ``"nearest+conv"`` (real-world SR, x2 / x4): ``conv_before_upsample``, then per factor 2 a nearest
      upsampling, ``conv_up1`` (``conv_up2``) and LeakyReLU 0.2, then ``conv_hr`` + LeakyReLU 0.2, ``conv_last``.

    ``embed_dim``: token width; ``depths``: Swin blocks per residual group; ``num_heads``: heads per group (one
    int for all); ``window_size``: ``W``; ``mlp_ratio``: MLP hidden width / ``embed_dim``; ``num_feat``: width of
    the tail (64 in SwinIR); ``resi_connection``: ``"1conv"`` or ``"3conv"`` (:func:`residual_conv`).
    Attribution units: :data:`SWINIR_UNIT_RULES` (``unit_rules``).

    The published sizes: classical ``embed_dim=180, depths=(6,)*6, num_heads=6, window_size=8, mlp_ratio=2``
    (``pixelshuffle``); lightweight ``embed_dim=60, depths=(6,)*4, num_heads=6`` (``pixelshuffledirect``);
    real-SR ``embed_dim=180, depths=(6,)*6`` (``nearest+conv``; the large one ``embed_dim=240, depths=(6,)*9,
    num_heads=8, resi_connection="3conv"``).
    """

    unit_rules = SWINIR_UNIT_RULES

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, embed_dim: int = 60,
                 depths: Sequence[int] = (6, 6, 6, 6), num_heads: int | Sequence[int] = 6, window_size: int = 8,
                 mlp_ratio: float = 2.0, num_feat: int = 64, upscale: int = 2, img_range: float = 1.0,
                 rgb_mean: Sequence[float] = DIV2K_MEAN, upsampler: str = "pixelshuffle",
                 resi_connection: str = "1conv"):
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"SwinIR upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
        if upsampler == "nearest+conv" and upscale not in (2, 4):
            raise ValueError(f"SwinIR's nearest+conv tail upsamples x2 or x4, got upscale {upscale!r}")
        depths = tuple(depths)
        heads = tuple(num_heads) if isinstance(num_heads, (list, tuple)) else (num_heads,) * len(depths)
        if not depths or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in depths):
            raise ValueError(f"SwinIR depths must be a non-empty sequence of integers >= 1, got {depths!r}")
        if len(heads) != len(depths):
            raise ValueError(f"SwinIR needs one head count per group: {len(heads)} for {len(depths)} groups")
        for name, value in (("embed_dim", embed_dim), ("window_size", window_size), ("num_feat", num_feat)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SwinIR {name} must be an integer >= 1, got {value!r}")
        if window_size < 2 and any(d > 1 for d in depths):
            raise ValueError(f"window_size {window_size} leaves no room for the shifted windows; use >= 2")
        self.upscale = upscale
        self.upsampler = upsampler
        self.window_size = window_size
        self.img_range = float(img_range)
        self.register_buffer("mean", torch.tensor(tuple(rgb_mean), dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.conv_first = nn.Conv2d(num_in_ch, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList([RSTB(embed_dim, d, h, window_size, mlp_ratio, resi_connection)
                                     for d, h in zip(depths, heads)])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        if upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(nn.Conv2d(embed_dim, num_out_ch * upscale ** 2, 3, 1, 1),
                                          nn.PixelShuffle(upscale))
        else:
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1),
                                                      nn.LeakyReLU(inplace=False))
            if upsampler == "pixelshuffle":
                self.upsample = pixel_shuffle_upsampler(upscale, num_feat)
            else:
                self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
                self.lrelu_up1 = nn.LeakyReLU(0.2)
                if upscale == 4:
                    self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
                    self.lrelu_up2 = nn.LeakyReLU(0.2)
                self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
                self.lrelu_hr = nn.LeakyReLU(0.2)
            self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        for module in self.modules():  # BasicSR's SwinIR init: truncated normal Linear, unit LayerNorm
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, h, w)`` features (h, w multiples of the window) -> same shape, through the Swin groups."""
        b, c, h, w = x.shape
        tokens = self.patch_embed(x)
        for layer in self.layers:
            tokens = layer(tokens, (h, w))
        return self.norm(tokens).transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        mean = self.mean.to(x.dtype)
        x = (pad_to_window(x, self.window_size) - mean) * self.img_range
        x = self.conv_first(x)
        x = x + self.conv_after_body(self.forward_features(x))
        x = self.tail(x)
        return (x / self.img_range + mean)[..., : h * self.upscale, : w * self.upscale]

    def representation_layers(self) -> list[str]:
        """Module names whose outputs represent the input, first to last (for CKA): ``conv_first``, every residual
        Swin group (token outputs), ``conv_after_body``, and the convs of the tail."""
        tail = {"pixelshuffle": ["conv_before_upsample", "conv_last"], "pixelshuffledirect": ["upsample"],
                "nearest+conv": ["conv_before_upsample", "conv_hr", "conv_last"]}[self.upsampler]
        return ["conv_first", *(f"layers.{i}" for i in range(len(self.layers))), "conv_after_body", *tail]

    def tail(self, x: Tensor) -> Tensor:
        """The ``upsampler``'s reconstruction: body features ``(B, embed_dim, h, w)`` -> ``(B, 3, s·h, s·w)``
        (before the mean is added back)."""
        if self.upsampler == "pixelshuffledirect":
            return self.upsample(x)
        x = self.conv_before_upsample(x)
        if self.upsampler == "pixelshuffle":
            return self.conv_last(self.upsample(x))
        x = self.lrelu_up1(self.conv_up1(F.interpolate(x, scale_factor=2, mode="nearest")))
        if self.upscale == 4:
            x = self.lrelu_up2(self.conv_up2(F.interpolate(x, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu_hr(self.conv_hr(x)))
