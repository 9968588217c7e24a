"""The run-wide crawl frontier: one fetch per normalised URL per run, across workers and across a resume."""

from __future__ import annotations

import os
import time
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jinglian.core import documents as D
from jinglian.pipeline.apply import take_statistics
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import load_job
from jinglian.core.context import RunContext
from jinglian.stages.crawl.stage import CrawlParams, CrawlStage
from jinglian.stages.crawl.frontier import Frontier, write_journal
from tests.helpers import write_job
from tests.test_crawl import Site

SEEDS = [
    ["/hub", "/p1", "/p2", "/shared", "/./hub#top"],  # the last one is /hub again once normalised
    ["/hub2", "/p3", "/shared", "/p4"],
    ["/p4", "/shared", "/hub", "/p1", "/z"],
    ["/p5", "/hub2", "/p3"],
]
LINKS = {
    "/hub": ["/x", "/y", "/p3", "/hub2"],
    "/hub2": ["/x", "/z", "/p1", "/hub"],
    "/x": ["/y", "/z"],
    "/shared": ["/x"],
}
PAGES = {"/hub", "/hub2", "/p1", "/p2", "/p3", "/p4", "/p5", "/shared", "/x", "/y", "/z"}


@pytest.fixture
def web():
    site = Site()
    for path in PAGES:
        links = "".join(f'<a href="{target}">{target}</a>' for target in LINKS.get(path, []))
        body = f"<html><body><p>page {path}</p>{links}</body></html>".encode()

        def slow(req, body=body):
            time.sleep(0.05)  # long enough for the workers' crawls to overlap
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body

        site.routes[path] = slow
    yield site
    site.server.shutdown()
    site.server.server_close()


def make_job(tmp_path, site, seeds=SEEDS, **params):
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    for i, paths in enumerate(seeds):
        (inputs / f"seeds-{i}.txt").write_text("".join(site.base + p + "\n" for p in paths))
    crawl = {"allow_networks": ["127.0.0.1/32"], "min_delay_s": 0.0, "max_depth": 2, "timeout_s": 5.0, **params}
    path = write_job(tmp_path / "job.yaml", name="frontier", output=str(tmp_path / "out"),
                     input=[{"path": str(inputs / "*.txt"), "format": "urls"}], stages=[{"crawl": crawl}])
    return load_job(path)


def read_all(out):
    files = [os.path.join(out, sub, f) for sub in ("docs", "rejected", "errors") for f in sorted(os.listdir(os.path.join(out, sub)))]
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables, promote_options="permissive").to_pylist()


def page_hits(site) -> Counter:
    return Counter(p for p, _ in site.hits if p != "/robots.txt")


def check_every_url_once(rows, stats):
    """Each page fetched by exactly one row; every other row naming it points at that row."""
    totals = stats["totals"]
    assert totals["read"] == totals["kept"] + totals["rejected"] + totals["failed"] == len(rows)
    assert totals["failed"] == 0
    assert len({r[D.ID] for r in rows}) == len(rows)
    fetched = [r for r in rows if r[D.REASON] != "crawl:duplicate_url"]
    assert sorted(r["requested_url"].split("/", 3)[3] for r in fetched) == sorted(p.lstrip("/") for p in PAGES)
    ids = {r[D.ID] for r in fetched}
    for r in rows:
        if r[D.REASON] == "crawl:duplicate_url":
            assert r[D.DUPLICATE_OF] in ids, r
    return fetched


@pytest.fixture
def both_workers(ray_local, monkeypatch):
    """Ray Data gives work to the first actor that is up (2 partitions in flight each): wait for both, so both crawl."""
    monkeypatch.setattr(ray_local.data.DataContext.get_current(), "wait_for_min_actors_s", 60)


def test_two_workers_fetch_every_url_once(tmp_path, web, both_workers):
    stats = run_job(make_job(tmp_path, web), RunOptions(workers=2, quiet=True))
    assert page_hits(web) == Counter({p: 1 for p in PAGES})
    rows = read_all(tmp_path / "out")
    check_every_url_once(rows, stats)
    seeds = sum(len(s) for s in SEEDS)
    assert stats["read"]["docs"] == seeds and stats["totals"]["read"] == seeds + stats["stages"][0]["added"]
    assert stats["stages"][0]["reasons"]["crawl:duplicate_url"] == len(rows) - len(PAGES)
    # both workers crawled (each reads robots.txt once), so the duplicates above crossed workers
    assert sum(1 for p, _ in web.hits if p == "/robots.txt") == 2


def test_host_delay_holds_across_workers(tmp_path, web, both_workers):
    seeds = [["/p1", "/p2", "/p3"], ["/p4", "/p5", "/shared"]]
    run_job(make_job(tmp_path, web, seeds=seeds, max_depth=0, min_delay_s=0.25), RunOptions(workers=2, quiet=True))
    starts = sorted(t for _, t in web.hits)  # robots.txt included: every request to the host is spaced
    assert len(starts) >= 7
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.2, gaps


def test_resume_skips_what_committed_partitions_fetched(tmp_path, web):
    job = make_job(tmp_path, web, max_depth=1)
    out = tmp_path / "out"
    first_stats = run_job(job, RunOptions(use_ray=False, quiet=True))
    first = read_all(out)
    check_every_url_once(first, first_stats)
    # a run killed while partition 1 was crawling: its outputs, marker and journal never got written
    owned_by_1 = {r["requested_url"] for r in first if r[D.INPUT_FILE].endswith("seeds-1.txt") and r[D.REASON] != "crawl:duplicate_url"}
    assert owned_by_1 == {web.base + "/p4"}  # partition 2 lists /p4 too and deferred to partition 1
    os.remove(out / "_parts" / "part-00001.json")
    for sub in ("docs", "rejected", "errors"):
        os.remove(out / sub / "part-00001.parquet")
    os.remove(out / "_work" / "stage-crawl" / "frontier" / "part-00001.json")
    web.hits.clear()
    stats = run_job(job, RunOptions(use_ray=False, quiet=True))
    # only partition 1's own pages are fetched again: committed partitions' URLs are not redone
    assert set(page_hits(web)) == {u[len(web.base):] for u in owned_by_1}
    assert max(page_hits(web).values()) == 1
    check_every_url_once(read_all(out), stats)


def test_resume_redoes_a_partition_that_journaled_but_did_not_commit(tmp_path, web):
    """Killed between the journal and the marker: the redo takes its own claims over, it does not defer to them."""
    job = make_job(tmp_path, web, max_depth=1)
    out = tmp_path / "out"
    run_job(job, RunOptions(use_ray=False, quiet=True))
    first = read_all(out)
    owned_by_0 = {r["requested_url"] for r in first if r[D.INPUT_FILE].endswith("seeds-0.txt") and r[D.REASON] != "crawl:duplicate_url"}
    os.remove(out / "_parts" / "part-00000.json")
    web.hits.clear()
    stats = run_job(job, RunOptions(use_ray=False, quiet=True))
    assert set(page_hits(web)) == {u[len(web.base):] for u in owned_by_0}
    again = read_all(out)
    check_every_url_once(again, stats)
    key = lambda r: (r[D.ID], r["requested_url"], r[D.REASON], r[D.DUPLICATE_OF])  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, first))


def test_claims_are_atomic_batches_with_takeover_by_a_redo(tmp_path):
    frontier = Frontier(str(tmp_path))
    assert frontier.claim("a", [("u1", 0, "r1"), ("u2", 0, "r2")]) == [None, None]
    assert frontier.claim("b", [("u1", 1, "s1"), ("u3", 1, "s3")]) == ["r1", None]
    assert frontier.claim("a", [("u1", 0, "r1")]) == [None]  # the same row again (a batch retried row by row)
    assert frontier.claim("a", [("u1", 0, "rX")]) == ["r1"]  # another row of the same attempt
    assert frontier.claim("c", [("u3", 1, "s3b")]) == [None]  # partition 1 redone: it takes its claim over
    assert frontier.claim("b", [("u3", 0, "r3")]) == ["s3b"]  # others now defer to the redo's row
    # a new frontier starts from the journals of finished partitions, nothing else
    write_journal(str(tmp_path), 0, {"u1": "r1"})
    again = Frontier(str(tmp_path))
    assert again.claim("d", [("u1", 2, "t1"), ("u2", 2, "t2")]) == ["r1", None]
    assert again.claim("e", [("u1", 0, "r1-redo")]) == [None]


def test_schedule_spaces_starts_per_host(tmp_path):
    frontier = Frontier(str(tmp_path))
    start = time.time()
    waits = [frontier.reserve("h:1", 0.5) for _ in range(3)]
    elapsed = time.time() - start  # however long a loaded machine took between the calls
    assert 0 <= waits[0] <= 1e-9
    assert 0.5 - elapsed <= waits[1] <= 0.5 and 1.0 - elapsed <= waits[2] <= 1.0
    assert frontier.reserve("other:1", 0.5) <= 1e-9


def test_crawl_stage_directly_still_dedups(tmp_path, web):
    from tests.test_crawl import crawl

    out, _ = crawl([web.base + "/hub", web.base + "/./hub#top", web.base + "/p1"], tmp_path, max_depth=0)
    assert out[D.REASON].to_pylist() == [None, "crawl:duplicate_url", None]
    assert out[D.DUPLICATE_OF].to_pylist()[1] == "s0"
    assert page_hits(web) == Counter({"/hub": 1, "/p1": 1})


def test_rows_defer_to_the_row_that_owns_the_url_elsewhere(tmp_path, web):
    """Seeds and links another worker owns point at its row, also when a batch lists the URL twice."""
    stage = CrawlStage(CrawlParams(allow_networks=["127.0.0.1/32"], min_delay_s=0.0, max_depth=1), RunContext(str(tmp_path), str(tmp_path)))
    stage.setup()
    stage.frontier.claim("another worker", [(web.base + "/p1", 9, "theirs-p1"), (web.base + "/x", 9, "theirs-x")])
    urls = [web.base + "/shared", web.base + "/p1", web.base + "/./p1#a"]
    batch = pa.table({D.ID: ["s0", "s1", "s2"], D.TEXT: [""] * 3, "url": urls, D.PART: [3] * 3, D.ROW: [D.row_key(3, i) for i in range(3)]})
    rows = D.with_verdict_columns(stage.process(batch)).to_pylist()
    assert [r[D.REASON] for r in rows] == [None, "crawl:duplicate_url", "crawl:duplicate_url", "crawl:duplicate_url"]
    assert [r[D.DUPLICATE_OF] for r in rows] == [None, "theirs-p1", "theirs-p1", "theirs-x"]
    assert rows[3]["requested_url"] == web.base + "/x" and rows[3]["crawl_depth"] == 1
    assert len({r[D.ID] for r in rows}) == 4
    assert page_hits(web) == Counter({"/shared": 1})
    assert take_statistics(stage)["claimed_elsewhere"] == 2  # the second /p1 row never asked: its batch neighbour did
