"""Extraction speed in one run: the stage, the precision-only stage before the per-page choice, trafilatura's defaults.

Issue 16 asks for extract throughput within 20% of the stage before it (precision mode
only). Every configuration runs in a worker process of its own (a fresh interpreter:
the trafilatura speed-ups of ``trafilatura_speedups.py`` live exactly in the processes
that use them, trafilatura is as shipped in the others), one page at a time through
``extract_page`` (in-process, no child round trip; decoding is done once beforehand and
timed for none). The pages are cut into rounds; in every round each worker takes the
same pages, in an order that alternates from round to round, so load on a shared
machine falls on every configuration alike. Figures: CPU seconds of each worker
process summed over the rounds, ratios of pages per CPU second, and whether the
configurations that must give the same output did (the speed-ups on and off).

Configurations:
- ``stage``: the extract stage's defaults;
- ``stage, shipped``: the same with ``speedups=False`` (trafilatura as shipped);
- ``precision-only``: ``decide=False, drop_navigation_tables=False`` (the stage before the
  per-page choice), with the speed-ups;
- ``precision-only, shipped``: the same on trafilatura as shipped: the stage as it was;
- ``trafilatura``: ``trafilatura.extract(html, url=url)``, its defaults, as shipped.

    python benchmarks/extract_speed.py [--rounds 30] [--limit N] [--datasets wcxb,cwced]
    python benchmarks/extract_speed.py --parts   # CPU per part of the stage, speed-ups off and on
    git worktree add ../jinglian-before <commit>
    python benchmarks/extract_speed.py --against ../jinglian-before   # the stage of another checkout: same output? CPU?

``--against`` runs the stage's defaults from the other checkout (its ``jinglian`` first on
the worker's ``sys.path``) beside this one's, and counts the pages whose output (text,
title, date, source) differs: the proof that a speed-up changed nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_machine  # noqa: E402

CONFIGS = {
    "stage": {},
    "stage, shipped": {"speedups": False},
    "precision-only": {"decide": False, "drop_navigation_tables": False},
    "precision-only, shipped": {"decide": False, "drop_navigation_tables": False, "speedups": False},
    "trafilatura": None,  # trafilatura.extract with its defaults
}
AGAINST = "stage, other checkout"  # the stage's defaults, from the checkout given to --against
CONFIGS[AGAINST] = {}
SAME_OUTPUT = (("stage", "stage, shipped"), ("precision-only", "precision-only, shipped"), ("stage", AGAINST))

_PAGES: list = []  # (html, url) in the worker, decoded once


def _load(datasets: list[str] | None, limit: int | None) -> list[tuple[str, str | None]]:
    from benchmarks.genres_extract import decoded, selected_pages

    return [(decoded(p), p.url) for p in selected_pages(None, set(datasets) if datasets else None, limit)]


def _init(datasets, limit, checkout: str | None = None) -> None:
    if checkout:  # before anything imports jinglian in this worker
        sys.path.insert(0, checkout)
    _PAGES[:] = _load(datasets, limit)


def _digest(out) -> str:
    return hashlib.sha1(repr(out).encode()).hexdigest()


def _run(config: str, indices: list[int], parts: bool = False) -> tuple[float, list[str], dict]:
    """CPU seconds of this worker for ``extract_page`` (or trafilatura) on the pages, their output digests, and CPU per part."""
    import trafilatura

    from jinglian.stages.extract.stage import _WARMUP_PAGE, ExtractParams, extract_page

    kw = CONFIGS[config]
    if kw is None:
        fn = lambda html, url: trafilatura.extract(html, url=url)  # noqa: E731
    else:
        params = ExtractParams(isolate=False, **kw)
        fn = lambda html, url: extract_page(html, url, params)  # noqa: E731
    if not getattr(_run, "warm", False):
        fn(_WARMUP_PAGE, None)  # lazy imports and justext's stop lists, untimed
        _run.warm = True
    timer = _PartTimer() if parts else None
    start = time.process_time()
    digests = [_digest(fn(*_PAGES[i])) for i in indices]
    cpu = time.process_time() - start
    return cpu, digests, timer.stop() if timer else {}


class _PartTimer:
    """CPU per part of extract_page: wraps the functions it calls (looked up at call time) while it lives."""

    def __init__(self):
        import htmldate
        import trafilatura
        import trafilatura.metadata

        from jinglian.stages.extract import stage

        self.cpu: dict[str, float] = defaultdict(float)
        self.saved = []
        self.depth = 0
        targets = [
            (stage, "parse_page", "parse"),
            (trafilatura.metadata, "extract_title", "title"),
            (htmldate, "find_date", "date (htmldate)"),
            (stage, "drop_navigation_tables", "navigation tables"),
            (trafilatura, "bare_extraction", "precision pass"),
            (stage, "main_content_estimate", "resiliparse estimate"),
            (stage, "verdict", "choice (decide.py)"),
            (trafilatura, "extract", "fallback passes"),
            (stage, "long_enough", "choice (decide.py)"),
            (stage, "pick_short", "choice (decide.py)"),
            (stage, "drop_repeated_lines", "choice (decide.py)"),
            (stage, "interior_fill", "interior fill"),
        ]
        for module, name, part in targets:
            if not hasattr(module, name):  # a stage without that part
                continue
            original = getattr(module, name)
            self.saved.append((module, name, original))
            setattr(module, name, self._timed(original, part))

    def _timed(self, fn, part: str):
        def timed(*args, **kwargs):
            if self.depth:  # a part inside another (extract calls bare_extraction): counted once, in the outer
                return fn(*args, **kwargs)
            self.depth += 1
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu[part] += time.process_time() - start
                self.depth -= 1

        return timed

    def stop(self) -> dict:
        for module, name, original in self.saved:
            setattr(module, name, original)
        return dict(self.cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--limit", type=int, help="first N pages of each dataset/genre group")
    ap.add_argument("--datasets", help="comma-separated dataset names (default: all)")
    ap.add_argument("--parts", action="store_true", help="CPU per part of the stage, speed-ups off and on")
    ap.add_argument("--against", metavar="CHECKOUT", help="another checkout of the repository: its stage beside this one's")
    args = ap.parse_args()
    datasets = args.datasets.split(",") if args.datasets else None
    if args.parts:
        configs = ["stage, shipped", "stage"]
    elif args.against:
        configs = [AGAINST, "stage"]
    else:
        configs = [c for c in CONFIGS if c != AGAINST]

    print_machine()
    import lxml
    import trafilatura

    print(f"trafilatura {trafilatura.__version__}, lxml {lxml.__version__}; 1/5/15-min load at start: {os.getloadavg()}")
    n = len(_load(datasets, args.limit))
    ctx = mp.get_context("spawn")
    pools = {c: ctx.Pool(1, initializer=_init, initargs=(datasets, args.limit, args.against if c == AGAINST else None)) for c in configs}
    cpu = dict.fromkeys(configs, 0.0)
    digests: dict[str, list[str]] = {c: [] for c in configs}
    parts: dict[str, dict[str, float]] = {c: defaultdict(float) for c in configs}
    loads = []
    rounds = [list(range(r, n, args.rounds)) for r in range(args.rounds)]
    for r, indices in enumerate(rounds):
        loads.append(os.getloadavg()[0])
        for c in configs if r % 2 == 0 else configs[::-1]:
            seconds, d, p = pools[c].apply(_run, (c, indices, args.parts))
            cpu[c] += seconds
            digests[c] += d
            for k, v in p.items():
                parts[c][k] += v
        print(f"round {r + 1}/{args.rounds}: {len(indices)} pages, 1-min load {loads[-1]:.1f}, CPU s so far "
              + ", ".join(f"{c} {cpu[c]:.1f}" for c in configs), flush=True)
    for pool in pools.values():
        pool.close()

    print(f"\n{n} pages, {args.rounds} alternating rounds, 1-min load during the rounds {min(loads):.1f}-{max(loads):.1f}, "
          f"at the end {os.getloadavg()[0]:.1f}")
    if args.parts:
        names = sorted({k for c in configs for k in parts[c]}, key=lambda k: -parts["stage, shipped"].get(k, 0))
        print(f"\n{'part (CPU s)':24s} {'speed-ups off':>14s} {'on':>8s}")
        for k in names:
            print(f"{k:24s} {parts['stage, shipped'].get(k, 0):14.1f} {parts['stage'].get(k, 0):8.1f}")
        print(f"{'whole extract_page':24s} {cpu['stage, shipped']:14.1f} {cpu['stage']:8.1f}")
    elif args.against:
        print(f"\nstage CPU s: {args.against} {cpu[AGAINST]:.1f}, this checkout {cpu['stage']:.1f}: "
              f"this checkout does {cpu[AGAINST] / cpu['stage']:.2f}x the other's pages per CPU second")
    else:
        print(f"\n{'configuration':26s} {'CPU s':>8s} {'pages/s':>8s} {'vs precision-only':>18s} {'vs it, shipped':>15s} {'vs trafilatura':>15s}")
        for c in configs:
            speed = n / cpu[c]
            print(f"{c:26s} {cpu[c]:8.1f} {speed:8.1f} {cpu['precision-only'] / cpu[c]:17.2f}x "
                  f"{cpu['precision-only, shipped'] / cpu[c]:14.2f}x {cpu['trafilatura'] / cpu[c]:14.2f}x")
    for a, b in SAME_OUTPUT:
        if a in digests and b in digests:
            differ = sum(x != y for x, y in zip(digests[a], digests[b]))
            print(f"output of '{a}' vs '{b}': {differ} of {n} pages differ")


if __name__ == "__main__":
    main()
