# Pre-job memory planning: the render scale a job runs at (LTX_RENDER_SCALE per resolution) and an estimate
# of its peak device memory from the flow, size, frames and offload mode, checked against the device's memory
# (or LTX_MEMORY_BUDGET_GB) before anything runs. A job that would not fit is moved to a lower render scale
# (logged) or refused at once with a MemoryBudgetError that names the limit, never an OOM minutes in.
# The formula and its constants are documented in docs/ltx-engine.md ("Memory estimate before a job"); the
# constants are estimates until gpu_check has measured them on a real card.
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from . import plan as P

GIB = 2**30
# Activation bytes per video token and per batch element in one DiT forward pass, as a multiple of the
# hidden size times the dtype's bytes: the hidden states and residual, q/k/v and the attention output, and
# the 4x-wide feed-forward input/activation (2 + 4 + 4 + 2 = 12). Flash/SDPA attention keeps no N^2 matrix.
ACTIVATION_FACTOR = 12
# Fixed working memory of a denoising step besides the token activations (latents, RoPE tables, noise
# predictions of the guidance passes, CUDA/cuBLAS workspaces).
STEP_OVERHEAD_BYTES = 2 * GIB
# VAE decode: bytes per output pixel of one decoded tile (temporal chunk x spatial tile) for a bf16 decoder.
# The LTX-2 decoder's last blocks run at 1/4 of the output size (patch size 4), so a 128-channel map costs 8
# values per output pixel; ~4 such maps live, conv temporaries, the fp32 chunk conversion and the blend copy
# are taken as 16x that: 128 values x 2 bytes.
DECODE_BYTES_PER_TILE_PIXEL = 256
# Safety margin kept free of the budget (allocator fragmentation, the CUDA context).
HEADROOM_FRACTION = 0.05
# Render scales tried, in order, when a job does not fit at its own.
FALLBACK_SCALES = (0.75, 0.5, 0.375, 0.25)
# Spatial VAE tiling for decode from this many grid pixels up (GPU only), as diffusers' tiles are 512x512.
SPATIAL_TILING_FROM_PIXELS = 1920 * 1088


class MemoryBudgetError(Exception):
    """The job cannot fit in the device memory it may use, at any render scale the worker would try."""


@dataclass(frozen=True)
class Estimate:
    """Peak device memory of one job, in bytes, and the phase that sets it."""

    total: int
    weights: int
    activations: int
    decode: int
    phase: str
    stage1_tokens: int
    stage2_tokens: int

    def gib(self) -> str:
        return f"{self.total / GIB:.1f} GiB"


def module_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (0 for None)."""
    if module is None:
        return 0
    total = 0
    for t in list(module.parameters()) + list(module.buffers()):
        total += t.numel() * t.element_size()
    return total


def video_tokens(frames_model: int, grid_width: int, grid_height: int, spatial: int = 32) -> int:
    """Video tokens of the DiT: latent frames x latent height x latent width (patch size 1)."""
    return P.latent_frame_count(frames_model) * (grid_height // spatial) * (grid_width // spatial)


@dataclass(frozen=True)
class ModelFacts:
    """What the estimate needs to know about the loaded model (read once from the runner)."""

    dit_bytes: int  # the transformer the job uses (LoRA included)
    resident_bytes: int  # every weight on the device with LTX_OFFLOAD=none
    vae_bytes: int  # video VAE + audio VAE + vocoder (the decode phase under model offload)
    text_encoder_bytes: int
    hidden: int
    num_layers: int
    dtype_bytes: int
    spatial: int


def estimate(facts: ModelFacts, flow: P.FlowPlan, size: P.SizePlan, frames_model: int, offload: str, on_gpu_tiling: bool) -> Estimate:
    """peak = max(denoise phase, decode phase), where
    denoise = W_denoise + batch x tokens x ACTIVATION_FACTOR x hidden x dtype_bytes + STEP_OVERHEAD_BYTES
    decode  = W_decode + tile_pixels x DECODE_BYTES_PER_TILE_PIXEL x dtype_bytes / 2
    W_denoise / W_decode: every resident weight (offload none), the DiT / the VAEs (model), one DiT block
    (sequential). batch is 2 in guided stage 1 (the CFG pair), else 1. tile_pixels: one temporal chunk of
    the streamed decode (decode.py) times the spatial tile (512x512) or the whole grid frame."""
    s1 = video_tokens(frames_model, size.stage1_width, size.stage1_height, facts.spatial)
    s2 = video_tokens(frames_model, size.grid_width, size.grid_height, facts.spatial)
    per_token = ACTIVATION_FACTOR * facts.hidden * facts.dtype_bytes
    act = max((2 if flow.guided_stage1 else 1) * s1, s2) * per_token + STEP_OVERHEAD_BYTES
    from .decode import chunk_pixel_frames

    h, w = size.grid_height, size.grid_width
    if on_gpu_tiling and h * w >= SPATIAL_TILING_FROM_PIXELS:
        h, w = min(h, 512), min(w, 512)
    dec = chunk_pixel_frames() * h * w * DECODE_BYTES_PER_TILE_PIXEL * facts.dtype_bytes // 2
    if offload == "model":
        w_denoise, w_decode = facts.dit_bytes, facts.vae_bytes
    elif offload == "sequential":
        block = facts.dit_bytes // max(1, facts.num_layers)
        w_denoise, w_decode = 2 * block, facts.vae_bytes
    else:
        w_denoise = w_decode = facts.resident_bytes
    denoise, decode = w_denoise + act, w_decode + dec
    phase = "denoise" if denoise >= decode else "decode"
    return Estimate(max(denoise, decode), w_denoise if phase == "denoise" else w_decode, act, dec, phase, s1, s2)


def budget_bytes(torch: Any, device: str, budget_gb: float | None) -> tuple[int | None, str]:
    """The device memory a job may plan for and where the figure comes from: LTX_MEMORY_BUDGET_GB when
    set, else (CUDA) what this process holds plus what is free on the card; None on the CPU."""
    if budget_gb is not None:
        return int(budget_gb * GIB), f"LTX_MEMORY_BUDGET_GB={budget_gb:g}"
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        held = torch.cuda.memory_reserved(torch.device(device))
        return int((free + held) * (1 - HEADROOM_FRACTION)), f"free memory of {device}"
    return None, "no limit on the CPU"


def plan_job_size(
    job_width: int,
    job_height: int,
    job_scale: float | None,
    scales: P.RenderScales,
    estimate_at: Callable[[P.SizePlan], Estimate] | None,
    budget: tuple[int | None, str],
    log: Callable[[str, str], None],
) -> tuple[P.SizePlan, Estimate | None]:
    """The size plan a job runs at: its render scale (the job's own, else LTX_RENDER_SCALE for its
    resolution), lowered through FALLBACK_SCALES while the estimate exceeds the budget; MemoryBudgetError when
    even the lowest does not fit. Logs the scale, the generated size and the estimate."""
    if job_scale is not None:
        scale, source = job_scale, "the job's render_scale"
    else:
        scale, entry = P.render_scale_for(job_width, job_height, scales)
        source = f"LTX_RENDER_SCALE {entry}={scale:g}" if entry != "default" else f"LTX_RENDER_SCALE {scale:g}"
    size = P.size_plan(job_width, job_height, render_scale=scale)
    limit, limit_source = budget
    est = estimate_at(size) if estimate_at is not None else None
    if est is not None and limit is not None and est.total > limit:
        first = est
        for lower in (s for s in FALLBACK_SCALES if s < scale):
            trial = P.size_plan(job_width, job_height, render_scale=lower)
            trial_est = estimate_at(trial)
            if trial_est.total <= limit:
                log(
                    "WARN",
                    f"memory: at render scale {scale:g} this job needs an estimated {first.gib()} ({first.phase}) but "
                    f"the limit is {limit / GIB:.1f} GiB ({limit_source}); lowered to render scale {lower:g} for this job",
                )
                size, est, source = trial, trial_est, f"lowered from {scale:g} to fit memory"
                break
        else:
            lowest = min((s for s in FALLBACK_SCALES if s < scale), default=scale)
            low_est = estimate_at(P.size_plan(job_width, job_height, render_scale=lowest))
            raise MemoryBudgetError(
                f"{job_width}x{job_height}: this job needs an estimated {first.gib()} of device memory at its peak "
                f"({first.phase}), more than the {limit / GIB:.1f} GiB limit ({limit_source}); even at render scale "
                f"{lowest:g} it needs {low_est.gib()}. Use a shorter duration or lower resolution, LTX_OFFLOAD=model, "
                f"or a larger card (docs/ltx-engine.md, \"Memory estimate before a job\")"
            )
    describe_size(size, source, log)
    if est is not None:
        log(
            "INFO",
            f"memory estimate {est.gib()} at the peak ({est.phase}; weights {est.weights / GIB:.1f}, activations "
            f"{est.activations / GIB:.1f}, decode {est.decode / GIB:.1f} GiB; {est.stage2_tokens} stage-2 tokens)"
            + (f", limit {limit / GIB:.1f} GiB ({limit_source})" if limit is not None else ""),
        )
    return size, est


def describe_size(size: P.SizePlan, source: str, log: Callable[[str, str], None]) -> None:
    """The request-log line that says at what size the model generated and whether frames are upscaled."""
    if size.scaled:
        log(
            "INFO",
            f"render scale {size.render_scale:g} ({source}): the model generates {_num(size.render_width)}x"
            f"{_num(size.render_height)} (grid {size.grid_width}x{size.grid_height}); the output is upscaled to "
            f"{size.width}x{size.height} before encoding",
        )
    else:
        log("INFO", f"render scale 1 ({source}): the model generates {size.width}x{size.height} (grid {size.grid_width}x{size.grid_height}), no upscaling")


def _num(x: float) -> str:
    return f"{x:g}" if not math.isclose(x, round(x)) else str(int(round(x)))


def model_facts(runner: Any, pipe: Any) -> ModelFacts:
    """Reads the sizes the estimate needs from the runner's loaded modules (cached per pipeline)."""
    cache = runner.__dict__.setdefault("_memory_facts", {})
    key = id(pipe)
    if key in cache:
        return cache[key]
    seen: set[int] = set()
    resident = 0
    pipes = [p for p in (runner.pipe, getattr(runner, "fast_pipe", None)) if p is not None]
    mods = [m for p in pipes for m in p.components.values() if hasattr(m, "parameters")]
    mods.append(getattr(runner.upsample_pipe, "latent_upsampler", None))
    for m in mods:
        if m is None or id(m) in seen:
            continue
        seen.add(id(m))
        resident += module_bytes(m)
    tcfg = pipe.transformer.config
    facts = ModelFacts(
        dit_bytes=module_bytes(pipe.transformer),
        resident_bytes=resident,
        vae_bytes=module_bytes(pipe.vae) + module_bytes(getattr(pipe, "audio_vae", None)) + module_bytes(getattr(pipe, "vocoder", None)),
        text_encoder_bytes=module_bytes(getattr(pipe, "text_encoder", None)),
        hidden=int(tcfg.num_attention_heads) * int(tcfg.attention_head_dim),
        num_layers=int(tcfg.num_layers),
        dtype_bytes=next(pipe.transformer.parameters()).element_size(),
        spatial=int(getattr(pipe, "vae_spatial_compression_ratio", 32)),
    )
    cache[key] = facts
    return facts


# ---- doctor: the estimate for the real model, per resolution -------------------------------------------
# Published bf16 sizes of the LTX-2.3 v1.1 components in GiB (docs/ltx-engine.md, "Expected GPU memory").
REAL_MODEL_GIB = {"text_encoder": 22.8, "connectors": 5.9, "dit": 35.4, "lora": 7.1, "vaes": 1.7, "upsampler": 1.0, "distilled_dit": 35.4}
DOCTOR_CASES = (("1080p", 1920, 1080), ("1440p", 2560, 1440), ("2160p", 3840, 2160))
DOCTOR_FPS = (25, 50)
DOCTOR_SECONDS = 10


def real_model_facts(both_flows: bool) -> ModelFacts:
    g = REAL_MODEL_GIB
    resident = sum(v for k, v in g.items() if k != "distilled_dit") + (g["distilled_dit"] if both_flows else 0.0)
    return ModelFacts(
        dit_bytes=int((g["dit"] + g["lora"]) * GIB), resident_bytes=int(resident * GIB), vae_bytes=int(g["vaes"] * GIB),
        text_encoder_bytes=int(g["text_encoder"] * GIB), hidden=4096, num_layers=48, dtype_bytes=2, spatial=32,
    )


def doctor_rows(limit_bytes: int, limit_source: str, offload: str, spec: str | None, both_flows: bool) -> list[dict[str, Any]]:
    """For each resolution at 25 and 50 fps (10 s, pro flow, real model sizes): the render scale a request
    would get, the estimate there, and whether it fits, is lowered or is refused (what `doctor` prints)."""
    scales = P.parse_render_scales(spec)
    facts = real_model_facts(both_flows)
    flow = P.flow_plan("pro")
    rows = []
    for label, w, h in DOCTOR_CASES:
        for fps in DOCTOR_FPS:
            frames = P.model_frame_count(DOCTOR_SECONDS * fps)
            configured, _ = P.render_scale_for(w, h, scales)
            at = lambda size: estimate(facts, flow, size, frames, offload, on_gpu_tiling=True)  # noqa: E731
            first = at(P.size_plan(w, h, render_scale=configured))
            row: dict[str, Any] = {"resolution": label, "fps": fps, "seconds": DOCTOR_SECONDS, "configured_scale": configured,
                                   "estimate_bytes": first.total, "limit_bytes": limit_bytes, "limit_source": limit_source}
            try:
                size, est = plan_job_size(w, h, None, scales, at, (limit_bytes, limit_source), lambda *_: None)
                row.update(scale=size.render_scale, used_estimate_bytes=est.total if est else None, status="fits" if size.render_scale == configured else "lowered")
            except MemoryBudgetError as err:
                row.update(scale=None, status="refused", message=str(err))
            rows.append(row)
    return rows
