"""Shared bits of the benchmark scripts: where the bench data is, what machine ran them."""

from __future__ import annotations

import os
import platform
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def bench_data() -> Path:
    """``$JINGLIAN_BENCH_DATA`` or ``../shared/bench-data`` next to the repository; exits if absent."""
    path = Path(os.environ.get("JINGLIAN_BENCH_DATA", REPO.parent / "shared" / "bench-data"))
    if not path.is_dir():
        sys.exit(f"bench data not found at {path} (set JINGLIAN_BENCH_DATA)")
    return path


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({model or cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def print_machine() -> None:
    print(f"machine: {machine()}")


class TreeMemory:
    """Peak memory and CPU time of a process and all its descendants, sampled in a thread while it runs.

    ``peak_rss``/``peak_pss``: the largest sum over the tree seen at one sample (PSS counts shared
    pages once). ``peak_child_rss``: the largest RSS of any one descendant (a worker), the root
    apart. ``cpu_s``: user + system seconds of every process seen, each at its last sample; a
    process that lives less than one interval is missed, so callers may take the larger of this and
    ``resource.getrusage(RUSAGE_CHILDREN)`` (which misses descendants that were re-parented).
    """

    def __init__(self, pid: int, every_s: float = 0.05):
        import psutil

        self.root = psutil.Process(pid)
        self.every_s = every_s
        self.peak_rss = self.peak_pss = 0
        self.peak_child_rss = 0
        self.peak_processes = 0
        self._cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds at the last sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = pss = 0
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            for proc in tree:
                try:
                    with proc.oneshot():
                        info = proc.memory_full_info()
                        times = proc.cpu_times()
                        key = (proc.pid, proc.create_time())
                except psutil.Error:
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                self._cpu[key] = times.user + times.system
                if proc is not self.root:
                    self.peak_child_rss = max(self.peak_child_rss, info.rss)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(tree))
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
