"""What a run shows the user: one progress display per segment, in documents of the whole run.

A segment's documents are counted over all its partitions together (not per
worker): for the first segment, the records read (plus pages a stage added);
for a later one, the rows of the intermediate files it reads, whose total is
known before it starts. Speed counts only the work of this run (partitions
committed by an earlier run are shown as done but do not inflate docs/s), and
the ETA extrapolates from the share done: of documents where the total is
known, of input bytes otherwise.

On a terminal the progress is one line redrawn in place (a ticker keeps the
clock moving between partitions); when stdout is a file or a pipe it is plain
lines, at most one every ``plain_every_s`` seconds, so a log stays readable.
"""

from __future__ import annotations

import sys
import threading
import time

import pyarrow.parquet as pq

from jinglian.pipeline.apply import StageCounts


class Console:
    """Where the run's own lines go; Ray's logs may be sent elsewhere (see ``ray_runtime``).

    ``stream`` None means ``sys.stdout`` as it is at each write, so that tools which swap it
    (pytest's capture) see the lines.
    """

    def __init__(self, stream=None, quiet: bool = False):
        self.stream_override = stream
        self.quiet = quiet
        self._live = False  # a status line is on screen and must be cleared before the next line
        self._lock = threading.Lock()

    @property
    def stream(self):
        return self.stream_override if self.stream_override is not None else sys.stdout

    def is_tty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self._clear_live()
            self.stream.write(text + "\n")
            self.stream.flush()

    def status(self, text: str) -> None:
        """Redraw the one live line (terminals only; elsewhere nothing)."""
        if self.quiet or not self.is_tty():
            return
        with self._lock:
            self.stream.write("\r" + text + "\x1b[K")
            self.stream.flush()
            self._live = True

    def clear_status(self) -> None:
        with self._lock:
            self._clear_live()

    def _clear_live(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[K")
            self._live = False


class Ticking:
    """A live "label  m:ss elapsed" line while a step with no countable progress runs (terminals only)."""

    def __init__(self, console: Console, label: str, tick_s: float = 0.5, clock=time.monotonic):
        self.console, self.label, self.tick_s, self.clock = console, label, tick_s, clock
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self) -> "Ticking":
        self.start = self.clock()
        if self.console.is_tty() and not self.console.quiet:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.console.clear_status()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_s):
            self.console.status(f"{self.label}  {format_duration(self.clock() - self.start)} elapsed")


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rows_per_file(paths: dict[int, str]) -> dict[int, int]:
    """{partition: rows} of intermediate Parquet files, from their footers (nothing else is read)."""
    return {part: pq.ParquetFile(path).metadata.num_rows for part, path in paths.items()}


def documents_of(result: dict, rows_in: dict[int, int] | None) -> int:
    """Documents one partition result stands for: rows it read, or records read plus pages added."""
    if rows_in is not None and result["part"] in rows_in:
        return rows_in[result["part"]]
    return int(result.get("read", 0)) + sum(int(s.get("added", 0)) for s in result["stages"])


class SegmentProgress:
    """Progress of one segment over all its partitions; ``update`` per finished partition, then ``finish``.

    ``weights`` ({partition: input bytes}) drive the ETA when the document total is unknown;
    ``rows_in`` ({partition: rows}) gives the document total of a segment reading intermediate files.
    """

    def __init__(self, console: Console, label: str, stage_names: list[str], parts: list[int],
                 committed: list[dict], *, rows_in: dict[int, int] | None = None,
                 weights: dict[int, int] | None = None, plain_every_s: float = 30.0, tick_s: float = 0.5,
                 clock=time.monotonic):
        self.console, self.label, self.names = console, label, stage_names
        self.rows_in, self.weights = rows_in, weights
        self.parts_total = len(parts)
        self.plain_every_s, self.clock = plain_every_s, clock
        self.counts = [StageCounts() for _ in stage_names]
        self.parts_done = 0
        self.docs_done = 0  # this run and earlier runs
        self.docs_now = 0  # this run only: the speed
        committed_parts = {r["part"] for r in committed}
        todo = [p for p in parts if p not in committed_parts]
        self.docs_total = sum(rows_in.get(p, 0) for p in parts) if rows_in is not None else None
        self.docs_todo = sum(rows_in.get(p, 0) for p in todo) if rows_in is not None else None
        self.weight_todo = sum(weights.get(p, 0) for p in todo) if weights else 0
        self.weight_now = 0
        for result in committed:
            self._count(result)
        self.parts_committed = self.parts_done
        self.start = clock()
        self.last_plain = self.start
        self._stop = threading.Event()
        self._plain_lock = threading.Lock()
        self._ticker = None
        if tick_s and todo and not console.quiet:
            # a terminal redraws the clock; a log gets a line now and then even while one long partition runs
            every = tick_s if console.is_tty() else plain_every_s
            self._ticker = threading.Thread(target=self._tick, args=(every,), daemon=True)
            self._ticker.start()

    def _count(self, result: dict) -> int:
        self.parts_done += 1
        for counts, d in zip(self.counts, result["stages"]):
            counts.merge(StageCounts.from_dict(d))
        docs = documents_of(result, self.rows_in)
        self.docs_done += docs
        return docs

    def update(self, result: dict) -> None:
        self.docs_now += self._count(result)
        if self.weights:
            self.weight_now += self.weights.get(result["part"], 0)
        if self.console.is_tty():
            self.console.status(self.render())
        elif self.parts_done < self.parts_total:  # the last one: the summary line follows
            self._plain_line()

    def _plain_line(self) -> None:
        """A plain progress line unless one was printed less than ``plain_every_s`` ago."""
        with self._plain_lock:
            now = self.clock()
            if now - self.last_plain < self.plain_every_s:
                return
            self.last_plain = now
        self.console.line(self.render(now))

    def fraction(self) -> float | None:
        """Share of this run's work done, or None before anything is known."""
        if self.docs_todo:
            return min(1.0, self.docs_now / self.docs_todo)
        if self.weight_todo:
            return min(1.0, self.weight_now / self.weight_todo)
        parts_todo = self.parts_total - self.parts_committed
        return None if not parts_todo else (self.parts_done - self.parts_committed) / parts_todo

    def render(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = max(1e-9, now - self.start)
        docs = f"{self.docs_done:,}/{self.docs_total:,} docs" if self.docs_total is not None else f"{self.docs_done:,} docs"
        parts = [f"  {self.label}", docs, f"{self.parts_done}/{self.parts_total} partitions"]
        if self.docs_now:
            parts.append(f"{self.docs_now / elapsed:,.0f} docs/s")
        fraction = self.fraction()
        if fraction:
            parts.append(f"ETA {format_duration(elapsed * (1 - fraction) / fraction)}")
        parts.append(f"{format_duration(elapsed)} elapsed")
        return "  ".join(parts)

    def stop(self) -> None:
        """Stop the live line (the segment ended, or failed)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        self.console.clear_status()

    def finish(self) -> float:
        """Stop the live line and print the segment's totals; returns its wall seconds."""
        self.stop()
        elapsed = self.clock() - self.start
        flow = ", ".join(f"{n} {c.docs_in:,} -> {c.docs_out:,}" for n, c in zip(self.names, self.counts))
        speed = f" ({self.docs_now / elapsed:,.0f} docs/s)" if self.docs_now and elapsed > 0 else ""
        self.console.line(f"  {self.label} done: {self.docs_done:,} docs in {elapsed:.1f} s{speed}"
                          + (f"; {flow}" if flow else ""))
        return elapsed

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            if self.console.is_tty():
                self.console.status(self.render())
            else:
                self._plain_line()
