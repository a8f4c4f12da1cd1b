# Prompt cancellation inside long GPU calls: an Event that remembers when it was set (for the cancel
# latency in the logs) and forward pre-hooks that check for a cancel before every transformer block and
# every VAE decoder/upsampler block, so a cancel stops within one block, not one whole step or decode.
# See docs/ltx-engine.md ("Cancels").
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterable, Iterator


class CancelEvent(threading.Event):
    """threading.Event that records the monotonic time of the first set()."""

    def __init__(self) -> None:
        super().__init__()
        self.set_at: float | None = None

    def set(self) -> None:  # noqa: A003 - threading.Event API
        if self.set_at is None:
            self.set_at = time.monotonic()
        super().set()

    def latency_ms(self) -> float | None:
        """Milliseconds since the cancel arrived (None if it never did)."""
        return None if self.set_at is None else (time.monotonic() - self.set_at) * 1000.0


# Children lists that hold the repeated blocks of the diffusers LTX-2 modules.
_BLOCK_LISTS = ("transformer_blocks", "audio_transformer_blocks", "down_blocks", "up_blocks", "mid_block", "res_blocks", "blocks")


def block_modules(module: Any) -> list[Any]:
    """The repeated blocks of a transformer / VAE decoder / upsampler (the module itself if it has none)."""
    found: list[Any] = []
    for name in _BLOCK_LISTS:
        child = getattr(module, name, None)
        if child is None:
            continue
        if hasattr(child, "__iter__") and not hasattr(child, "forward"):
            found.extend(child)
        elif hasattr(child, "__len__") and hasattr(child, "__getitem__"):
            found.extend(list(child))
        else:
            found.append(child)
    return found or [module]


@contextlib.contextmanager
def cancel_checks(modules: Iterable[Any], check: Callable[[], None]) -> Iterator[int]:
    """Registers check() as a forward pre-hook on every block of the given modules for the duration of
    the block; yields the number of hooks. check() raises to abandon the call."""
    handles = []
    try:
        for module in modules:
            if module is None:
                continue
            for block in block_modules(module):
                handles.append(block.register_forward_pre_hook(lambda _m, _args: check()))
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()
