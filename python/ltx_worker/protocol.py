# The JSON-lines channel to the TypeScript engine. stdout carries protocol events only: at start the
# real stdout fd is kept for events and fd 1 is pointed at stderr, so tqdm, print() and C libraries
# cannot corrupt the stream. Message shapes: docs/ltx-worker-protocol.md sections 2 and 3.
from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, TextIO

PROTOCOL_VERSION = 1


class EventWriter:
    """Writes one JSON object per line to the protocol stream; safe to call from several threads."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"), allow_nan=False, default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def log(self, level: str, message: str, job_id: str | None = None) -> None:
        event: dict[str, Any] = {"type": "log", "level": level, "message": message}
        if job_id is not None:
            event["id"] = job_id
        self.emit(event)


def claim_stdout() -> EventWriter:
    """Moves everything that writes to fd 1 over to stderr and returns a writer on the original stdout."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stream = os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")
    return EventWriter(stream)


def parse_message(line: str) -> dict[str, Any]:
    msg = json.loads(line)
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ValueError("each message must be a JSON object with a string `type`")
    return msg
