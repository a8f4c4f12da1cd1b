# Image geometry between the exact output and the model's grid (plan.SizePlan): condition images going
# in (fitted to the output, placed on the grid) and decoded frames coming out (cut out, or resampled up to
# the exact output size when LTX_RENDER_SCALE < 1). Both use the same grid <-> output mapping.
from __future__ import annotations

import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np

from .plan import SizePlan

# Resampling for the render-scale path, both directions (PIL's Lanczos-3, antialiased when shrinking).
RESAMPLE = "LANCZOS"
# Frames upscaled ahead of the encoder on side threads (PIL releases the GIL while resampling); half the
# cores, the encoder's frame threads take the rest.
UPSCALE_THREADS = max(2, min(8, (os.cpu_count() or 2) // 2))
UPSCALE_LOOKAHEAD = 2 * UPSCALE_THREADS


class ImageReadError(Exception):
    """The condition image cannot be decoded (the job's fault, not the worker's)."""


def _resample():
    from PIL import Image

    return getattr(Image.Resampling, RESAMPLE)


def fit_to_output(path: str, width: int, height: int):
    """Cover-resizes the image to exactly width x height (centre crop), as the delivered frames are framed."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
    except Exception as err:  # noqa: BLE001 - any decoding failure is the input's fault
        raise ImageReadError(f"cannot read image {path}: {err}") from err
    return ImageOps.fit(rgb, (width, height), method=_resample(), centering=(0.5, 0.5))


def condition_image(path: str, size: SizePlan):
    """The image as the model must see it on the grid (grid_width x grid_height): its output-sized fit lands
    exactly on the region that becomes the output, and the margin around it is edge-extended (the margin is
    cut away again after decoding). Below render scale 1 the fit is shrunk by the scale on the way."""
    from PIL import Image

    fitted = np.asarray(fit_to_output(path, size.width, size.height), dtype=np.uint8)
    if not size.scaled:
        left, top = int(size.crop_left), int(size.crop_top)
        pad = ((top, size.grid_height - size.height - top), (left, size.grid_width - size.width - left), (0, 0))
        return Image.fromarray(np.pad(fitted, pad, mode="edge"), "RGB")
    # Grid pixel g shows output coordinate (g - crop) / scale. The box below is that mapping for the whole
    # grid; it reaches crop / scale output pixels beyond each edge, so the fit is edge-padded first (plus
    # the filter's reach) to keep the box inside the image, as PIL requires.
    s = size.render_scale
    margin = math.ceil((max(size.crop_left, size.crop_top) + 4) / s)
    padded = Image.fromarray(np.pad(fitted, ((margin, margin), (margin, margin), (0, 0)), mode="edge"), "RGB")
    box = (
        margin - size.crop_left / s,
        margin - size.crop_top / s,
        margin + (size.grid_width - size.crop_left) / s,
        margin + (size.grid_height - size.crop_top) / s,
    )
    return padded.resize((size.grid_width, size.grid_height), _resample(), box=box)


def upscale_frame(frame: np.ndarray, size: SizePlan) -> np.ndarray:
    """One decoded grid frame (grid_height, grid_width, 3) -> the exact output (height, width, 3): the output's
    fractional box on the grid resampled up (the inverse of condition_image's mapping)."""
    from PIL import Image

    out = Image.fromarray(np.ascontiguousarray(frame), "RGB").resize((size.width, size.height), _resample(), box=size.crop_box)
    return np.asarray(out, dtype=np.uint8)


def output_frames(
    frames: Iterable[np.ndarray],
    size: SizePlan,
    num_frames: int,
    check_cancel: Callable[[], None] | None = None,
) -> Iterator[np.ndarray]:
    """Yields the first num_frames decoded grid frames (an array or a stream of frames, e.g. the streamed
    decode) as exact output frames, lazily (one full-size frame at a time, never the whole upscaled clip in
    memory). check_cancel runs before each frame, so a long encode stops within a frame of a cancel."""
    source = iter(frames)
    got = 0

    def take() -> np.ndarray:
        nonlocal got
        frame = next(source, None)
        if frame is None:
            raise RuntimeError(f"decoder returned {got} frames, expected at least {num_frames}")
        got += 1
        return frame

    if isinstance(frames, np.ndarray) and frames.shape[0] < num_frames:
        raise RuntimeError(f"decoder returned {frames.shape[0]} frames, expected at least {num_frames}")
    if not size.scaled:
        left, top = int(size.crop_left), int(size.crop_top)
        for i in range(num_frames):
            if check_cancel is not None:
                check_cancel()
            yield take()[top : top + size.height, left : left + size.width]
        return
    with ThreadPoolExecutor(max_workers=UPSCALE_THREADS, thread_name_prefix="upscale") as pool:
        pending: deque = deque()
        submitted = 0
        try:
            for _ in range(num_frames):
                while submitted < num_frames and len(pending) < UPSCALE_LOOKAHEAD:
                    pending.append(pool.submit(upscale_frame, take(), size))
                    submitted += 1
                if check_cancel is not None:
                    check_cancel()
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
