"""Per-host limits: at most N requests in flight per worker, and a minimum delay between request starts.

The delay is kept by a *schedule*: ``schedule(host, delay_s)`` returns how long
the caller waits before starting. The run-wide frontier
(:meth:`~jinglian.stages.crawl.frontier.Frontier.reserve`) is the schedule
under a multi-worker run, so the delay holds across workers; the in-flight cap
stays per worker (a run-wide one would need a blocking call per request).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable

Schedule = Callable[[str, float], float]


class HostGate:
    def __init__(self, host: str, concurrency: int, min_delay_s: float, schedule: Schedule):
        self.host = host
        self._slots = threading.Semaphore(max(1, concurrency))
        self._schedule = schedule
        self.min_delay_s = min_delay_s

    @contextmanager
    def slot(self):
        with self._slots:
            if self.min_delay_s > 0:
                time.sleep(self._schedule(self.host, self.min_delay_s))
            yield


class HostGates:
    """One :class:`HostGate` per host, created on first use, all sharing one schedule."""

    def __init__(self, concurrency: int, min_delay_s: float, schedule: Schedule):
        self.concurrency = concurrency
        self.min_delay_s = min_delay_s
        self.schedule = schedule
        self._gates: dict[str, HostGate] = {}
        self._lock = threading.Lock()

    def get(self, host: str) -> HostGate:
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = HostGate(host, self.concurrency, self.min_delay_s, self.schedule)
            return gate
