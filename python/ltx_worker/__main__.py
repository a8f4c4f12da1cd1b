# Worker entry point: `python -m ltx_worker --model-dir DIR [--device cuda] [--dtype bf16] [--offload none]`.
# Loads the model once, answers "ready", then serves jobs from stdin until stdin closes or "shutdown".
# A reader thread handles "cancel" while a job runs; the job checks it between denoising steps.
from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import traceback

# Before anything imports diffusers/transformers: never reach the Hub, keep progress bars and
# advisory warnings quiet (stdout is the protocol channel; stderr is the log).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Fewer fragmentation OOMs when clip sizes change between jobs (docs/ltx-engine.md, "GPU memory").
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from .cancel import CancelEvent  # noqa: E402
from .protocol import PROTOCOL_VERSION, EventWriter, claim_stdout, parse_message  # noqa: E402

_SHUTDOWN = object()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ltx_worker")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--offload", default="none", choices=["none", "model", "sequential"])
    p.add_argument("--max-sequence-length", type=int, default=1024)
    p.add_argument("--pro-stage1-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    p.add_argument("--render-scale", default=None, help="LTX_RENDER_SCALE, e.g. 1,1440p=0.75,2160p=0.5")
    p.add_argument("--memory-budget-gb", type=float, default=None, help="LTX_MEMORY_BUDGET_GB")
    return p.parse_args(argv)


class Server:
    def __init__(self, events: EventWriter):
        self.events = events
        self.jobs: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.current_id: str | None = None
        self.current_cancel: threading.Event | None = None
        self.cancelled_ids: set[str] = set()

    def read_stdin(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = parse_message(line)
            except ValueError as err:
                self.events.log("WARN", f"ignored malformed message: {err}")
                continue
            kind = msg["type"]
            if kind == "job":
                self.jobs.put(msg)
            elif kind == "cancel":
                job_id = str(msg.get("id"))
                with self.lock:
                    if self.current_id == job_id and self.current_cancel is not None:
                        self.current_cancel.set()
                    else:
                        self.cancelled_ids.add(job_id)
            elif kind == "shutdown":
                break
            else:
                self.events.log("WARN", f"ignored message of unknown type {kind!r}")
        self.jobs.put(_SHUTDOWN)
        with self.lock:
            if self.current_cancel is not None:
                self.current_cancel.set()


def main(argv: list[str]) -> int:
    events = claim_stdout()
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from .memory import MemoryBudgetError
    from .plan import PlanError, parse_render_scales
    from .runner import JobCancelled, JobContext, JobInputError, Job, LtxRunner, WorkerOptions

    try:
        render_scales = parse_render_scales(args.render_scale)
    except PlanError as err:
        events.emit({"type": "fatal", "error": {"type": "startup", "message": str(err)}})
        return 3

    opts = WorkerOptions(
        model_dir=args.model_dir,
        device=args.device,
        dtype=args.dtype,
        offload=args.offload,
        max_sequence_length=args.max_sequence_length,
        pro_stage1_steps=args.pro_stage1_steps,
        render_scales=render_scales,
        memory_budget_gb=args.memory_budget_gb,
    )
    try:
        runner = LtxRunner(opts, log=lambda level, message: events.log(level, message))
    except Exception as err:  # noqa: BLE001 - reported to the engine, then exit
        traceback.print_exc(file=sys.stderr)
        kind = "model_missing" if isinstance(err, FileNotFoundError) else "startup"
        events.emit({"type": "fatal", "error": {"type": kind, "message": f"{type(err).__name__}: {err}"}})
        return 3
    events.emit({"type": "ready", "protocol": PROTOCOL_VERSION, "pid": os.getpid(), **runner.describe()})

    server = Server(events)
    threading.Thread(target=server.read_stdin, name="stdin-reader", daemon=True).start()
    while True:
        msg = server.jobs.get()
        if msg is _SHUTDOWN:
            return 0
        job_id = str(msg.get("id"))
        cancel = CancelEvent()
        with server.lock:
            if job_id in server.cancelled_ids:
                server.cancelled_ids.discard(job_id)
                events.emit({"type": "cancelled", "id": job_id})
                continue
            server.current_id, server.current_cancel = job_id, cancel
        try:
            job = Job.from_message(msg)
            ctx = JobContext(
                job=job,
                cancel=cancel,
                progress=lambda stage, step, total, _id=job_id: events.emit(
                    {"type": "progress", "id": _id, "stage": stage, "step": step, "total": total}
                ),
                log=lambda level, message, _id=job_id: events.log(level, message, _id),
            )
            metrics = runner.run(ctx)
            events.emit({"type": "done", "id": job_id, "path": job.output_path, "metrics": metrics})
        except JobCancelled:
            latency = cancel.latency_ms()
            if latency is not None:
                events.log("INFO", f"cancel honoured {latency:.0f} ms after it arrived", job_id)
            events.emit({"type": "cancelled", "id": job_id})
        except JobInputError as err:
            events.emit({"type": "error", "id": job_id, "error": {"type": "input", "message": str(err)}})
        except MemoryBudgetError as err:
            events.emit({"type": "error", "id": job_id, "error": {"type": "memory_budget", "message": str(err)}})
        except MemoryError as err:
            events.emit({"type": "error", "id": job_id, "error": {"type": "out_of_memory", "message": str(err) or "out of memory"}})
        except Exception as err:  # noqa: BLE001 - every failure becomes a typed event
            traceback.print_exc(file=sys.stderr)
            kind = "out_of_memory" if "out of memory" in str(err).lower() else "engine"
            events.emit({"type": "error", "id": job_id, "error": {"type": kind, "message": f"{type(err).__name__}: {err}"}})
        finally:
            with server.lock:
                server.current_id, server.current_cancel = None, None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
