# Unit tests of LTX_RENDER_SCALE: the size arithmetic (grid from the scaled size, fractional crop box with the
# exact aspect ratio) and the image mapping both ways (condition image onto the grid, decoded frames back up to
# the exact output), which must be inverses of each other. No torch: plan.py and frames.py only.
import math
import threading

import numpy as np
import pytest
from PIL import Image

from ltx_worker import frames as F
from ltx_worker import plan as P


@pytest.mark.parametrize(
    "w,h,scale,grid,stage1,box",
    [
        # The service test's case: 1080p at 1/16 -> 120x67.5 -> grid 128x128.
        (1920, 1080, 0.0625, (128, 128), (64, 64), (4.0, 30.25, 124.0, 97.75)),
        (1080, 1920, 0.0625, (128, 128), (64, 64), (30.25, 4.0, 97.75, 124.0)),
        # 2160p at 0.5 and 1440p at 0.75 generate exactly what a 1080p request generates.
        (3840, 2160, 0.5, (1920, 1088), (960, 544), (0.0, 4.0, 1920.0, 1084.0)),
        (2560, 1440, 0.75, (1920, 1088), (960, 544), (0.0, 4.0, 1920.0, 1084.0)),
        # Scale 1 is the unscaled plan: whole-pixel crop.
        (1920, 1080, 1.0, (1920, 1088), (960, 544), (0.0, 4.0, 1920.0, 1084.0)),
        (128, 120, 1.0, (128, 128), (64, 64), (0.0, 4.0, 128.0, 124.0)),
        # 1920 * 0.3 is 575.9999999999999 in floating point: still the 576 grid, not 640.
        (1920, 1080, 0.3, (576, 384), (288, 192), (0.0, 30.0, 576.0, 354.0)),
    ],
)
def test_the_grid_comes_from_the_scaled_size_and_the_crop_box_keeps_the_exact_aspect(w, h, scale, grid, stage1, box):
    s = P.size_plan(w, h, render_scale=scale)
    assert (s.grid_width, s.grid_height) == grid
    assert (s.stage1_width, s.stage1_height) == stage1
    assert s.crop_box == pytest.approx(box, abs=1e-6)
    assert (s.width, s.height) == (w, h)
    assert s.scaled == (scale < 1)
    left, top, right, bottom = s.crop_box
    assert (right - left) / (bottom - top) == pytest.approx(w / h, rel=1e-9)


def test_scale_one_gives_the_same_plan_as_no_scale():
    assert P.size_plan(1920, 1080, render_scale=1.0) == P.size_plan(1920, 1080)


@pytest.mark.parametrize("w,h", [(1920, 1080), (1080, 1920), (2560, 1440), (1440, 2560), (3840, 2160), (2160, 3840), (128, 120)])
@pytest.mark.parametrize("scale", [1.0, 0.9, 0.75, 0.5, 1 / 3, 0.25, 0.1, 0.0625, 0.01])
def test_the_box_lies_centred_inside_the_smallest_grid_that_holds_the_scaled_size(w, h, scale):
    s = P.size_plan(w, h, render_scale=scale)
    left, top, right, bottom = s.crop_box
    assert s.grid_width % P.VIDEO_GRID == 0 and s.grid_height % P.VIDEO_GRID == 0
    assert s.stage1_width % 32 == 0 and s.stage1_height % 32 == 0
    assert 0 <= left and right <= s.grid_width and 0 <= top and bottom <= s.grid_height
    assert left == pytest.approx(s.grid_width - right) and top == pytest.approx(s.grid_height - bottom)
    assert right - left == pytest.approx(w * scale) and bottom - top == pytest.approx(h * scale)
    # The smallest grid: one step smaller would not hold the scaled size.
    assert s.grid_width - P.VIDEO_GRID < w * scale - 1e-6 or s.grid_width == P.VIDEO_GRID
    assert s.grid_height - P.VIDEO_GRID < h * scale - 1e-6 or s.grid_height == P.VIDEO_GRID


@pytest.mark.parametrize("scale", [0.0, -0.5, 1.0001, 2.0, math.nan, math.inf])
def test_scales_outside_zero_to_one_are_refused(scale):
    with pytest.raises(P.PlanError, match="render_scale"):
        P.size_plan(1920, 1080, render_scale=scale)


def test_a_job_message_without_render_scale_or_preset_takes_the_worker_table_and_the_reference_preset():
    from ltx_worker.runner import Job, JobInputError

    base = dict(id="a", prompt="p", start_image="s.png", width=128, height=120, fps=24, num_frames=8, seed=1, output_path="o.mp4")
    # No render_scale: the worker's LTX_RENDER_SCALE table decides (1 for this size, test_memory_plan.py).
    assert (Job.from_message(base).render_scale, Job.from_message(base).x264_preset) == (None, "veryfast")
    job = Job.from_message({**base, "render_scale": 0.0625, "x264_preset": "ultrafast"})
    assert (job.render_scale, job.x264_preset) == (0.0625, "ultrafast")
    with pytest.raises(JobInputError, match="x264 preset"):
        Job.from_message({**base, "x264_preset": "warp-speed"})


def _smooth_image(path, width, height, period):
    """Waves `period` pixels long: smooth enough to survive shrinking to the render scale and growing back."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 128 + 100 * np.sin(2 * np.pi * x / period)
    g = 128 + 100 * np.cos(2 * np.pi * y / period)
    b = 128 + 60 * np.sin(2 * np.pi * (x + y) / period)
    Image.fromarray(np.stack([r, g, b], axis=-1).round().astype(np.uint8), "RGB").save(path)


@pytest.mark.parametrize("w,h,scale", [(1920, 1080, 0.0625), (1080, 1920, 0.0625), (640, 360, 0.5), (640, 360, 0.3)])
def test_the_condition_image_and_the_upscaled_frame_use_the_same_mapping(tmp_path, w, h, scale):
    src = tmp_path / "start.png"
    _smooth_image(src, w, h, period=24 / scale)  # 24 grid pixels per wave
    s = P.size_plan(w, h, render_scale=scale)
    grid = np.asarray(F.condition_image(str(src), s))
    assert grid.shape == (s.grid_height, s.grid_width, 3)
    back = F.upscale_frame(grid, s)
    assert back.shape == (h, w, 3) and back.dtype == np.uint8
    original = np.asarray(Image.open(src).convert("RGB"), dtype=np.float64)
    error = np.abs(back.astype(np.float64) - original).mean()
    # The same round trip with the box one grid pixel off shows what a misplaced mapping would cost.
    left, top, right, bottom = s.crop_box
    dx = -1 if left >= 1 else 0
    dy = -1 if dx == 0 else 0
    shifted = Image.fromarray(grid).resize((w, h), Image.Resampling.LANCZOS, box=(left + dx, top + dy, right + dx, bottom + dy))
    shifted_error = np.abs(np.asarray(shifted, dtype=np.float64) - original).mean()
    print(f"round trip error {error:.2f}, one grid pixel off {shifted_error:.2f}")
    assert error < 2.0
    assert shifted_error > 3 * error + 2.0


def test_at_scale_one_the_condition_image_is_the_fit_edge_padded_to_the_grid(tmp_path):
    src = tmp_path / "start.png"
    _smooth_image(src, 160, 90, period=40)
    s = P.size_plan(128, 120)
    grid = np.asarray(F.condition_image(str(src), s))
    fitted = np.asarray(F.fit_to_output(str(src), 128, 120))
    assert grid.shape == (128, 128, 3)
    assert np.array_equal(grid[4:124], fitted)
    assert np.array_equal(grid[0], fitted[0]) and np.array_equal(grid[127], fitted[-1])


def test_an_unreadable_condition_image_is_reported_as_such(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(F.ImageReadError):
        F.condition_image(str(bad), P.size_plan(128, 120, render_scale=0.5))


def _decoded(s, count):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(count, s.grid_height, s.grid_width, 3), dtype=np.uint8)


@pytest.mark.parametrize("scale", [1.0, 0.25])
def test_output_frames_yields_exactly_n_frames_of_the_output_size_in_order(scale):
    s = P.size_plan(320, 180, render_scale=scale)
    decoded = _decoded(s, 9)
    out = list(F.output_frames(decoded, s, 7))
    assert len(out) == 7
    assert all(f.shape == (180, 320, 3) and f.dtype == np.uint8 for f in out)
    for i in (0, 3, 6):
        expected = F.upscale_frame(decoded[i], s) if s.scaled else decoded[i, 6:186, 0:320]
        assert np.array_equal(out[i], expected)


def test_output_frames_refuses_a_decode_shorter_than_n():
    s = P.size_plan(128, 120, render_scale=0.5)
    with pytest.raises(RuntimeError, match="expected at least 9"):
        list(F.output_frames(_decoded(s, 8), s, 9))


def test_output_frames_checks_for_cancellation_before_every_frame_and_stops_there():
    class Cancelled(Exception):
        pass

    s = P.size_plan(256, 240, render_scale=0.5)
    calls = []

    def check():
        calls.append(len(calls))
        if len(calls) == 4:
            raise Cancelled()

    got = []
    with pytest.raises(Cancelled):
        for frame in F.output_frames(_decoded(s, 17), s, 17, check):
            got.append(frame)
    assert len(got) == 3 and len(calls) == 4
    # No upscaling thread is left running after the generator stopped.
    assert not [t for t in threading.enumerate() if t.name.startswith("upscale")]
