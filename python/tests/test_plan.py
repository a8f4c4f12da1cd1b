# Unit tests of the worker's arithmetic: frame counts on the 8k+1 grid, size grid and crop, the `auto`
# rule, keyframe placement and the reference sigma schedules: docs/ltx-engine.md ("How a request becomes a clip").
import math

import pytest

from ltx_worker import plan as P

# fps -> duration -> (N, F, latent frames), from the doc's table 2.1 (starred cells round up).
FAL_FRAME_TABLE = [
    (24, 6, 144, 145, 19), (24, 8, 192, 193, 25), (24, 10, 240, 241, 31),
    (25, 6, 150, 153, 20), (25, 8, 200, 201, 26), (25, 10, 250, 257, 33),
    (48, 6, 288, 289, 37), (48, 8, 384, 385, 49), (48, 10, 480, 481, 61),
    (50, 6, 300, 305, 39), (50, 8, 400, 401, 51), (50, 10, 500, 505, 64),
]


@pytest.mark.parametrize("fps,seconds,n,f,latent", FAL_FRAME_TABLE)
def test_fal_durations_map_to_the_smallest_8k_plus_1_frame_count_not_below_n(fps, seconds, n, f, latent):
    assert fps * seconds == n
    assert P.model_frame_count(n) == f
    assert P.latent_frame_count(f) == latent


@pytest.mark.parametrize("n", range(1, 300))
def test_every_frame_count_rounds_up_to_8k_plus_1_by_less_than_8(n):
    f = P.model_frame_count(n)
    assert (f - 1) % 8 == 0 and n <= f < n + 8


def test_frame_counts_below_one_are_refused():
    with pytest.raises(P.PlanError):
        P.model_frame_count(0)


@pytest.mark.parametrize(
    "w,h,gw,gh,crop_left,crop_top",
    [
        (1920, 1080, 1920, 1088, 0, 4),
        (1080, 1920, 1088, 1920, 4, 0),
        (2560, 1440, 2560, 1472, 0, 16),
        (3840, 2160, 3840, 2176, 0, 8),
        (128, 120, 128, 128, 0, 4),
        (128, 128, 128, 128, 0, 0),
    ],
)
def test_sizes_round_up_to_the_64_grid_with_stage_one_at_half_and_a_centred_crop(w, h, gw, gh, crop_left, crop_top):
    s = P.size_plan(w, h)
    assert (s.grid_width, s.grid_height) == (gw, gh)
    assert (s.stage1_width, s.stage1_height) == (gw // 2, gh // 2)
    assert s.stage1_width % 32 == 0 and s.stage1_height % 32 == 0
    assert (s.crop_left, s.crop_top) == (crop_left, crop_top)


def test_odd_output_sizes_are_refused_because_yuv420p_needs_even_ones():
    with pytest.raises(P.PlanError):
        P.size_plan(127, 120)


@pytest.mark.parametrize("w,h,expected", [(1920, 1080, "16:9"), (1080, 1920, "9:16"), (512, 512, "16:9"), (99, 100, "9:16")])
def test_auto_aspect_ratio_is_portrait_only_for_images_taller_than_wide(w, h, expected):
    assert P.auto_aspect_ratio(w, h) == expected


@pytest.mark.parametrize("n,fps", [(8, 24), (16, 25), (144, 24), (250, 25), (500, 50)])
def test_the_end_keyframe_covers_exactly_the_last_output_frame(n, fps):
    start, end = P.keyframe_time_span(n, fps)
    assert P.keyframe_pixel_index(n) == n - 1
    assert start == pytest.approx((n - 1) / fps) and end == pytest.approx(n / fps)


def test_reference_sigmas_start_at_one_end_at_the_terminal_and_fall_strictly():
    s = P.reference_sigmas(30)
    assert len(s) == 30
    assert s[0] == pytest.approx(1.0, abs=1e-6)
    assert s[-1] == pytest.approx(0.1, abs=1e-6)
    assert all(a > b for a, b in zip(s, s[1:]))


def test_reference_sigmas_match_the_shifted_and_stretched_formula():
    # Independent float64 evaluation of LTX2Scheduler.execute(steps) with the token count fixed at 4096.
    steps = 30
    raw = [1 - i / steps for i in range(steps)]
    shifted = [math.exp(2.05) / (math.exp(2.05) + (1 / t - 1)) for t in raw]
    scale = (1 - 0.1) / (1 - shifted[-1])
    expected = [1 - (1 - v) * scale for v in shifted]
    assert P.reference_sigmas(steps) == pytest.approx(expected, abs=1e-6)


def test_flows_use_the_reference_step_counts_and_sigma_lists():
    pro = P.flow_plan("pro")
    fast = P.flow_plan("fast")
    assert len(pro.stage1_sigmas) == 30 and pro.stage2_sigmas == [0.909375, 0.725, 0.421875]
    assert fast.stage1_sigmas == [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
    assert fast.stage2_sigmas == [0.909375, 0.725, 0.421875]
    assert (pro.total_steps, fast.total_steps) == (33, 11)
    assert pro.guided_stage1 and not fast.guided_stage1
    assert (pro.audio_from_stage, fast.audio_from_stage) == (1, 2)
    assert len(P.flow_plan("pro", stage1_steps=4).stage1_sigmas) == 4
    with pytest.raises(P.PlanError):
        P.flow_plan("turbo")


@pytest.mark.parametrize("n,fps,samples", [(8, 24, 16000), (16, 25, 30720), (240, 24, 480000), (250, 25, 480000)])
def test_audio_is_exactly_n_over_fps_seconds_at_48khz(n, fps, samples):
    assert P.audio_sample_count(n, fps) == samples
