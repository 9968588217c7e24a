"""The run-wide crawl frontier: one owner per normalised URL and one request schedule per host, for all workers.

Before fetching, a worker sends a batch of ``(url, partition, row id)`` triples to
:meth:`Frontier.claim` (one round trip per batch, not per URL) and learns for
each one: fetch it (the row now owns the URL), or the id of the row that owns
it already (the row becomes a ``crawl:duplicate_url`` pointing there).
:meth:`Frontier.reserve` hands out request start times per host, so the delay
between requests to one host (``min_delay_s``, raised by robots.txt
``Crawl-delay``) holds for the whole run, not per worker.

Where it lives: the run context's shared object ``frontier`` (the engine makes it
one Ray actor per run under Ray, an in-process object without). If the worker owning
the actor dies, the next call makes a fresh one from the journals (below): in-flight
claims are forgotten, which can cost a duplicate fetch, never a lost URL.

Resume. A claim belongs to the partition of the row that made it.

* When a partition is finished, its worker writes the URLs the partition owns
  to ``<work_dir>/frontier/part-NNNNN.json`` (the executor calls
  ``Stage.partition_done`` after committing the partition's output, before writing
  its marker). A new frontier starts from these journals, so a resumed run
  does not fetch again what committed partitions fetched.
* Claims of partitions that did not finish were held only by the killed run's
  frontier, which the resumed run never sees: their URLs are free again and
  are fetched by whichever partition reaches them first.
* A partition that is redone (its worker died and Ray retried it, or the
  run was killed between its journal and its marker) takes its earlier claims
  over instead of deferring to them: a claim by the same partition under
  another attempt is granted to the new attempt.

What a redo does not repair: a partition that committed while deferring to a
URL of a partition that then died points (``duplicate_of``) at a row that only
exists if the redo reaches that URL again. Seeds it always reaches; a link it
misses if the linking page changed in between or the redo's worker ran out of
``max_pages``.

Limits: robots.txt is still read once per worker and host, and
``per_host_concurrency`` caps requests in flight per worker (the start spacing
is run-wide). All claimed URLs of a run live in one actor's memory.
"""

from __future__ import annotations

import json
import os
import threading
import time

from jinglian.core.atomic import write_json_atomic

JOURNAL_DIR = "frontier"
NO_PART = -1  # rows without a partition number (a stage driven directly, as in tests)


def journal_path(work_dir: str, part: int) -> str:
    return os.path.join(work_dir, JOURNAL_DIR, f"part-{part:05d}.json")


def write_journal(work_dir: str, part: int, owned: dict[str, str]) -> None:
    """Record the URLs a finished partition owns (normalised URL -> id of the row that fetched it)."""
    write_json_atomic(journal_path(work_dir, part), {"part": part, "urls": owned})


class Frontier:
    """The registry itself; thread-safe (under Ray, the run's shared actor holds one)."""

    JOURNALED = "journal"  # the attempt of claims read back from journals

    def __init__(self, work_dir: str):
        self._owner: dict[str, tuple[int, str, str]] = {}  # url -> (part, attempt, row id)
        self._next_start: dict[str, float] = {}  # host -> earliest start of its next request (time.time())
        self._lock = threading.Lock()
        directory = os.path.join(work_dir, JOURNAL_DIR)
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            if not (name.startswith("part-") and name.endswith(".json")):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                journal = json.load(f)
            for url, row_id in journal["urls"].items():
                self._owner[url] = (journal["part"], self.JOURNALED, row_id)

    def claim(self, attempt: str, items: list[tuple[str, int, str]]) -> list[str | None]:
        """For each ``(url, part, row id)``: None if the row may fetch the URL (it owns it now), else the owner's row id.

        Granted: a URL nobody owns; a URL this same row owns (a batch retried
        row by row); a URL owned by the same partition under another attempt
        (the partition is being redone).
        """
        out: list[str | None] = []
        with self._lock:
            for url, part, row_id in items:
                held = self._owner.get(url)
                if held is None or (held[0] == part and (held[1] != attempt or held[2] == row_id)):
                    self._owner[url] = (part, attempt, row_id)
                    out.append(None)
                else:
                    out.append(held[2])
        return out

    def reserve(self, host: str, delay_s: float) -> float:
        """Seconds the caller must wait before its request to ``host`` starts, run-wide ``delay_s`` apart."""
        with self._lock:
            now = time.time()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + delay_s
            return start - now
