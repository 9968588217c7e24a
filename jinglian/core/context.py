"""What a stage may know about the run it is part of, and the two services the engine gives it.

- :meth:`RunContext.shared`: one object for the whole run (the crawl frontier), made once by
  the first worker that asks. The engine supplies how (``share``): under Ray a named actor that
  every worker reaches through a handle with the object's methods; without it, an object in this
  process. Stages never see which.
- :class:`StageCounter`: statistics beyond rows in and out (charsets detected, lines removed);
  a stage adds to it, the engine takes what accumulated after each partition and sums the takes.
"""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable


class StageCounter:
    """Counts a stage adds to (nested keys allowed); thread-safe, as a stage may count from a thread pool."""

    def __init__(self):
        self._values: dict = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:  # a stage sent to another process takes its counts, not the lock
        with self._lock:
            return {"values": copy.deepcopy(self._values)}

    def __setstate__(self, state: dict) -> None:
        self._values = state["values"]
        self._lock = threading.Lock()

    def add(self, *path: str, n: int | float = 1) -> None:
        with self._lock:
            node = self._values
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = node.get(path[-1], 0) + n

    def take(self, zeros: dict | None = None) -> dict:
        """What was counted since the last take, over ``zeros`` (keys reported even when nothing was counted)."""
        with self._lock:
            values, self._values = self._values, {}
        out = copy.deepcopy(zeros or {})
        _add_into(out, values)
        return out


def _add_into(into: dict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            _add_into(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value


# share(context, name, factory) -> the run's object, or None where it lives in this process: supplied by the engine
ShareHook = Callable[["RunContext", str, Callable[[], Any]], Any]


@dataclass
class RunContext:
    output_dir: str
    work_dir: str  # scratch space for this stage (state of a barrier, caches)
    job_dir: str = "."  # relative paths in params resolve here (the working directory of the run)
    seed: int = 0
    share: ShareHook | None = None  # None: run-wide objects live in this process (a run with one worker)
    counter: StageCounter = field(default_factory=StageCounter)
    _local: dict = field(default_factory=dict, repr=False, compare=False)

    def resolve(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.job_dir, path)

    def shared(self, name: str, factory: Callable[[], Any]):
        """The run-wide object ``name``, made by ``factory()`` for the first worker that asks.

        ``factory`` must be picklable (a class or a ``functools.partial``) and the object's methods
        thread-safe and called with picklable arguments: it may live in another process.
        """
        obj = self.share(self, name, factory) if self.share is not None else None
        if obj is not None:
            return obj
        if name not in self._local:
            self._local[name] = factory()
        return self._local[name]
