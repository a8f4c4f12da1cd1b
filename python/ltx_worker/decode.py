# Streaming VAE decode: the video latents are decoded in temporal chunks (diffusers' temporal tiling of the
# LTX-2 VAE, overlapping chunks blended linearly), each chunk spatially tiled where the VAE supports it and
# the grid is large, converted to uint8 on the device and handed on frame by frame to the encoder. Only one
# decoded chunk (plus the previous one, for blending) exists at a time, so decode memory depends on the grid
# size, never on the clip's duration. See docs/ltx-engine.md ("Streaming decode").
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

# diffusers' AutoencoderKLLTX2Video defaults (tile_sample_min_num_frames / tile_sample_stride_num_frames):
# chunks of 16 + 1 pixel frames that start every 8 frames; the 8 overlapping frames are blended.
DEFAULT_TILE_FRAMES = 16
DEFAULT_TILE_STRIDE_FRAMES = 8
TEMPORAL_RATIO = 8


def chunk_pixel_frames(tile_frames: int = DEFAULT_TILE_FRAMES, ratio: int = TEMPORAL_RATIO) -> int:
    """Pixel frames of one decoded chunk: (tile_frames // ratio + 1) latent frames -> 8k + 1 pixel frames."""
    return (tile_frames // ratio) * ratio + 1


@dataclass
class DecodeStats:
    """What one streamed decode did (job metrics and tests)."""

    chunks: int = 0
    max_chunk_frames: int = 0
    frames: int = 0
    seconds: float = 0.0
    spatial_tiling: bool = False


def _decode_tile(vae: Any, tile: Any, temb: Any, spatial_tiling: bool) -> Any:
    ratio = vae.spatial_compression_ratio
    min_h, min_w = vae.tile_sample_min_height // ratio, vae.tile_sample_min_width // ratio
    if spatial_tiling and (tile.shape[-1] > min_w or tile.shape[-2] > min_h):
        return vae.tiled_decode(tile, temb, causal=None, return_dict=True).sample
    return vae.decoder(tile, temb, causal=None)


def decoded_chunks(vae: Any, z: Any, temb: Any = None, spatial_tiling: bool = False) -> Iterator[Any]:
    """Yields the decoded clip (B, C, F, H, W) in consecutive temporal chunks, exactly what diffusers'
    `_temporal_tiled_decode` (or a plain decode, for clips of one chunk) returns once concatenated, without
    ever holding more than two decoded chunks. Spatial tiling (diffusers' `tiled_decode`) inside each chunk
    when spatial_tiling is set. The VAE's own tiling flags are read for tile sizes, never changed."""
    tr = vae.temporal_compression_ratio
    num_frames = z.shape[2]
    num_sample_frames = (num_frames - 1) * tr + 1
    tile_min = vae.tile_sample_min_num_frames // tr
    tile_stride = vae.tile_sample_stride_num_frames // tr
    sample_stride = vae.tile_sample_stride_num_frames
    blend = vae.tile_sample_min_num_frames - vae.tile_sample_stride_num_frames
    if num_frames <= tile_min:
        yield _decode_tile(vae, z, temb, spatial_tiling)[:, :, :num_sample_frames]
        return
    prev = None
    emitted = 0
    for i in range(0, num_frames, tile_stride):
        decoded = _decode_tile(vae, z[:, :, i : i + tile_min + 1], temb, spatial_tiling)
        if i > 0:
            decoded = decoded[:, :, :-1]
        if prev is not None:
            decoded = vae.blend_t(prev, decoded, blend)
            out = decoded[:, :, :sample_stride]
        else:
            out = decoded[:, :, : sample_stride + 1]
        take = min(out.shape[2], num_sample_frames - emitted)
        if take > 0:
            yield out[:, :, :take]
            emitted += take
        prev = decoded
        del out


def to_uint8_frames(chunk: Any) -> np.ndarray:
    """(1, C, f, H, W) in [-1, 1] -> (f, H, W, C) uint8, converted on the chunk's device."""
    import torch

    x = chunk[0].float().clamp(-1, 1).permute(1, 2, 3, 0)
    return ((x + 1.0) * 127.5).round().to(torch.uint8).cpu().numpy()


def stream_frames(
    vae: Any,
    latents: Any,
    device: Any,
    spatial_tiling: bool,
    stats: DecodeStats | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> Iterator[np.ndarray]:
    """Decodes `latents` (B=1) chunk by chunk and yields uint8 (H, W, 3) frames in order. With model offload
    the VAE's hook is triggered first (as vae.decode would). Cancellation is checked before every chunk (the
    decoder's blocks check it too, through cancel.cancel_checks)."""
    import torch

    stats = stats if stats is not None else DecodeStats()
    stats.spatial_tiling = spatial_tiling
    hook = getattr(vae, "_hf_hook", None)
    if hook is not None and hasattr(hook, "pre_forward"):
        hook.pre_forward(vae)
    with torch.no_grad():
        z = latents.to(device=device, dtype=vae.dtype)
        temb = None
        if vae.config.timestep_conditioning:
            temb = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
        chunks = decoded_chunks(vae, z, temb, spatial_tiling)
        try:
            while True:
                if check_cancel is not None:
                    check_cancel()
                t = time.perf_counter()
                chunk = next(chunks, None)
                if chunk is None:
                    break
                frames = to_uint8_frames(chunk)
                del chunk
                stats.seconds += time.perf_counter() - t
                stats.chunks += 1
                stats.max_chunk_frames = max(stats.max_chunk_frames, frames.shape[0])
                for frame in frames:
                    stats.frames += 1
                    yield frame
                del frames
        finally:
            chunks.close()
