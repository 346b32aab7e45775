"""Progress and cancellation for long operations (build, export, push).

A caller hands the library a ``progress`` callback receiving ``(phase, fraction, message)``
and a ``cancel`` check (a ``threading.Event``, or any callable returning ``True`` to stop).
The library wraps both in one :class:`Reporter` and calls :meth:`Reporter.enter` at every
step boundary: that is where cancellation is honoured (never in the middle of a step, so a
cancelled job leaves the repository and the remote as they were after the last whole step).

The fraction is of the whole operation and never goes down: each phase owns a slice of
[0, 1] sized by a rough weight of its usual cost, counted only over the phases the operation
runs (a build alone reaches 1.0 at the end of parity; a push only after the pull request).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Literal

from gitexport.errors import Cancelled

Phase = Literal["validate", "plan", "render", "train", "parity", "commit", "push", "pull_request"]

PHASES: tuple[Phase, ...] = (
    "validate",
    "plan",
    "render",
    "train",
    "parity",
    "commit",
    "push",
    "pull_request",
)
BUILD_PHASES: tuple[Phase, ...] = PHASES[:5]
EXPORT_PHASES: tuple[Phase, ...] = PHASES[:6]

# Rough share of a typical export's time; only the relative sizes matter.
_WEIGHTS: dict[str, float] = {
    "validate": 1,
    "plan": 3,
    "render": 6,
    "train": 60,
    "parity": 10,
    "commit": 5,
    "push": 10,
    "pull_request": 5,
}

ProgressCallback = Callable[[str, float, str], None]
CancelCheck = Callable[[], bool] | threading.Event


class Reporter:
    """One operation's progress: monotonic fractions, phases in order, cancel checks."""

    def __init__(
        self,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        phases: Sequence[Phase] = PHASES,
    ):
        self._callback = progress
        self._cancel = cancel
        self.phases = tuple(phases)
        total = sum(_WEIGHTS[p] for p in self.phases)
        self._start: dict[str, float] = {}
        self._span: dict[str, float] = {}
        acc = 0.0
        for phase in self.phases:
            self._start[phase] = acc / total
            self._span[phase] = _WEIGHTS[phase] / total
            acc += _WEIGHTS[phase]
        self.phase: str | None = None
        self.fraction = 0.0

    # -- cancellation ------------------------------------------------------------------

    def cancelled(self) -> bool:
        if self._cancel is None:
            return False
        if isinstance(self._cancel, threading.Event):
            return self._cancel.is_set()
        return bool(self._cancel())

    def check(self) -> None:
        """Raise :class:`Cancelled` if the caller asked to stop (call between steps only)."""
        if self.cancelled():
            where = f" before {self.phase}" if self.phase else ""
            raise Cancelled(f"cancelled{where}")

    # -- progress ----------------------------------------------------------------------

    def enter(self, phase: Phase, message: str = "") -> None:
        """Start *phase*: a step boundary, so cancellation is checked first."""
        if phase not in self._start:
            raise ValueError(f"phase {phase!r} is not part of this operation {self.phases}")
        self.phase = phase
        self.check()
        self._emit(self._start[phase], message or phase)

    def advance(self, within: float, message: str = "") -> None:
        """Report progress inside the current phase (*within* from 0 to 1)."""
        if self.phase is None:
            return
        within = min(max(within, 0.0), 1.0)
        self._emit(self._start[self.phase] + within * self._span[self.phase], message)

    def skip_to(self, phase: Phase, message: str = "") -> None:
        """Jump over phases that have nothing to do (e.g. an up-to-date export)."""
        self.enter(phase, message)

    def finish(self, message: str = "done") -> None:
        """The operation completed: fraction 1.0 in its last phase."""
        self.phase = self.phase or self.phases[-1]
        self._emit(1.0, message)

    def _emit(self, fraction: float, message: str) -> None:
        fraction = max(self.fraction, min(fraction, 1.0))  # never goes down
        self.fraction = fraction
        if self._callback is not None:
            self._callback(self.phase or self.phases[0], round(fraction, 4), message)


def reporter(
    progress: ProgressCallback | Reporter | None,
    cancel: CancelCheck | None,
    phases: Sequence[Phase],
) -> Reporter:
    """The caller's reporter when a library function calls another, else a new one."""
    if isinstance(progress, Reporter):
        return progress
    return Reporter(progress, cancel, phases)
