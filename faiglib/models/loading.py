"""A trained network from a checkpoint file: the architecture recorded in it (or named), built and loaded.

It lives in the models layer (it builds networks); :mod:`faiglib.core.checkpoint` reads and writes the files.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from faiglib.core.checkpoint import CheckpointError, as_state_dict, load_state
from faiglib.models.networks import build_network
from faiglib.models.rcan import DIV2K_MEAN

__all__ = ["load_model", "load_sr_model", "detect_architecture"]


def load_model(path: str | os.PathLike, arch: str | None = None, key: str | None = None,
               **arch_kwargs: Any) -> nn.Module:
    """Build the network recorded in the checkpoint (or ``arch(**arch_kwargs)`` for a BasicSR file) and load it."""
    state, meta = load_state(path, key)
    arch = arch or meta.get("arch")
    if arch is None:
        raise CheckpointError(f"{path}: no architecture recorded; pass arch= and its keyword arguments")
    # the recorded kwargs belong to the recorded architecture; they do not apply to another arch=
    recorded = meta.get("arch_kwargs", {}) if meta.get("arch", arch) == arch else {}
    return _loaded(arch, {**recorded, **arch_kwargs}, state, str(path))


def _loaded(arch: str, kwargs: Mapping[str, Any], state: Mapping[str, torch.Tensor], where: str) -> nn.Module:
    """``arch(**kwargs)`` with ``state`` loaded strictly, in eval mode; :class:`CheckpointError` naming ``where``,
    the missing and unexpected keys, or the shapes that differ."""
    model = build_network(arch, **kwargs)
    missing, unexpected = set(model.state_dict()) - set(state), set(state) - set(model.state_dict())
    if missing or unexpected:
        raise CheckpointError(f"{where}: does not fit {arch}({dict(kwargs)}): missing {sorted(missing)[:6]}, "
                              f"unexpected {sorted(unexpected)[:6]}")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{where}: does not fit {arch}({dict(kwargs)}): {err}") from None
    return model.eval()


# ---- community checkpoints: the architecture and its sizes from the keys and shapes ---------------------------

#: key patterns that identify each layout (all must be present), in the order they are tried.
_SIGNATURES = {
    "swinir": ("conv_first.weight", "patch_embed.norm.weight", "layers.0.residual_group.blocks.0.attn.qkv.weight",
               "norm.weight"),
    "rcan": ("conv_first.weight", "body.0.residual_group.0.rcab.0.weight",
             "body.0.residual_group.0.rcab.3.attention.1.weight", "conv_after_body.weight", "upsample.0.weight",
             "conv_last.weight"),
    "rrdbnet": ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_up1.weight",
                "conv_up2.weight", "conv_hr.weight", "conv_last.weight"),
    "edsr": ("conv_first.weight", "body.0.conv1.weight", "conv_after_body.weight", "upsample.0.weight",
             "conv_last.weight"),
    "msrresnet": ("conv_first.weight", "body.0.conv1.weight", "upconv1.weight", "conv_hr.weight", "conv_last.weight"),
}


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    return len({k.split(".")[1] for k in state if re.fullmatch(pattern, k)})


def detect_architecture(state: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any]]:
    """``(arch, constructor kwargs)`` of a community state dict, read from its keys and shapes: MSRResNet / SRResNet
    (BasicSR), EDSR (BasicSR), RCAN (BasicSR), RRDBNet (ESRGAN, BasicSR; x4, and x2 / x1 from the unshuffled input
    channels) or SwinIR (original and BasicSR: classical, lightweight and real-SR tails, 1conv / 3conv).
    ValueError naming the closest layout, with its missing and unexpected keys, for anything else."""
    for arch, keys in _SIGNATURES.items():
        if all(k in state for k in keys):
            break
    else:
        raise _unknown_layout(state)
    nf = int(state["conv_first.weight"].shape[0])
    if arch == "swinir":
        return arch, _swinir_sizes(state)
    if arch == "rcan":
        return arch, {"num_feat": nf, "num_group": _count(state, r"body\.\d+\.conv\.weight"),
                      "num_block": len({k.split(".")[3] for k in state
                                        if re.fullmatch(r"body\.0\.residual_group\.\d+\.rcab\.0\.weight", k)}),
                      "squeeze_factor": nf // int(state["body.0.residual_group.0.rcab.3.attention.1.weight"].shape[0]),
                      "upscale": _pixel_shuffle_scale(state, "upsample", nf)}
    if arch == "rrdbnet":
        in_ch = int(state["conv_first.weight"].shape[1])
        scale = {3: 4, 12: 2, 48: 1}.get(in_ch)
        if scale is None:
            raise ValueError(f"an RRDBNet layout whose conv_first reads {in_ch} channels (3, 12 or 48 expected: "
                             f"x4, x2 or x1 of an RGB image)")
        return arch, {"num_feat": nf, "num_block": _count(state, r"body\.\d+\.rdb1\.conv1\.weight"),
                      "num_grow_ch": int(state["body.0.rdb1.conv1.weight"].shape[0]), "scale": scale}
    blocks = _count(state, r"body\.\d+\.conv1\.weight")
    if arch == "edsr":
        sizes = {"num_feat": nf, "num_block": blocks, "upscale": _pixel_shuffle_scale(state, "upsample", nf)}
        # the residual scaling is in no tensor: the published EDSR (256 wide, 32 blocks) uses 0.1, the baseline 1
        return arch, {**sizes, "res_scale": 0.1} if (nf, blocks) == (256, 32) else sizes
    scale = 4 if "upconv2.weight" in state else {4 * nf: 2, 9 * nf: 3}.get(int(state["upconv1.weight"].shape[0]))
    if scale is None:
        raise ValueError(f"an MSRResNet layout whose upconv1 has {state['upconv1.weight'].shape[0]} outputs "
                         f"(4 or 9 x {nf} expected)")
    return arch, {"num_feat": nf, "num_block": blocks, "upscale": scale}


def _pixel_shuffle_scale(state: Mapping[str, torch.Tensor], prefix: str, nf: int) -> int:
    """The scale of a conv + pixel-shuffle upsampler ``<prefix>.0``, ``<prefix>.2``, ...: x3 when the first conv
    makes ``9·nf`` channels, else 2 per conv."""
    convs = [k for k in state if re.fullmatch(rf"{prefix}\.\d+\.weight", k)]
    return 3 if int(state[f"{prefix}.0.weight"].shape[0]) == 9 * nf else 2 ** len(convs)


def _swinir_sizes(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """SwinIR's constructor arguments from its keys and shapes: embed dim, blocks and heads per group, window
    (the bias table has ``(2W − 1)²`` rows), MLP ratio, residual connection and the tail (upsampler, its width
    and scale)."""
    dim = int(state["conv_first.weight"].shape[0])
    groups = sorted({int(k.split(".")[1]) for k in state if re.fullmatch(r"layers\.\d+\.residual_group\..*", k)})
    depths, heads = [], []
    for g in groups:
        depths.append(len({k.split(".")[4] for k in state
                           if re.fullmatch(rf"layers\.{g}\.residual_group\.blocks\.\d+\.norm1\.weight", k)}))
        heads.append(int(state[f"layers.{g}.residual_group.blocks.0.attn.relative_position_bias_table"].shape[1]))
    rows = int(state["layers.0.residual_group.blocks.0.attn.relative_position_bias_table"].shape[0])
    window = (round(rows ** 0.5) + 1) // 2
    if (2 * window - 1) ** 2 != rows:
        raise ValueError(f"a SwinIR layout whose relative-position-bias table has {rows} rows, not (2W - 1)^2")
    sizes: dict[str, Any] = {
        "embed_dim": dim, "depths": depths, "num_heads": heads, "window_size": window,
        "mlp_ratio": int(state["layers.0.residual_group.blocks.0.mlp.fc1.weight"].shape[0]) / dim,
        "resi_connection": "3conv" if "conv_after_body.0.weight" in state else "1conv",
        "num_in_ch": int(state["conv_first.weight"].shape[1])}
    if "conv_up1.weight" in state:
        sizes.update(upsampler="nearest+conv", upscale=4 if "conv_up2.weight" in state else 2,
                     num_feat=int(state["conv_before_upsample.0.weight"].shape[0]))
    elif "conv_before_upsample.0.weight" in state:
        nf = int(state["conv_before_upsample.0.weight"].shape[0])
        sizes.update(upsampler="pixelshuffle", num_feat=nf, upscale=_pixel_shuffle_scale(state, "upsample", nf))
    elif "upsample.0.weight" in state:
        out = int(state["upsample.0.weight"].shape[0])
        scale = round((out / 3) ** 0.5)
        if 3 * scale ** 2 != out:
            raise ValueError(f"a lightweight SwinIR tail with {out} output channels (3 x scale^2 expected)")
        sizes.update(upsampler="pixelshuffledirect", upscale=scale)
    else:
        raise ValueError("a SwinIR body without an SR tail (the denoising / JPEG models have none): not an SR network")
    return sizes


def _check_mean_shift(state: Mapping[str, torch.Tensor], name: str, sign: float) -> None:
    """The original code's ``sub_mean`` / ``add_mean`` are fixed 1x1 convs (``MeanShift``, std 1): identity weight,
    bias ``∓255·mean`` with DIV2K's mean.
    faiglib's EDSR and RCAN apply exactly that shift; anything else is refused rather than silently dropped."""
    weight, bias = state.get(f"{name}.weight"), state.get(f"{name}.bias")
    if weight is None:
        return
    expected = sign * 255 * torch.tensor(DIV2K_MEAN, dtype=torch.float64)
    if (weight.shape[:2] != (3, 3) or not torch.allclose(weight.double().reshape(3, 3), torch.eye(3, dtype=torch.float64))
            or bias is None or not torch.allclose(bias.double(), expected, atol=1e-3)):
        raise ValueError(f"the checkpoint's {name} is not the DIV2K mean shift of the original EDSR / RCAN code "
                         f"(identity weight, bias {sign:+.0f} x 255 x {DIV2K_MEAN}); its network cannot be "
                         f"built here")


def _from_original_layout(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original EDSR / RCAN repositories' key names (EDSR-PyTorch: ``sub_mean``, ``head.0``, ``body.<i>.body.
    <j>``, ``tail.0.<k>``, ``tail.1``, ``add_mean``) renamed to BasicSR's, which faiglib's networks use; the fixed
    mean shifts are checked and dropped (the networks apply the same shift). Any other state dict is returned as
    it is."""
    if not ("head.0.weight" in state and "tail.1.weight" in state):
        return dict(state)
    _check_mean_shift(state, "sub_mean", -1.0)
    _check_mean_shift(state, "add_mean", +1.0)
    rcan = "body.0.body.0.body.3.conv_du.0.weight" in state
    trunk = max(int(k.split(".")[1]) for k in state if re.fullmatch(r"body\.\d+\..*", k))
    last_in_group: dict[str, str] = {}  # RCAN: each group's closing conv is its body.<n_resblocks>
    for key in state:
        m = re.fullmatch(r"body\.(\d+)\.body\.(\d+)\..*", key)
        if m and int(m[2]) > int(last_in_group.get(m[1], -1)):
            last_in_group[m[1]] = m[2]
    renamed = {}
    for key, value in state.items():
        if key.startswith(("sub_mean.", "add_mean.")):
            continue
        new = re.sub(r"^head\.0\.", "conv_first.", key)
        new = re.sub(r"^tail\.0\.", "upsample.", new)
        new = re.sub(r"^tail\.1\.", "conv_last.", new)
        new = re.sub(rf"^body\.{trunk}\.", "conv_after_body.", new)
        if rcan:  # body.<g>.body.<b>.body.{0, 2, 3.conv_du.{0, 2}} -> body.<g>.residual_group.<b>.rcab.{0, 2, 3.attention.{1, 3}}
            m = re.fullmatch(r"body\.(\d+)\.body\.(\d+)\.(weight|bias)", new)
            if m and last_in_group.get(m[1]) == m[2]:
                new = f"body.{m[1]}.conv.{m[3]}"
            new = re.sub(r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.(\d)\.",
                         lambda m: f"body.{m[1]}.residual_group.{m[2]}.rcab.3.attention.{int(m[3]) + 1}.", new)
            new = re.sub(r"^body\.(\d+)\.body\.(\d+)\.body\.([02])\.", r"body.\1.residual_group.\2.rcab.\3.", new)
        else:  # EDSR: body.<b>.body.{0, 2} -> body.<b>.conv{1, 2}
            new = re.sub(r"^body\.(\d+)\.body\.([02])\.", lambda m: f"body.{m[1]}.conv{int(m[2]) // 2 + 1}.", new)
        renamed[new] = value
    return renamed


def _derived_buffers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without the buffers a network computes itself: SwinIR's shift masks (``attn_mask``, stored for
    the training patch size; recomputed for every input size here)."""
    return {k: v for k, v in state.items() if not k.endswith(".attn_mask")}


def _unknown_layout(state: Mapping[str, torch.Tensor]) -> ValueError:
    """The error for a state dict of no known layout: the closest one (most shared key names, with the indices of
    repeated blocks ignored), and its missing and unexpected keys."""
    def shape(keys):
        return {re.sub(r"\.\d+\.", ".N.", k) for k in keys}

    have = shape(state)
    expected = {"msrresnet": build_network("msrresnet", num_feat=8, num_block=2, upscale=4),
                "edsr": build_network("edsr", num_feat=8, num_block=2, upscale=4),
                "rcan": build_network("rcan", num_feat=8, num_group=2, num_block=2, squeeze_factor=4, upscale=4),
                "rrdbnet": build_network("rrdbnet", num_feat=8, num_block=2, num_grow_ch=4),
                "swinir": build_network("swinir", embed_dim=8, depths=(2, 2), num_heads=2, window_size=4,
                                        num_feat=8, upscale=4)}
    scores = {a: len(have & shape(m.state_dict())) / len(have | shape(m.state_dict())) for a, m in expected.items()}
    closest = max(scores, key=scores.get)
    want = shape(expected[closest].state_dict())
    return ValueError(f"unknown checkpoint layout ({len(state)} tensors); the closest known one is {closest} "
                      f"({scores[closest]:.0%} of key names shared): missing {sorted(want - have)[:6]}, unexpected "
                      f"{sorted(have - want)[:6]}. Known: MSRResNet/SRResNet, EDSR, RCAN, RRDBNet, SwinIR (BasicSR / original "
                      f"key names), and "
                      f"faiglib's own checkpoints (any of its networks)")


def _read_state(checkpoint) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state dict, meta)`` from a path (``.pth``/``.pt``: ``params_ema`` / ``params`` / a bare state dict, read
    ``weights_only``; ``.safetensors`` where that package is installed) or a state dict."""
    if isinstance(checkpoint, Mapping):
        if not all(torch.is_tensor(v) for v in checkpoint.values()):
            raise ValueError("a state dict maps parameter names to tensors; got other values")
        return as_state_dict(checkpoint), {}
    path = Path(checkpoint)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file as load_safetensors
        except ImportError:
            raise ValueError(f"{path}: reading .safetensors needs the safetensors package (pip install "
                             f"safetensors)") from None
        return as_state_dict(load_safetensors(str(path))), {}
    return load_state(path)


def load_sr_model(checkpoint, *, scale: int | None = None) -> nn.Module:
    """A trained SR network from ``checkpoint`` (a path or a state dict), in eval mode, with ``.arch`` and
    ``.scale``: faiglib's own checkpoints (any of its networks, from their recorded metadata) and the community
    layouts of :func:`detect_architecture`, whose sizes come from the keys and shapes. ``scale``: checked against
    the checkpoint's (ValueError on a mismatch). Files are read ``weights_only`` (a pickle with code is refused)."""
    state, meta = _read_state(checkpoint)
    if meta.get("arch"):
        arch, kwargs = meta["arch"], dict(meta.get("arch_kwargs", {}))
    else:
        state = _from_original_layout(_derived_buffers(state))
        arch, kwargs = detect_architecture(state)
    model = _loaded(arch, kwargs, state, "the checkpoint" if isinstance(checkpoint, Mapping) else str(checkpoint))
    found = int(kwargs.get("upscale", kwargs.get("scale", getattr(model, "upscale", 0))) or 0)
    if scale is not None and found and scale != found:
        raise ValueError(f"the checkpoint is a x{found} {arch}, not x{scale}; pass scale={found} (or None)")
    model.arch, model.scale = arch, found or scale
    return model.eval()
