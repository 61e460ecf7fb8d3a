"""Fixed load levels: run each user count for a while and measure it after a warm-up.

The same interface as :class:`loadtests.knee.KneeFinder` (``tick``, ``windows``) so that one Locust
shape drives either; three levels give calibration its three measured points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from loadtests.stats import Snapshot, Window


class LevelSchedule:
    """``levels`` user counts, ``warmup_s`` + ``measure_s`` each, in order."""

    def __init__(self, levels: Sequence[int], spawn_rate: float, warmup_s: float, measure_s: float) -> None:
        if not levels or min(levels) < 1:
            raise ValueError(f"levels must be positive user counts, got {list(levels)}")
        self.levels = list(levels)
        self.spawn_rate, self.warmup_s, self.measure_s = spawn_rate, warmup_s, measure_s
        self.windows: list[Window] = []
        self._index = 0
        self._step_start = 0.0
        self._mark: Snapshot | None = None

    @classmethod
    def for_duration(cls, levels: Sequence[int], spawn_rate: float, duration_s: float) -> LevelSchedule:
        """Each level lasts ``duration_s``; its warm-up covers spawning plus 1 s, at most half of it."""
        warmup = min(max(levels) / spawn_rate + 1.0, duration_s / 2)
        return cls(levels, spawn_rate, warmup, duration_s - warmup)

    def tick(self, run_time: float, read: Callable[[], Snapshot]) -> tuple[int, float] | None:
        if self._index >= len(self.levels):
            return None
        elapsed = run_time - self._step_start
        if self._mark is None and elapsed >= self.warmup_s:
            self._mark = read()
        if self._mark is not None and elapsed >= self.warmup_s + self.measure_s:
            self.windows.append(read().minus(self._mark))
            self._index += 1
            self._step_start, self._mark = run_time, None
            if self._index >= len(self.levels):
                return None
        return self.levels[self._index], self.spawn_rate

    def result(self) -> None:
        """Fixed levels find no knee."""
        return None
