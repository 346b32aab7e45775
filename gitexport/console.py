"""What the CLI shows a person: progress on a terminal, results as text or JSON.

Under ``--json`` the CLI prints exactly one object on stdout (the API's result, or
``{"error": …}``) and nothing on stderr but warnings; on a terminal, long work shows its
phase, progress and elapsed time on one stderr line.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from gitexport.terminal import for_terminal


class ProgressLine:
    """A one-line progress display on a terminal (``progress`` callback of the API)."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._width = 0

    def __call__(self, phase: str, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        text = f"{phase:<12} {100 * fraction:5.1f} %  {elapsed:6.1f} s  {for_terminal(message)}"
        text = text[:120]
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def warn(message: str) -> None:
    print(f"warning: {for_terminal(message)}", file=sys.stderr)
