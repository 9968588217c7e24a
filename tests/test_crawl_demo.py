"""The demo site served on 127.0.0.1, crawled and extracted: the start of the demo job."""

from __future__ import annotations

import pyarrow as pa

from jinglian.core import documents as D
from jinglian.demo.corpus import generate_documents
from jinglian.demo.server import DemoSite
from jinglian.core.context import RunContext
from jinglian.stages.crawl.stage import CrawlParams, CrawlStage
from jinglian.stages.extract.stage import ExtractParams, ExtractStage
from jinglian.stages.ingest.warc import read_warc


def test_demo_site_crawl_then_extract(tmp_path):
    docs = [d for d in generate_documents(40, seed=3) if d["kind"] == "clean"][:12]
    context = RunContext(output_dir=str(tmp_path), work_dir=str(tmp_path))
    with DemoSite(docs) as site:
        crawl = CrawlStage(CrawlParams(allow_networks=["127.0.0.1/32"], min_delay_s=0.0, max_depth=1, write_warc=True), context)
        crawl.setup()
        seeds = pa.table({D.ID: ["index"], D.TEXT: [""], "url": [site.index_url]})
        crawled = D.with_verdict_columns(crawl.process(seeds))
    by_path = {r["requested_url"][len(site.base):]: r for r in crawled.to_pylist()}
    assert by_path["/private/admin.html"][D.REASON] == "crawl:robots_disallowed"
    assert by_path["/gone.html"][D.REASON] == "crawl:http_404"
    fetched = crawled.filter(pa.array(D.active_mask(crawled)))
    assert len(fetched) == len(docs) + 1  # the index and every page

    extract = ExtractStage(ExtractParams(), context)
    extract.setup()
    out = extract.process(fetched)
    texts = {r["url"][len(site.base):]: r for r in out.to_pylist()}
    charsets = set()
    for doc in docs:
        row = texts[doc["url"].split("demo.jinglian.local", 1)[1]]
        first = doc["text"].split("\n")[1]  # the first line is the site header, the article starts after it
        assert first in row[D.TEXT], doc["id"]
        charsets.add(row["html_charset"])
    assert "gb18030" in charsets  # some pages were GBK and came out as correct Unicode

    # the WARC written during the crawl reads back to the same bodies
    records = [r for w in (tmp_path / "warc").glob("*.warc.gz") for r in read_warc(str(w), {})]
    assert {r["url"] for r in records} >= {site.base + p for p in by_path if p not in ("/private/admin.html",)}
    body = {r["url"]: r["content"] for r in records}
    for r in fetched.to_pylist():
        assert body[r["url"]] == r["content"]


def test_serve_demo_site_writes_seed_files(tmp_path):
    import urllib.request

    from jinglian.demo.server import serve_demo_site
    from jinglian.stages.ingest.urls import read_urls

    site = serve_demo_site(str(tmp_path / "input"), files=3, n=20, port=0)
    try:
        rows = [r for f in range(3) for r in read_urls(str(tmp_path / "input" / f"seeds-{f:05d}.txt"), {})]
        assert rows[0]["url"] == site.index_url
        assert len(rows) == 3 + sum(1 for p in site.pages if p.endswith(".html") and not p.startswith("/private/"))
        with urllib.request.urlopen(site.base + "/robots.txt", timeout=5) as r:
            assert b"Disallow: /private/" in r.read()
    finally:
        site.close()
