# Writes the finished clip as an MP4 with PyAV, as Lightricks' reference does: H.264 (libx264 CRF 19
# veryfast) yuv420p tagged BT.709, plus stereo AAC at 48 kHz when audio is wanted. Faststart for streaming.
from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable, Iterable

import av
import numpy as np

from .plan import AUDIO_SAMPLE_RATE, audio_sample_count

VIDEO_CRF = 19
VIDEO_PRESET = "veryfast"  # the reference's; X264_PRESET overrides it per job
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
AUDIO_BITRATE = 192_000


def fit_audio(samples: np.ndarray, sample_rate: int, num_frames: int, fps: float) -> np.ndarray:
    """Returns float32 (2, n) stereo audio at 48 kHz of exactly num_frames / fps seconds: resampled linearly
    when the vocoder runs at another rate, mono duplicated, then trimmed or padded with silence."""
    a = np.asarray(samples, dtype=np.float32)
    if a.ndim == 3:
        a = a[0]
    if a.ndim == 1:
        a = a[None, :]
    if a.shape[0] == 1:
        a = np.repeat(a, 2, axis=0)
    a = a[:2]
    if sample_rate != AUDIO_SAMPLE_RATE and a.shape[1] > 1:
        n_out = int(round(a.shape[1] * AUDIO_SAMPLE_RATE / sample_rate))
        x_old = np.linspace(0.0, 1.0, a.shape[1], dtype=np.float64)
        x_new = np.linspace(0.0, 1.0, n_out, dtype=np.float64)
        a = np.stack([np.interp(x_new, x_old, ch) for ch in a]).astype(np.float32)
    want = audio_sample_count(num_frames, fps)
    if a.shape[1] >= want:
        a = a[:, :want]
    else:
        a = np.pad(a, ((0, 0), (0, want - a.shape[1])))
    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(a, -1.0, 1.0).astype(np.float32)


def write_mp4(
    path: str,
    frames: Iterable[np.ndarray],
    fps: float,
    width: int,
    height: int,
    audio: np.ndarray | Callable[[], np.ndarray] | None,
    preset: str = VIDEO_PRESET,
) -> int:
    """Encodes RGB uint8 frames (H, W, 3) and optional (2, n) float audio at 48 kHz to `path` (via a temp
    file, renamed at the end). `audio` may be a callable that blocks until the audio is ready, so the video
    is encoded while the audio is still being decoded. Returns the number of video frames written."""
    tmp = f"{path}.part.mp4"
    container = av.open(tmp, mode="w", options={"movflags": "+faststart"})
    written = 0
    try:
        rate = Fraction(fps).limit_denominator(1001)
        vstream = container.add_stream("libx264", rate=rate)
        vstream.width = width
        vstream.height = height
        vstream.pix_fmt = "yuv420p"
        # Frame threads on every core (PyAV's default is slice threading, ~1.5-2x slower for 1080p+).
        vstream.codec_context.thread_count = 0
        vstream.codec_context.thread_type = "FRAME"
        vstream.codec_context.time_base = Fraction(1, 1) / rate
        vstream.options = {
            "crf": str(VIDEO_CRF),
            "preset": preset,
            "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv",
        }
        ctx = vstream.codec_context
        ctx.color_primaries = 1  # BT.709 (AVCOL_PRI_BT709)
        ctx.color_trc = 1  # BT.709
        ctx.colorspace = 1  # BT.709 matrix
        ctx.color_range = 1  # limited (tv)
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=AUDIO_SAMPLE_RATE)
            astream.layout = "stereo"
            astream.bit_rate = AUDIO_BITRATE
        for rgb in frames:
            if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
                raise ValueError(f"frame {written} is {rgb.shape} {rgb.dtype}, expected ({height}, {width}, 3) uint8")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG")
            frame.pts = written
            for packet in vstream.encode(frame):
                container.mux(packet)
            written += 1
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            samples = audio() if callable(audio) else audio
            _encode_audio(container, astream, samples)
    except BaseException:
        container.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    container.close()
    os.replace(tmp, path)
    return written


def _encode_audio(container, astream, samples: np.ndarray) -> None:
    frame_size = astream.codec_context.frame_size or 1024
    pts = 0
    total = samples.shape[1]
    for start in range(0, total, frame_size):
        chunk = np.ascontiguousarray(samples[:, start : start + frame_size], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = pts
        frame.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
        pts += chunk.shape[1]
        for packet in astream.encode(frame):
            container.mux(packet)
    for packet in astream.encode():
        container.mux(packet)
