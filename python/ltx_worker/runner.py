# Loads LTX-2.3 once (diffusers, Diffusers-format weights on local disk) and runs one job at a time:
# prompt embeddings from a cache, stage 1 at half the grid, x2 latent upsample, stage 2 at the grid,
# decode, trim to N frames, centre-crop (or upscale, below render scale 1), encode. Recipe and fixes:
# docs/ltx-engine.md ("How a request becomes a clip").
from __future__ import annotations

import gc
import os
import resource
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import memory as MEM
from . import models as M
from . import plan as P
from .cancel import cancel_checks
from .decode import DecodeStats, stream_frames
from .lora import load_dit_lora
from .encode import VIDEO_PRESET, X264_PRESETS, fit_audio, write_mp4
from .frames import ImageReadError, condition_image, output_frames

# Stage-2 strength of the distilled LoRA in the pro flow (Lightricks' README value; the CLI default is 1.0).
DISTILLED_LORA_STRENGTH = 0.8
DISTILLED_LORA_ADAPTER = "distilled"
PROMPT_CACHE_SIZE = 32
# Host-memory budget of the prompt cache (LTX_PROMPT_CACHE_BYTES); one real entry is ~368 MiB.
PROMPT_CACHE_BYTES = int(os.environ.get("LTX_PROMPT_CACHE_BYTES") or 4 * 2**30)
# Reference guidance for stage 1 of the pro flow (ltx-pipelines constants.py LTX_2_3_PARAMS).
PRO_GUIDANCE = dict(
    guidance_scale=3.0,
    stg_scale=1.0,
    guidance_rescale=0.7,
    modality_scale=3.0,
    audio_guidance_scale=7.0,
    audio_stg_scale=1.0,
    audio_guidance_rescale=0.7,
    audio_modality_scale=3.0,
)
NO_GUIDANCE = dict(
    guidance_scale=1.0,
    stg_scale=0.0,
    guidance_rescale=0.0,
    modality_scale=1.0,
    audio_guidance_scale=1.0,
    audio_stg_scale=0.0,
    audio_guidance_rescale=0.0,
    audio_modality_scale=1.0,
)


class JobCancelled(Exception):
    """Raised from the step callback when the engine asked to cancel; leaves the pipeline before decoding."""


class JobInputError(Exception):
    """The job itself is wrong (unreadable image, impossible size): retrying cannot help."""


@dataclass
class WorkerOptions:
    model_dir: str
    device: str = "auto"
    dtype: str = "auto"
    offload: str = "none"  # none | model | sequential
    max_sequence_length: int = 1024
    pro_stage1_steps: int | None = None
    # LTX_RENDER_SCALE per resolution (plan.parse_render_scales); a job's own render_scale overrides it.
    render_scales: P.RenderScales = field(default_factory=lambda: P.parse_render_scales(None))
    # LTX_MEMORY_BUDGET_GB: device memory a job may plan for (None: the device's own, see memory.py).
    memory_budget_gb: float | None = None


@dataclass
class Job:
    id: str
    prompt: str
    # None for text-to-video: no conditioning frame.
    start_image: str | None
    end_image: str | None
    width: int
    height: int
    fps: float
    num_frames: int
    seed: int
    generate_audio: bool
    flow: str
    output_path: str
    # Fraction of the output size the model generates at; None: the worker's LTX_RENDER_SCALE for this size.
    render_scale: float | None = None
    # libx264 preset of the MP4 (X264_PRESET); the reference's veryfast by default.
    x264_preset: str = VIDEO_PRESET

    @staticmethod
    def from_message(msg: dict[str, Any]) -> "Job":
        preset = str(msg.get("x264_preset") or VIDEO_PRESET)
        if preset not in X264_PRESETS:
            raise JobInputError(f"unknown x264 preset {preset!r}; expected one of {', '.join(X264_PRESETS)}")
        try:
            return Job(
                id=str(msg["id"]),
                prompt=str(msg.get("prompt", "")),
                start_image=str(msg["start_image"]) if msg.get("start_image") else None,
                end_image=str(msg["end_image"]) if msg.get("end_image") and msg.get("start_image") else None,
                width=int(msg["width"]),
                height=int(msg["height"]),
                fps=float(msg["fps"]),
                num_frames=int(msg["num_frames"]),
                seed=int(msg["seed"]),
                generate_audio=bool(msg.get("generate_audio", True)),
                flow=str(msg.get("flow", "pro")),
                output_path=str(msg["output_path"]),
                render_scale=float(msg["render_scale"]) if msg.get("render_scale") is not None else None,
                x264_preset=preset,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise JobInputError(f"malformed job message: {err!r}") from err


@dataclass
class JobContext:
    job: Job
    cancel: threading.Event
    progress: Callable[[str, int, int], None]
    log: Callable[[str, str], None]
    timings: dict[str, float] = field(default_factory=dict)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled()


def _resolve_device(torch, name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _resolve_dtype(torch, name: str, device: str):
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    if name not in table:
        raise ValueError(f"unknown dtype {name!r}; use auto, bf16, fp16 or fp32")
    return table[name]


def make_pipeline_class():
    """LTX2ConditionPipeline with the end keyframe pinned to a pixel frame (docs/ltx-engine.md ("How a request becomes a clip"), End image)."""
    from diffusers import LTX2ConditionPipeline

    class LTXWorkerPipeline(LTX2ConditionPipeline):
        # Pixel frame for appended keyframe conditions, set per call to N-1. diffusers reads the condition
        # index as a latent index and would put index=-1 at pixel F-8; the reference uses the last frame.
        keyframe_pixel_index: int | None = None

        def _prepare_keyframe_coords(self, **kw):
            if self.keyframe_pixel_index is not None:
                kw["pixel_frame_idx"] = self.keyframe_pixel_index
            return super()._prepare_keyframe_coords(**kw)

    return LTXWorkerPipeline


def fresh_scheduler(base_config: dict[str, Any]):
    """A scheduler that uses the sigma lists exactly as given: no dynamic shift, static shift 1, no stretch."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler.from_config(
        base_config,
        use_dynamic_shifting=False,
        shift=1.0,
        shift_terminal=None,
        use_karras_sigmas=False,
        use_exponential_sigmas=False,
        use_beta_sigmas=False,
        invert_sigmas=False,
        stochastic_sampling=False,
    )


def prepare_condition_image(path: str, size: P.SizePlan):
    """The condition image on the model's grid (frames.condition_image); unreadable images are input errors."""
    try:
        return condition_image(path, size)
    except ImageReadError as err:
        raise JobInputError(str(err)) from err


class LtxRunner:
    """Holds the resident pipelines and runs jobs on them."""

    def __init__(self, opts: WorkerOptions, log: Callable[[str, str], None]):
        import torch

        self.torch = torch
        self.opts = opts
        self.log = log
        self.device = _resolve_device(torch, opts.device)
        self.dtype = _resolve_dtype(torch, opts.dtype, self.device)
        self._prompt_cache: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._active_offload_flow: str | None = None
        self.load_seconds = 0.0
        self._load()

    # ---- loading ---------------------------------------------------------------------------------

    def _load(self) -> None:
        torch = self.torch
        from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline, LTX2LatentUpsamplerModel

        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
        started = time.perf_counter()
        model_dir = Path(self.opts.model_dir)
        if not (model_dir / "model_index.json").is_file():
            raise FileNotFoundError(
                f"{model_dir} is not a Diffusers-format LTX-2.3 pipeline (no model_index.json); see docs/ltx-engine.md"
            )
        upsampler_dir = M.upsampler_dir(model_dir)
        if upsampler_dir is None:
            raise FileNotFoundError(
                f"x2 latent upsampler not found under {model_dir / 'latent_upsampler'}; run `npx ltx-serve models download`"
            )
        self.tiny = M.is_tiny(model_dir)
        report = M.verify(model_dir)
        self.model_version = report.get("version")
        if report["problems"] and report["problems"][0]["kind"] != "no_manifest":
            raise FileNotFoundError("; ".join(p["message"] for p in report["problems"][:5]))
        if self.device == "cpu" and self.opts.device != "cpu" and not self.tiny:
            raise RuntimeError(
                "no usable CUDA GPU (torch.cuda.is_available() is False) and LTX_DEVICE is not cpu: refusing to load "
                "the full-size model into RAM. Run `npx ltx-serve doctor` (driver/torch build mismatch?), or set LTX_DEVICE=cpu"
            )

        cls = make_pipeline_class()
        kw = dict(dtype=self.dtype, local_files_only=True)
        self.pipe = cls.from_pretrained(str(model_dir), **kw)
        self.pipe.set_progress_bar_config(disable=True)
        self.base_scheduler_config = dict(self.pipe.scheduler.config)
        upsampler = LTX2LatentUpsamplerModel.from_pretrained(str(upsampler_dir), **kw)
        self.upsample_pipe = LTX2LatentUpsamplePipeline(vae=self.pipe.vae, latent_upsampler=upsampler)
        self.upsample_pipe.set_progress_bar_config(disable=True)

        # Optional distilled LoRA (pro flow stage 2) and distilled transformer (fast flow).
        self.has_lora = False
        lora_files = M.lora_files(model_dir)
        if lora_files:
            # DiT only: never on the text connectors (the reference never puts a LoRA there).
            dropped = load_dit_lora(self.pipe, lora_files[0], DISTILLED_LORA_ADAPTER)
            if dropped:
                self.log("INFO", f"distilled LoRA: {dropped} text-connector tensors left out (the reference applies it to the DiT only)")
            self.has_lora = True
        self.fast_pipe = None
        distilled_dir = M.distilled_transformer_dir(model_dir)
        if distilled_dir is not None:
            from diffusers import LTX2VideoTransformer3DModel

            distilled = LTX2VideoTransformer3DModel.from_pretrained(str(distilled_dir), **kw)
            components = dict(self.pipe.components)
            components["transformer"] = distilled
            self.fast_pipe = cls(**components)
            self.fast_pipe.set_progress_bar_config(disable=True)

        if self.opts.offload == "none" or self.device == "cpu":
            if self.opts.offload != "none":
                self.log("WARN", f"LTX_OFFLOAD={self.opts.offload} ignored on the CPU")
            self.pipe.to(self.device)
            upsampler.to(self.device)
            if self.fast_pipe is not None:
                self.fast_pipe.to(self.device)
        elif self.opts.offload not in ("model", "sequential"):
            raise ValueError(f"unknown offload mode {self.opts.offload!r}; use none, model or sequential")
        else:
            self.upsample_pipe.enable_model_cpu_offload(device=self.device)

        num_layers = int(self.pipe.transformer.config.num_layers)
        # STG perturbs block 28 of 48 in the reference; small test models use their last block.
        self.stg_blocks = [28] if num_layers > 28 else [num_layers - 1]
        self.load_seconds = time.perf_counter() - started

    def describe(self) -> dict[str, Any]:
        import diffusers
        import transformers

        flows = ["pro"]
        if self.fast_pipe is not None or self.has_lora:
            flows.append("fast")
        return {
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "offload": self.opts.offload,
            "flows": flows,
            "distilled_lora": self.has_lora,
            "distilled_transformer": self.fast_pipe is not None,
            "load_seconds": round(self.load_seconds, 3),
            "model_version": self.model_version,
            "versions": {
                "torch": self.torch.__version__,
                "diffusers": diffusers.__version__,
                "transformers": transformers.__version__,
            },
        }

    # ---- per-job state ---------------------------------------------------------------------------

    def reset_state(self) -> None:
        """Undoes anything a previous (possibly failed or cancelled) job left changed."""
        for pipe in (self.pipe, self.fast_pipe):
            if pipe is None:
                continue
            pipe.scheduler = fresh_scheduler(self.base_scheduler_config)
            pipe.keyframe_pixel_index = None
            pipe._interrupt = False
        # Condition encodes must not depend on what the previous job's decode switched on (tiling).
        vae = self.pipe.vae
        vae.disable_tiling()
        vae.use_framewise_encoding = False
        vae.use_framewise_decoding = False
        if self.has_lora:
            self.pipe.disable_lora()
        # Per-call caches some diffusers models keep (what maybe_free_model_hooks resets after a normal call).
        for pipe in self._offloaded_pipes():
            for component in pipe.components.values():
                if hasattr(component, "_reset_stateful_cache"):
                    component._reset_stateful_cache()

    def _offloaded_pipes(self) -> list[Any]:
        return [p for p in (self.pipe, self.fast_pipe) if p is not None]

    def _park_transformers(self, keep: Any = None) -> None:
        """LTX_OFFLOAD=model: moves every DiT except keep's to the CPU. A cancel or an OOM skips diffusers'
        maybe_free_model_hooks, which leaves the running DiT on the GPU; the other flow's pipeline would then
        load its own DiT next to it (two 35 GB transformers on an 80 GB card)."""
        if self.device == "cpu" or self.opts.offload != "model":
            return
        for p in self._offloaded_pipes():
            if p is not keep:
                p.transformer.to("cpu")

    def _release_after_failure(self, err: BaseException) -> None:
        """A failed or cancelled job lets go of what it held: the traceback's frames (which pin the job's
        tensors, so empty_cache could return nothing while the error propagates) are dropped, after saving the
        traceback as text in a note for unexpected errors; with model offload every model is parked on the
        CPU and the hooks are re-attached by the next job."""
        import traceback

        if not isinstance(err, (JobCancelled, JobInputError, MEM.MemoryBudgetError)) and err.__traceback__ is not None:
            err.add_note("worker traceback (frames released):\n" + "".join(traceback.format_tb(err.__traceback__)).rstrip())
        stack: list[BaseException | None] = [err]
        seen: set[int] = set()
        while stack:
            e = stack.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            if e.__traceback__ is not None:
                traceback.clear_frames(e.__traceback__)
                e.__traceback__ = None
            stack += [e.__cause__, e.__context__]
        if self.device != "cpu" and self.opts.offload == "model":
            self._park_transformers(keep=None)
            self._active_offload_flow = None

    def _pipe_for(self, flow: str):
        if flow == "fast" and self.fast_pipe is not None:
            pipe = self.fast_pipe
        elif flow == "fast" and not self.has_lora:
            raise JobInputError("the fast flow needs the distilled transformer or the distilled LoRA (see docs/ltx-engine.md)")
        else:
            pipe = self.pipe
        if self.device != "cpu" and self.opts.offload in ("model", "sequential") and self._active_offload_flow != flow:
            # Shared components carry one set of offload hooks: re-attach them for the pipeline in use, after
            # parking the other flow's DiT (enable_model_cpu_offload moves only this pipeline's models).
            if self.opts.offload == "model":
                self._park_transformers(keep=pipe)
                pipe.enable_model_cpu_offload(device=self.device)
            else:
                pipe.enable_sequential_cpu_offload(device=self.device)
            self._active_offload_flow = flow
        return pipe

    def _prompt_embeds(self, pipe, text: str):
        key = text.strip()
        hit = self._prompt_cache.get(key)
        if hit is not None:
            self._prompt_cache.move_to_end(key)
            return (hit[0].to(self.device), hit[1].to(self.device)), True
        with self.torch.no_grad():
            embeds, mask, _, _ = pipe.encode_prompt(
                prompt=key,
                do_classifier_free_guidance=False,
                max_sequence_length=self.opts.max_sequence_length,
                device=self.device if self.opts.offload == "none" else None,
            )
        value = (embeds.detach(), mask.detach())
        # Kept in host memory (never on the GPU), within PROMPT_CACHE_BYTES; moved to the device per use.
        stored = (value[0].to("cpu"), value[1].to("cpu"))
        size = sum(t.numel() * t.element_size() for t in stored)
        if size <= PROMPT_CACHE_BYTES:
            self._prompt_cache[key] = stored
            while len(self._prompt_cache) > PROMPT_CACHE_SIZE or self._prompt_cache_bytes() > PROMPT_CACHE_BYTES:
                self._prompt_cache.popitem(last=False)
        return value, False

    def _prompt_cache_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for pair in self._prompt_cache.values() for t in pair)

    # ---- the job ---------------------------------------------------------------------------------

    def run(self, ctx: JobContext) -> dict[str, Any]:
        torch = self.torch
        job = ctx.job
        t_job = time.perf_counter()
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
        self.reset_state()
        self._last_estimate = None
        try:
            # A cancel stops within one transformer/VAE block, not one step or one whole decode.
            with cancel_checks(self._cancel_check_modules(), ctx.check_cancel):
                result = self._run(ctx)
        except BaseException as err:
            self._release_after_failure(err)
            raise
        finally:
            self.reset_state()
            if self.device.startswith("cuda"):
                torch.cuda.empty_cache()
            gc.collect()
        ctx.timings["total"] = time.perf_counter() - t_job
        metrics: dict[str, Any] = {"timings": {k: round(v, 4) for k, v in ctx.timings.items()}, **result}
        est = getattr(self, "_last_estimate", None)
        if est is not None:
            metrics["memory_estimate_bytes"] = int(est.total)
        if self.device.startswith("cuda"):
            metrics["peak_gpu_memory_bytes"] = int(torch.cuda.max_memory_allocated(self.device))
        else:
            metrics["peak_gpu_memory_bytes"] = None
        metrics["peak_rss_bytes"] = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        return metrics

    def _cancel_check_modules(self) -> list[Any]:
        pipes = [p for p in (self.pipe, self.fast_pipe) if p is not None]
        mods = [p.transformer for p in pipes] + [getattr(self.pipe.vae, "decoder", None)]
        return mods + [getattr(self.upsample_pipe, "latent_upsampler", None)]

    def _timed(self, ctx: JobContext, name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            ctx.timings[name] = ctx.timings.get(name, 0.0) + time.perf_counter() - t

    def _run(self, ctx: JobContext) -> dict[str, Any]:
        torch = self.torch
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

        job = ctx.job
        try:
            if job.fps <= 0:
                raise P.PlanError(f"fps must be positive, got {job.fps}")
            frames_model = P.model_frame_count(job.num_frames)
            flow = P.flow_plan(job.flow, self.opts.pro_stage1_steps)
            # Render scale for this resolution, lowered (or refused) to fit the memory budget (memory.py).
            size = self._job_size(ctx, flow, frames_model)
        except P.PlanError as err:
            raise JobInputError(str(err)) from err
        pipe = self._pipe_for(job.flow)
        # The LoRA lives on the dev transformer only; the distilled transformer never gets it.
        lora = self.has_lora and pipe is self.pipe
        use_lora_stage1 = job.flow == "fast" and lora  # fast flow on dev weights + LoRA
        if job.flow == "pro" and not self.has_lora:
            ctx.log("WARN", "no distilled LoRA under LTX_MODEL_DIR/distilled_lora: stage 2 runs on the dev weights alone")
        if use_lora_stage1:
            ctx.log("WARN", "no distilled transformer: the fast flow runs the dev weights with the distilled LoRA at 1.0")

        # Text-to-video (no start image) runs the same flow with no condition at all.
        conditions = []
        if job.start_image:
            conditions.append(LTX2VideoCondition(frames=prepare_condition_image(job.start_image, size), index=0, strength=1.0))
        else:
            ctx.log("INFO", "text-to-video: no conditioning frame")
        end = prepare_condition_image(job.end_image, size) if job.end_image else None
        if end is not None:
            conditions.append(LTX2VideoCondition(frames=end, index=-1, strength=1.0))
        pipe.keyframe_pixel_index = P.keyframe_pixel_index(job.num_frames) if end is not None else None
        ctx.log(
            "INFO",
            f"flow={flow.flow} grid={size.grid_width}x{size.grid_height} stage1={size.stage1_width}x{size.stage1_height} "
            f"frames={frames_model}->{job.num_frames} fps={job.fps:g} steps={len(flow.stage1_sigmas)}+{len(flow.stage2_sigmas)} "
            f"seed={job.seed}",
        )

        # Prompt embeddings (cached by text; Gemma is the expensive part).
        ctx.progress("encode-prompt", 0, 1)
        (pos, pos_mask), hit = self._timed(ctx, "encode_prompt", lambda: self._prompt_embeds(pipe, job.prompt))
        neg = neg_mask = None
        if flow.guided_stage1:
            (neg, neg_mask), _ = self._timed(ctx, "encode_prompt", lambda: self._prompt_embeds(pipe, P.DEFAULT_NEGATIVE_PROMPT))
        ctx.log("INFO", f"prompt embeddings {'from cache' if hit else 'encoded'}")
        ctx.progress("encode-prompt", 1, 1)
        ctx.check_cancel()

        def step_callback(stage: str, total: int):
            def cb(_pipe, i, _t, _kwargs):
                ctx.progress(stage, i + 1, total)
                ctx.check_cancel()
                return {}

            return cb

        if lora:
            if use_lora_stage1:
                pipe.enable_lora()
                pipe.set_adapters([DISTILLED_LORA_ADAPTER], [1.0])
            else:
                pipe.disable_lora()
        common = dict(
            conditions=conditions or None,
            prompt_embeds=pos,
            prompt_attention_mask=pos_mask,
            num_frames=frames_model,
            frame_rate=float(job.fps),
            spatio_temporal_guidance_blocks=self.stg_blocks,
            return_dict=False,
            output_type="latent",
        )
        # Stage 1: half the grid.
        n1 = len(flow.stage1_sigmas)
        ctx.progress("denoise-1", 0, n1)
        guidance = PRO_GUIDANCE if flow.guided_stage1 else NO_GUIDANCE
        extra1 = dict(negative_prompt_embeds=neg, negative_prompt_attention_mask=neg_mask) if flow.guided_stage1 else {}
        with torch.no_grad():
            video_lat, audio_lat1 = self._timed(ctx, "stage1", lambda: pipe(
                **common,
                **extra1,
                **guidance,
                height=size.stage1_height,
                width=size.stage1_width,
                num_inference_steps=n1,
                sigmas=flow.stage1_sigmas,
                generator=torch.Generator("cpu").manual_seed(job.seed),
                callback_on_step_end=step_callback("denoise-1", n1),
            ))
        ctx.check_cancel()

        ctx.progress("upsample", 0, 1)
        with torch.no_grad():
            up_lat = self._timed(ctx, "upsample", lambda: self.upsample_pipe(
                latents=video_lat, output_type="latent", return_dict=False
            )[0])
        ctx.progress("upsample", 1, 1)
        ctx.check_cancel()

        # Stage 2: the full grid, distilled sigmas, no guidance; LoRA on for the pro flow.
        if lora:
            pipe.enable_lora()
            pipe.set_adapters([DISTILLED_LORA_ADAPTER], [1.0 if use_lora_stage1 else DISTILLED_LORA_STRENGTH])
        pipe.scheduler = fresh_scheduler(self.base_scheduler_config)
        n2 = len(flow.stage2_sigmas)
        ctx.progress("denoise-2", 0, n2)
        with torch.no_grad():
            video_lat2, audio_lat2 = self._timed(ctx, "stage2", lambda: pipe(
                **common,
                **NO_GUIDANCE,
                height=size.grid_height,
                width=size.grid_width,
                latents=up_lat,
                audio_latents=audio_lat1,
                num_inference_steps=n2,
                sigmas=flow.stage2_sigmas,
                noise_scale=P.STAGE2_NOISE_SCALE,
                generator=torch.Generator("cpu").manual_seed(job.seed + 1),
                callback_on_step_end=step_callback("denoise-2", n2),
            ))
        if lora:
            pipe.disable_lora()
        ctx.check_cancel()
        del video_lat, up_lat

        # Decode: audio first (small; under model offload its hooks must not move the VAE mid-decode), then
        # the video streamed chunk by chunk into the encoder (decode.py), so memory does not grow with duration.
        ctx.progress("decode", 0, 1)
        audio = None
        audio_info: dict[str, Any] = {}
        if job.generate_audio:
            audio_lat = audio_lat1 if flow.audio_from_stage == 1 else audio_lat2
            audio = self._audio_in_background(pipe, audio_lat, job, ctx, audio_info)()
        stats = DecodeStats()
        stream = self._decode_stream(pipe, video_lat2, stats, ctx.check_cancel)
        del video_lat2

        def frames_then_encode():
            # Cut out (or, below render scale 1, upscale) each frame lazily; cancellable per frame.
            yield from output_frames(stream, size, job.num_frames, ctx.check_cancel)
            stream.close()
            ctx.progress("decode", 1, 1)
            ctx.progress("encode", 0, 1)

        Path(job.output_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            written = self._timed(
                ctx,
                "encode_mp4",
                lambda: write_mp4(job.output_path, frames_then_encode(), job.fps, job.width, job.height, audio, job.x264_preset),
            )
        finally:
            stream.close()
        # encode_mp4 ran the decode too: report the two apart.
        ctx.timings["decode_video"] = stats.seconds
        ctx.timings["encode_mp4"] = max(0.0, ctx.timings["encode_mp4"] - stats.seconds)
        ctx.progress("encode", 1, 1)
        audio_info.update(decode_chunks=stats.chunks, decode_max_chunk_frames=stats.max_chunk_frames)
        return {"frames_generated": frames_model, "frames_written": written, "prompt_cache_hit": int(hit), **audio_info}

    def _job_size(self, ctx: JobContext, flow: P.FlowPlan, frames_model: int) -> P.SizePlan:
        job = ctx.job
        pipe = self.fast_pipe if job.flow == "fast" and self.fast_pipe is not None else self.pipe
        facts = MEM.model_facts(self, pipe)
        offload = self.opts.offload if self.device != "cpu" else "none"

        def estimate_at(size: P.SizePlan) -> MEM.Estimate:
            return MEM.estimate(facts, flow, size, frames_model, offload, on_gpu_tiling=self.device != "cpu")

        budget = MEM.budget_bytes(self.torch, self.device, self.opts.memory_budget_gb)
        size, est = MEM.plan_job_size(job.width, job.height, job.render_scale, self.opts.render_scales, estimate_at, budget, ctx.log)
        self._last_estimate = est
        return size

    def _decode_stream(self, pipe, latents, stats: DecodeStats | None = None, check_cancel=None):
        """uint8 (H, W, 3) frames of the decoded clip, streamed in temporal chunks (decode.stream_frames); spatial
        tiles on the GPU from SPATIAL_TILING_FROM_PIXELS up. The VAE's own flags are never switched."""
        vae = pipe.vae
        ratio = pipe.vae_spatial_compression_ratio
        h, w = latents.shape[-2] * ratio, latents.shape[-1] * ratio
        tiling = self.device != "cpu" and h * w >= MEM.SPATIAL_TILING_FROM_PIXELS
        device = vae.device if self.opts.offload == "none" else self.device
        return stream_frames(vae, latents, device, tiling, stats, check_cancel)

    def _decode_video(self, pipe, latents) -> np.ndarray:
        """The whole decoded clip as one uint8 array (F, H, W, 3) (gpu_check and tests; jobs stream)."""
        frames = list(self._decode_stream(pipe, latents))
        return np.stack(frames) if frames else np.empty((0, 0, 0, 3), np.uint8)

    def _audio_in_background(self, pipe, audio_lat, job: Job, ctx: JobContext, info: dict[str, Any]):
        torch = self.torch
        box: dict[str, Any] = {}

        def work() -> None:
            t = time.perf_counter()
            try:
                with torch.no_grad():
                    lat = audio_lat.to(device=pipe.audio_vae.device if self.opts.offload == "none" else self.device,
                                       dtype=pipe.audio_vae.dtype)
                    mel = pipe.audio_vae.decode(lat, return_dict=False)[0]
                    wav = pipe.vocoder(mel)
                rate = int(getattr(pipe.vocoder.config, "output_sampling_rate", P.AUDIO_SAMPLE_RATE))
                raw = wav.float().cpu().numpy()
                info["audio_samples_decoded"] = int(raw.shape[-1])
                info["audio_sample_rate_model"] = rate
                box["audio"] = fit_audio(raw, rate, job.num_frames, job.fps)
            except BaseException as err:  # noqa: BLE001 - re-raised on the encoding thread
                box["error"] = err
            finally:
                ctx.timings["decode_audio"] = time.perf_counter() - t

        thread = threading.Thread(target=work, name="audio-decode", daemon=True)
        thread.start()

        def get() -> np.ndarray:
            thread.join()
            if "error" in box:
                raise box["error"]
            return box["audio"]

        return get
