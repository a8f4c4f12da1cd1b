# The streamed decode (python/ltx_worker/decode.py): chunk by chunk it gives exactly what diffusers' temporal
# (and spatial) tiled decode gives for the whole clip, and its memory does not grow with the clip's length,
# measured with a large fake decode of two lengths in one run (live decoded tensors and tracemalloc peak).
import gc
import tracemalloc
import weakref

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTX2Video

from ltx_worker import decode as D
from ltx_worker import runner as R


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    return R.LtxRunner(R.WorkerOptions(model_dir=str(tiny_model_dir), device="cpu", max_sequence_length=256), log=lambda *_: None)


def _whole(vae, z, framewise, tiling):
    saved = (vae.use_framewise_decoding, vae.use_tiling)
    vae.use_framewise_decoding, vae.use_tiling = framewise, tiling
    try:
        with torch.no_grad():
            return vae.decode(z, None, return_dict=False)[0]
    finally:
        vae.use_framewise_decoding, vae.use_tiling = saved


@pytest.mark.parametrize("latent_frames", [1, 3, 5])
def test_the_chunks_concatenate_to_diffusers_temporal_tiled_decode(runner, latent_frames):
    vae = runner.pipe.vae
    z = torch.randn(1, 128, latent_frames, 2, 3, generator=torch.Generator().manual_seed(latent_frames))
    with torch.no_grad():
        chunks = list(D.decoded_chunks(vae, z))
    got = torch.cat(chunks, dim=2)
    want = _whole(vae, z, framewise=True, tiling=False)
    assert got.shape == want.shape == (1, 3, (latent_frames - 1) * 8 + 1, 64, 96)
    assert torch.equal(got, want)
    if latent_frames > vae.tile_sample_min_num_frames // 8:
        assert len(chunks) > 1 and max(c.shape[2] for c in chunks) <= D.chunk_pixel_frames()


def test_spatial_tiles_inside_each_chunk_match_diffusers_spatial_and_temporal_tiling(runner):
    vae = runner.pipe.vae
    saved = (vae.tile_sample_min_height, vae.tile_sample_min_width, vae.tile_sample_stride_height, vae.tile_sample_stride_width)
    vae.tile_sample_min_height = vae.tile_sample_min_width = 64
    vae.tile_sample_stride_height = vae.tile_sample_stride_width = 32
    try:
        z = torch.randn(1, 128, 3, 2, 2, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            got = torch.cat(list(D.decoded_chunks(vae, z, spatial_tiling=True)), dim=2)
        assert torch.equal(got, _whole(vae, z, framewise=True, tiling=True))
        assert vae.use_tiling is False  # the VAE's own flags are read, never switched
    finally:
        vae.tile_sample_min_height, vae.tile_sample_min_width, vae.tile_sample_stride_height, vae.tile_sample_stride_width = saved


def test_the_runner_streams_uint8_frames_equal_to_converting_the_whole_decode(runner):
    vae = runner.pipe.vae
    z = torch.randn(1, 128, 6, 2, 2, generator=torch.Generator().manual_seed(5))
    got = runner._decode_video(runner.pipe, z)
    video = _whole(vae, z, framewise=True, tiling=False)[0].float().clamp(-1, 1).permute(1, 2, 3, 0)
    want = ((video + 1.0) * 127.5).round().to(torch.uint8).numpy()
    assert got.dtype == np.uint8 and got.shape == want.shape == (41, 64, 64, 3)
    assert np.array_equal(got, want)


class BigFakeVae:
    """The LTX-2 VAE's decode interface with a decoder that makes real-sized frames (no network): every
    output tensor is tracked, so the test can see how many decoded bytes were alive at once."""

    blend_t = AutoencoderKLLTX2Video.blend_t
    temporal_compression_ratio = 8
    spatial_compression_ratio = 32
    tile_sample_min_height = tile_sample_min_width = 512
    tile_sample_stride_height = tile_sample_stride_width = 448
    tile_sample_min_num_frames = 16
    tile_sample_stride_num_frames = 8
    dtype = torch.float32
    device = torch.device("cpu")
    config = type("C", (), {"timestep_conditioning": False})()

    def __init__(self):
        self.live: list[weakref.ref] = []
        self.max_live_bytes = 0
        self.max_call_frames = 0

    def _note(self, t):
        self.live = [r for r in self.live if r() is not None] + [weakref.ref(t)]
        alive = sum(r().numel() * r().element_size() for r in self.live if r() is not None)
        self.max_live_bytes = max(self.max_live_bytes, alive)

    def decoder(self, z, temb, causal=None):
        frames = (z.shape[2] - 1) * 8 + 1
        self.max_call_frames = max(self.max_call_frames, frames)
        h, w = z.shape[3] * 32, z.shape[4] * 32
        out = torch.linspace(-1.1, 1.1, frames * 3 * h * w).reshape(1, 3, frames, h, w)
        self._note(out)
        return out


def _measure(runner, latent_frames):
    vae = BigFakeVae()
    pipe = type("P", (), {"vae": vae, "vae_spatial_compression_ratio": 32})()
    z = torch.zeros(1, 128, latent_frames, 4, 7)  # 128 x 224 frames
    stats = D.DecodeStats()
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    n = 0
    held: list[weakref.ref] = []  # the uint8 arrays the frames live in
    max_held = 0
    for frame in runner._decode_stream(pipe, z, stats):  # the encoder takes each frame and drops it
        assert frame.shape == (128, 224, 3) and frame.dtype == np.uint8
        base = frame.base if frame.base is not None else frame
        held = [r for r in held if r() is not None]
        if all(r() is not base for r in held):
            held.append(weakref.ref(base))
        max_held = max(max_held, sum(r().nbytes for r in held if r() is not None))
        del frame, base
        n += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return n, max(peak, max_held), vae.max_live_bytes, vae.max_call_frames, stats


def test_decode_memory_of_a_long_clip_stays_within_a_bound_that_does_not_grow_with_its_length(runner):
    short = _measure(runner, 8)  # 57 frames
    long = _measure(runner, 64)  # 505 frames (10 s at 50 fps)
    assert (short[0], long[0]) == (57, 505) and long[4].frames == 505
    frame_f32 = 3 * 128 * 224 * 4
    # Decoded float tensors alive at once: two chunks (the previous one is kept for blending), whatever the length.
    bound_live = 2 * (D.chunk_pixel_frames() + 1) * frame_f32
    for n, peak, live, call_frames, stats in (short, long):
        assert live <= bound_live, (n, live, bound_live)
        assert call_frames <= D.chunk_pixel_frames() and stats.max_chunk_frames <= D.chunk_pixel_frames()
    assert long[2] == short[2]
    # Host memory (the uint8 arrays the frames live in, or any Python allocation tracemalloc saw, whichever is
    # larger): one chunk's worth, the same for both lengths (within 256 KiB).
    frame_u8 = 128 * 224 * 3
    assert long[1] <= 2 * D.chunk_pixel_frames() * frame_u8 and abs(long[1] - short[1]) < 2**18
    # The bound is far below what the whole long clip needs, so holding the clip would fail this test.
    assert 505 * frame_f32 > 10 * bound_live and 505 * frame_u8 > 5 * long[1]
    print(f"decode memory: 57 frames live {short[2] / 2**20:.1f} MiB, host peak {short[1] / 2**20:.1f} MiB; "
          f"505 frames live {long[2] / 2**20:.1f} MiB, host peak {long[1] / 2**20:.1f} MiB; whole clip fp32 {505 * frame_f32 / 2**20:.0f} MiB")


def test_a_cancel_stops_the_stream_before_the_next_chunk(runner):
    vae = BigFakeVae()
    pipe = type("P", (), {"vae": vae, "vae_spatial_compression_ratio": 32})()
    calls = {"n": 0}

    class Stop(Exception):
        pass

    def check():
        calls["n"] += 1
        if calls["n"] > 2:
            raise Stop()

    stats = D.DecodeStats()
    with pytest.raises(Stop):
        for _ in runner._decode_stream(pipe, torch.zeros(1, 128, 64, 1, 1), stats, check):
            pass
    assert stats.chunks == 2
