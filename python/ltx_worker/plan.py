# The arithmetic that turns a job (exact W x H, N frames, fps, flow) into what the model runs: frame
# count on the 8k+1 grid, the size grid and crop, keyframe placement and the reference sigma schedules.
# Pure Python (no torch) so it is cheap to unit-test; see docs/ltx-engine.md ("How a request becomes a clip").
from __future__ import annotations

import math
from dataclasses import dataclass

# Lightricks' LTX-2.3 recipe constants (ltx-pipelines utils/constants.py); see docs/ltx-engine.md ("How a request becomes a clip").
STAGE2_SIGMAS: list[float] = [0.909375, 0.725, 0.421875]
DISTILLED_STAGE1_SIGMAS: list[float] = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
PRO_STAGE1_STEPS = 30
REFERENCE_SHIFT = 2.05
REFERENCE_TERMINAL = 0.1
STAGE2_NOISE_SCALE = 0.909375
VIDEO_GRID = 64  # two stages: stage 1 runs at exactly half the grid, which the VAE needs on multiples of 32
TEMPORAL_STRIDE = 8
AUDIO_SAMPLE_RATE = 48_000

# The negative prompt of the current reference release: Lightricks/LTX-2
# packages/ltx-pipelines/src/ltx_pipelines/utils/constants.py DEFAULT_NEGATIVE_PROMPT (release 1.2.0 added the
# five leading caption tags; diffusers 0.42.1 pipelines/ltx2/utils.py still has the older text without them).
NEGATIVE_PROMPT_REFERENCE_TAGS = (
    "has_subtitles, has_blurbox, transition from black, transition to black, speech_ending_short, "
)
DEFAULT_NEGATIVE_PROMPT = NEGATIVE_PROMPT_REFERENCE_TAGS + (
    "blurry, out of focus, overexposed, underexposed, low contrast, washed out colors, excessive noise, "
    "grainy texture, poor lighting, flickering, motion blur, distorted proportions, unnatural skin tones, "
    "deformed facial features, asymmetrical face, missing facial features, extra limbs, disfigured hands, "
    "wrong hand count, artifacts around text, inconsistent perspective, camera shake, incorrect depth of "
    "field, background too sharp, background clutter, distracting reflections, harsh shadows, inconsistent "
    "lighting direction, color banding, cartoonish rendering, 3D CGI look, unrealistic materials, uncanny "
    "valley effect, incorrect ethnicity, wrong gender, exaggerated expressions, wrong gaze direction, "
    "mismatched lip sync, silent or muted audio, distorted voice, robotic voice, echo, background noise, "
    "off-sync audio, incorrect dialogue, added dialogue, repetitive speech, jittery movement, awkward "
    "pauses, incorrect timing, unnatural transitions, inconsistent framing, tilted camera, flat lighting, "
    "inconsistent tone, cinematic oversaturation, stylized filters, or AI artifacts."
)


class PlanError(ValueError):
    """A job whose numbers the model cannot run (reported to the caller as an input error)."""


def model_frame_count(num_frames: int) -> int:
    """Smallest 8k+1 >= num_frames: the frames generated before trimming to exactly num_frames."""
    if num_frames < 1:
        raise PlanError(f"num_frames must be at least 1, got {num_frames}")
    return math.ceil((num_frames - 1) / TEMPORAL_STRIDE) * TEMPORAL_STRIDE + 1


def latent_frame_count(model_frames: int) -> int:
    return (model_frames - 1) // TEMPORAL_STRIDE + 1


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class SizePlan:
    """Where the output lives on the model's grid. The model generates grid_width x grid_height (stage 1 at
    half of it); the output is the region [crop_left, crop_left + render_width) x [crop_top, crop_top +
    render_height) of the grid, resampled to width x height when render_scale < 1 (else cut out as is)."""

    width: int
    height: int
    grid_width: int
    grid_height: int
    stage1_width: int
    stage1_height: int
    crop_left: float  # whole numbers when render_scale is 1
    crop_top: float
    render_scale: float = 1.0
    render_width: float = 0.0  # width * render_scale: the output's footprint on the grid
    render_height: float = 0.0

    @property
    def scaled(self) -> bool:
        """True when the model generates at a fraction of the output size and frames are upscaled."""
        return self.render_scale < 1.0

    @property
    def crop_box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the output's region on the grid, in grid pixels."""
        return (self.crop_left, self.crop_top, self.crop_left + self.render_width, self.crop_top + self.render_height)


def _ceil(value: float) -> int:
    # Tolerates float noise such as 1920 * 0.3 = 575.9999999999999.
    return math.ceil(value - 1e-6)


def size_plan(width: int, height: int, grid: int = VIDEO_GRID, render_scale: float = 1.0) -> SizePlan:
    """Rounds the output size (times render_scale, LTX_RENDER_SCALE) up to the grid, halves it for stage 1,
    and centres the output's region on the grid. At scale 1 the region is cut out pixel for pixel; below 1
    it is a fractional box that the worker resamples up to exactly width x height, so the aspect ratio is
    kept exactly (1920x1080 x 0.0625 = 120x67.5 -> grid 128x128, box (4, 30.25, 124, 97.75))."""
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise PlanError(f"output size must be even and at least 2x2 (yuv420p), got {width}x{height}")
    if not (0.0 < render_scale <= 1.0) or not math.isfinite(render_scale):
        raise PlanError(f"render_scale must be in (0, 1], got {render_scale}")
    rw, rh = width * render_scale, height * render_scale
    if render_scale == 1.0:
        rw, rh = float(width), float(height)
    gw, gh = round_up(max(1, _ceil(rw)), grid), round_up(max(1, _ceil(rh)), grid)
    return SizePlan(
        width=width,
        height=height,
        grid_width=gw,
        grid_height=gh,
        stage1_width=gw // 2,
        stage1_height=gh // 2,
        crop_left=(gw - rw) / 2,
        crop_top=(gh - rh) / 2,
        render_scale=float(render_scale),
        render_width=rw,
        render_height=rh,
    )


def auto_aspect_ratio(image_width: int, image_height: int) -> str:
    """fal's `auto`: a portrait image (taller than wide) gives 9:16; anything else, square included, 16:9."""
    return "9:16" if image_height > image_width else "16:9"


def keyframe_pixel_index(num_frames: int) -> int:
    """Pixel frame at which the end image is pinned: the true last frame of the trimmed output."""
    return num_frames - 1


def keyframe_time_span(num_frames: int, fps: float) -> tuple[float, float]:
    """Seconds covered by a single-frame end keyframe at the last output frame: [N-1, N) / fps."""
    idx = keyframe_pixel_index(num_frames)
    return idx / fps, (idx + 1) / fps


def reference_sigmas(steps: int, shift: float = REFERENCE_SHIFT, terminal: float = REFERENCE_TERMINAL) -> list[float]:
    """LTX2Scheduler().execute(steps) without a latent: token count fixed at 4096 (shift 2.05), stretched so
    the last non-zero sigma is `terminal`. The trailing 0 is left out (diffusers appends it). Computed in
    float32 like the reference's torch code."""
    import numpy as np

    if steps < 1:
        raise PlanError(f"steps must be at least 1, got {steps}")
    s = np.linspace(1.0, 0.0, steps + 1, dtype=np.float32)[:-1]
    e = np.float32(math.exp(shift))
    with np.errstate(divide="ignore"):
        s = e / (e + (np.float32(1.0) / s - np.float32(1.0)))
    one_minus = np.float32(1.0) - s
    scale = np.float32(1.0 - terminal) / one_minus[-1]
    out = np.float32(1.0) - one_minus * scale
    return [float(x) for x in out.astype(np.float32)]


@dataclass(frozen=True)
class FlowPlan:
    flow: str
    stage1_sigmas: list[float]
    stage2_sigmas: list[float]
    guided_stage1: bool
    use_lora_stage2: bool
    audio_from_stage: int

    @property
    def total_steps(self) -> int:
        return len(self.stage1_sigmas) + len(self.stage2_sigmas)


def flow_plan(flow: str, stage1_steps: int | None = None) -> FlowPlan:
    """The sigma lists and switches for `pro` (dev model, guided, LoRA in stage 2, stage-1 audio) or `fast`
    (distilled model, no guidance, stage-2 audio). stage1_steps overrides pro's 30 steps (tiny test models)."""
    if flow == "pro":
        steps = stage1_steps or PRO_STAGE1_STEPS
        return FlowPlan("pro", reference_sigmas(steps), list(STAGE2_SIGMAS), True, True, 1)
    if flow == "fast":
        return FlowPlan("fast", list(DISTILLED_STAGE1_SIGMAS), list(STAGE2_SIGMAS), False, False, 2)
    raise PlanError(f"unknown flow {flow!r}; expected 'pro' or 'fast'")


def audio_sample_count(num_frames: int, fps: float, sample_rate: int = AUDIO_SAMPLE_RATE) -> int:
    """Samples in exactly num_frames / fps seconds of audio."""
    return round(num_frames * sample_rate / fps)


# ---- render scale per resolution (LTX_RENDER_SCALE) ---------------------------------------------------
# `LTX_RENDER_SCALE` is a comma list of `<N>p=<scale>` entries and at most one bare number (the scale of
# every size no entry covers; 1 when absent), e.g. "2160p=0.5,1440p=0.75" or "0.5" (every size). A job
# belongs to the entry with the largest N that its short side reaches (3840x2160 and 2160x3840 -> 2160p).
# The defaults generate 1440p and 2160p on the 1080p grid, the largest size whose memory fits an 80 GB card
# (docs/ltx-engine.md, "Expected GPU memory" and "Render scale per resolution").
DEFAULT_RENDER_SCALE_SPEC = "1,1440p=0.75,2160p=0.5"


@dataclass(frozen=True)
class RenderScales:
    default: float = 1.0
    # (short side N, scale), largest N first.
    by_resolution: tuple[tuple[int, float], ...] = ()

    def spec(self) -> str:
        return ",".join([f"{self.default:g}"] + [f"{n}p={s:g}" for n, s in sorted(self.by_resolution)])


def _scale_value(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlanError(f"LTX_RENDER_SCALE: {where} must be a number in (0, 1], got {text!r}") from None
    if not (0.0 < value <= 1.0) or not math.isfinite(value):
        raise PlanError(f"LTX_RENDER_SCALE: {where} must be a fraction in (0, 1], got {text!r}")
    return value


def parse_render_scales(spec: str | None) -> RenderScales:
    """Parses LTX_RENDER_SCALE (see above); None or "" gives the defaults. Raises PlanError naming the entry."""
    if spec is None or not spec.strip():
        spec = DEFAULT_RENDER_SCALE_SPEC
    default: float | None = None
    entries: dict[int, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "=" not in part:
            if default is not None:
                raise PlanError(f"LTX_RENDER_SCALE: more than one bare scale in {spec!r}")
            default = _scale_value(part, "the scale")
            continue
        key, _, value = (x.strip() for x in part.partition("="))
        if not (key.lower().endswith("p") and key[:-1].isdigit() and int(key[:-1]) > 0):
            raise PlanError(f"LTX_RENDER_SCALE: entries look like 2160p=0.5 (a resolution by its short side), got {part!r}")
        n = int(key[:-1])
        if n in entries:
            raise PlanError(f"LTX_RENDER_SCALE: {key} is given twice")
        entries[n] = _scale_value(value, key)
    by_res = tuple(sorted(entries.items(), reverse=True))
    return RenderScales(default=1.0 if default is None else default, by_resolution=by_res)


def render_scale_for(width: int, height: int, scales: RenderScales) -> tuple[float, str]:
    """The render scale of a width x height job and the entry it came from ("2160p", or "default")."""
    short = min(width, height)
    for n, scale in scales.by_resolution:
        if short >= n:
            return scale, f"{n}p"
    return scales.default, "default"
