"""crawl stage against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jinglian.core import documents as D
from jinglian.core.context import RunContext
from jinglian.stages.crawl.stage import CrawlParams, CrawlStage
from jinglian.stages.crawl.urls import extract_links, normalize_url
from jinglian.stages.ingest.warc import read_warc

PAGE = b"<html><head><title>t</title></head><body><p>hello</p></body></html>"


class Site:
    """A tiny web site: ``routes[path] = handler(request) -> (status, headers, body)``; logs every hit."""

    def __init__(self):
        self.routes = {}
        self.hits: list[tuple[str, float]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                site.hits.append((self.path, time.monotonic()))
                route = site.routes.get(self.path)
                if route is None:
                    status, headers, body = 404, {}, b"not found"
                else:
                    status, headers, body = route(self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers and not callable(body):
                    self.send_header("Content-Length", str(len(body)))
                if callable(body):
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if callable(body):
                        body(self.wfile)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path, body=PAGE, status=200, headers=None):
        h = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
        self.routes[path] = lambda req: (status, h, body)

    def hits_of(self, path):
        return [t for p, t in self.hits if p == path]


@pytest.fixture
def site():
    s = Site()
    yield s
    s.server.shutdown()
    s.server.server_close()


def crawl(urls, tmp_path, **params):
    defaults = dict(allow_networks=["127.0.0.1/32"], min_delay_s=0.0, timeout_s=2.0, backoff_s=0.05)
    defaults.update(params)
    stage = CrawlStage(CrawlParams(**defaults), RunContext(output_dir=str(tmp_path), work_dir=str(tmp_path)))
    stage.setup()
    n = len(urls)
    batch = pa.table({D.ID: [f"s{i}" for i in range(n)], D.TEXT: [""] * n, "url": urls, D.PART: [7] * n, D.ROW: [D.row_key(7, i) for i in range(n)]})
    out = D.with_verdict_columns(stage.process(batch))
    return out, stage


def by_url(out):
    return {r["requested_url"]: r for r in out.to_pylist()}


def test_fetch_fills_content_and_metadata(site, tmp_path):
    site.page("/a", "<p>中文</p>".encode("gbk"), headers={"Content-Type": "text/html; charset=GBK"})
    out, _ = crawl([site.base + "/a"], tmp_path)
    row = out.to_pylist()[0]
    assert row[D.REASON] is None
    assert row["content"] == "<p>中文</p>".encode("gbk")
    assert (row["content_type"], row["charset"], row["http_status"]) == ("text/html", "gbk", 200)
    assert row["fetch_time"].endswith("Z")


def test_robots_rules_are_honoured_and_cached(site, tmp_path):
    site.routes["/robots.txt"] = lambda req: (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private\n")
    site.page("/public")
    site.page("/private/x")
    out, _ = crawl([site.base + "/public", site.base + "/private/x"], tmp_path)
    rows = by_url(out)
    assert rows[site.base + "/public"][D.REASON] is None
    assert rows[site.base + "/private/x"][D.REASON] == "crawl:robots_disallowed"
    assert site.hits_of("/private/x") == []
    assert len(site.hits_of("/robots.txt")) == 1


def test_robots_server_error_means_disallow(site, tmp_path):
    site.routes["/robots.txt"] = lambda req: (503, {}, b"down")
    site.page("/a")
    out, _ = crawl([site.base + "/a"], tmp_path, retries=0)
    assert out[D.REASON].to_pylist() == ["crawl:robots_disallowed"]
    assert site.hits_of("/a") == []


def test_slow_response_times_out(site, tmp_path):
    def slow(req):
        time.sleep(1.5)
        return 200, {"Content-Type": "text/html"}, PAGE

    site.routes["/slow"] = slow

    def drip(wfile):
        for _ in range(40):
            wfile.write(b"x")
            wfile.flush()
            time.sleep(0.1)

    site.routes["/drip"] = lambda req: (200, {"Content-Type": "text/html"}, drip)
    start = time.monotonic()
    out, _ = crawl([site.base + "/slow", site.base + "/drip"], tmp_path, timeout_s=0.5, total_timeout_s=1.0, retries=0)
    rows = by_url(out)
    assert rows[site.base + "/slow"][D.REASON] == "crawl:timeout"
    assert rows[site.base + "/drip"][D.REASON] == "crawl:timeout"  # each read is quick, the whole is not
    assert time.monotonic() - start < 4


def test_500s_are_retried_until_success(site, tmp_path):
    calls = []

    def flaky(req):
        calls.append(1)
        return (500, {}, b"oops") if len(calls) < 3 else (200, {"Content-Type": "text/html"}, PAGE)

    site.routes["/flaky"] = flaky
    site.routes["/broken"] = lambda req: (503, {}, b"no")
    out, _ = crawl([site.base + "/flaky", site.base + "/broken"], tmp_path, retries=2)
    rows = by_url(out)
    assert rows[site.base + "/flaky"][D.REASON] is None and len(calls) == 3
    assert rows[site.base + "/broken"][D.REASON] == "crawl:http_503"
    assert len(site.hits_of("/broken")) == 3  # first try + 2 retries, then it gives up


def test_429_honours_retry_after(site, tmp_path):
    calls = []

    def limited(req):
        calls.append(time.monotonic())
        return (429, {"Retry-After": "1"}, b"") if len(calls) == 1 else (200, {"Content-Type": "text/html"}, PAGE)

    site.routes["/limited"] = limited
    out, _ = crawl([site.base + "/limited"], tmp_path, retries=1, backoff_s=0.01)
    assert out[D.REASON].to_pylist() == [None]
    assert calls[1] - calls[0] >= 0.95  # waited as told, not the 0.01 s backoff


def test_redirects_followed_and_loops_cut(site, tmp_path):
    site.routes["/old"] = lambda req: (301, {"Location": "/new"}, b"")
    site.page("/new")
    site.routes["/loop1"] = lambda req: (302, {"Location": "/loop2"}, b"")
    site.routes["/loop2"] = lambda req: (302, {"Location": "/loop1"}, b"")
    out, _ = crawl([site.base + "/old", site.base + "/loop1"], tmp_path, max_redirects=4)
    rows = by_url(out)
    assert rows[site.base + "/old"]["url"] == site.base + "/new"
    assert rows[site.base + "/old"][D.REASON] is None
    assert rows[site.base + "/loop1"][D.REASON] == "crawl:too_many_redirects"
    assert len(site.hits_of("/loop1")) + len(site.hits_of("/loop2")) == 5


def test_huge_and_gzip_bomb_bodies_stop_at_the_cap(site, tmp_path):
    def endless(wfile):
        chunk = b"a" * 65536
        try:
            for _ in range(2000):  # 128 MiB if nobody stopped reading
                wfile.write(chunk)
        except OSError:
            pass

    site.routes["/huge"] = lambda req: (200, {"Content-Type": "text/html"}, endless)
    site.page("/declared", body=b"x" * 10, headers={"Content-Length": str(50 << 20)})
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
    site.page("/bomb", body=bomb, headers={"Content-Encoding": "gzip"})
    small = gzip.compress(PAGE * 10)
    site.page("/gz", body=small, headers={"Content-Encoding": "gzip"})
    start = time.monotonic()
    out, _ = crawl([site.base + p for p in ("/huge", "/declared", "/bomb", "/gz")], tmp_path, max_bytes=1 << 20)
    rows = by_url(out)
    for p in ("/huge", "/declared", "/bomb"):
        assert rows[site.base + p][D.REASON] == "crawl:too_large", p
    assert rows[site.base + "/gz"]["content"] == PAGE * 10  # decompressed
    assert time.monotonic() - start < 10


def test_private_addresses_refused_also_on_redirect(site, tmp_path):
    site.routes["/to-metadata"] = lambda req: (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    site.routes["/to-loopback"] = lambda req: (302, {"Location": "http://127.0.0.2:9/"}, b"")
    out, _ = crawl([site.base + "/to-metadata", site.base + "/to-loopback", "ftp://127.0.0.1/x", "file:///etc/passwd"], tmp_path)
    rows = by_url(out)
    assert rows[site.base + "/to-metadata"][D.REASON] == "crawl:private_address"
    assert rows[site.base + "/to-loopback"][D.REASON] == "crawl:private_address"
    assert rows["ftp://127.0.0.1/x"][D.REASON] == "crawl:scheme_not_allowed"
    assert rows["file:///etc/passwd"][D.REASON] == "crawl:bad_url"
    # without the explicit allowance the test server itself is refused
    out, _ = crawl([site.base + "/"], tmp_path, allow_networks=[])
    assert out[D.REASON].to_pylist() == ["crawl:private_address"]
    assert site.hits == [(p, t) for p, t in site.hits if p != "/"]


def test_content_type_allow_list_and_404(site, tmp_path):
    site.page("/img", body=b"\x89PNG", headers={"Content-Type": "image/png"})
    out, _ = crawl([site.base + "/img", site.base + "/missing"], tmp_path)
    rows = by_url(out)
    assert rows[site.base + "/img"][D.REASON] == "crawl:content_type"
    assert rows[site.base + "/missing"][D.REASON] == "crawl:http_404"
    assert rows[site.base + "/missing"][D.REASON_VALUE] == 404


def test_per_host_delay_is_respected(site, tmp_path):
    for i in range(4):
        site.page(f"/p{i}")
    crawl([site.base + f"/p{i}" for i in range(4)], tmp_path, min_delay_s=0.2, per_host_concurrency=2, concurrency=4)
    starts = sorted(t for p, t in site.hits if p.startswith("/p"))
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.15, gaps


def test_link_following_depth_domains_and_dedup(site, tmp_path):
    site.page("/", b'<a href="/a">a</a> <a href="b#frag">b</a> <a href="http://example.com/x">out</a>')
    site.page("/a", b'<a href="/c">c</a><a href="/">home</a>')
    site.page("/b", b"<p>b</p>")
    site.page("/c", b"<p>c</p>")
    out, stage = crawl([site.base + "/", site.base + "/./"], tmp_path, max_depth=1, write_warc=True)
    rows = out.to_pylist()
    urls = [r["requested_url"] for r in rows]
    assert urls[:2] == [site.base + "/", site.base + "/./"]
    assert set(urls[2:]) == {site.base + "/a", site.base + "/b"}  # depth 1 only, same host only
    assert rows[1][D.REASON] == "crawl:duplicate_url" and rows[1][D.DUPLICATE_OF] == "s0"
    assert all(r["crawl_depth"] == 1 for r in rows[2:])
    assert len({r[D.ID] for r in rows}) == len(rows)
    assert len({r[D.ROW] for r in rows}) == len(rows) and all(r[D.PART] == 7 for r in rows)
    assert site.hits_of("/c") == []
    # every response went to a WARC file that our reader reads back
    warcs = list((tmp_path / "warc").glob("*.warc.gz"))
    docs = [d for w in warcs for d in read_warc(str(w), {})]
    assert sorted(d["url"] for d in docs) == sorted([site.base + "/", site.base + "/a", site.base + "/b"])
    assert all(d["content"] for d in docs)


def test_normalize_and_extract_links():
    assert normalize_url("HTTP://Example.COM:80/a/../b/./c?q=1#x") == "http://example.com/b/c?q=1"
    assert normalize_url("https://例子.中国/路径") == "https://xn--fsqu00a.xn--fiqs8s/%E8%B7%AF%E5%BE%84"
    assert normalize_url("not a url") is None
    links = extract_links(b'<base href="http://h/d/"><a href="x">1</a><a href="javascript:0">2</a><a href="x">3</a>', "http://h/")
    assert links == ["http://h/d/x"]


def test_robots_crawl_delay_raises_the_host_delay(site, tmp_path):
    site.routes["/robots.txt"] = lambda req: (200, {"Content-Type": "text/plain"}, b"User-agent: *\nCrawl-delay: 1\n")
    site.page("/x")
    site.page("/y")
    crawl([site.base + "/x", site.base + "/y"], tmp_path, min_delay_s=0.0, concurrency=2)
    starts = sorted(t for p, t in site.hits if p in ("/x", "/y"))
    assert starts[1] - starts[0] >= 0.9


class HeaderDripServer:
    """Answers each request with a status line and headers sent one byte every ``interval`` s, never ending them
    (``/robots.txt`` gets a plain 404 at once, so the dripping page itself is requested)."""

    def __init__(self, interval: float = 0.2):
        import socket

        self.interval = interval
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            request = conn.recv(65536)
            try:
                if request.startswith(b"GET /robots.txt "):
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                for byte in iter(lambda: b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 10_000, None):
                    for i in range(len(byte)):
                        if self.closed.is_set():
                            return
                        conn.sendall(byte[i : i + 1])
                        time.sleep(self.interval)
            except OSError:
                return

    def close(self):
        self.closed.set()
        self.sock.close()


@pytest.fixture
def header_drip():
    server = HeaderDripServer()
    yield server
    server.close()


def test_headers_dripping_one_byte_at_a_time_hit_the_total_limit(header_drip, tmp_path):
    import ray  # noqa: F401 - imported by the stage's setup; its import time is not the fetch's

    start = time.monotonic()
    out, _ = crawl([header_drip.base + "/page"], tmp_path, timeout_s=1.0, total_timeout_s=2.0, retries=0)
    elapsed = time.monotonic() - start
    row = out.to_pylist()[0]
    assert row[D.REASON] == "crawl:timeout"
    assert row[D.REASON_VALUE] == 2.0
    assert elapsed < 4.5, f"the fetch ran {elapsed:.1f} s with total_timeout_s=2"


def test_timeout_detail_names_the_limit_that_fired(site, header_drip, tmp_path):
    from jinglian.stages.crawl.fetch import Fetcher
    from jinglian.stages.crawl.politeness import HostGates
    from jinglian.stages.crawl.safety import AddressPolicy

    site.routes["/silent"] = lambda req: (time.sleep(2.5), (200, {"Content-Type": "text/html"}, PAGE))[1]
    fetcher = Fetcher(CrawlParams(timeout_s=1.0, total_timeout_s=8.0, retries=0, respect_robots=False),
                      AddressPolicy(False, ["127.0.0.1/32"]), HostGates(2, 0.0, lambda host, delay: 0.0))
    silent = fetcher.fetch(site.base + "/silent")
    assert (silent.reason, silent.value) == ("crawl:timeout", 1.0)
    assert silent.detail == "no data for 1.0 s (timeout_s, per read)"
    fetcher.config = CrawlParams(timeout_s=1.0, total_timeout_s=1.5, retries=0, respect_robots=False)
    dripping = fetcher.fetch(header_drip.base + "/page")
    assert (dripping.reason, dripping.value) == ("crawl:timeout", 1.5)
    assert dripping.detail == "the exchange (connect, request, headers, body) took longer than total_timeout_s=1.5 s"


def test_a_crawl_run_with_a_dripping_server_commits_every_seed(site, header_drip, tmp_path):
    from jinglian.pipeline.executor import RunOptions, run_job
    from jinglian.pipeline.job import load_job
    from tests.helpers import write_job

    site.page("/a")
    site.page("/b")
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{site.base}/a\n{header_drip.base}/stuck\n{site.base}/b\n")
    crawl_params = {"allow_networks": ["127.0.0.1/32"], "min_delay_s": 0.0, "timeout_s": 1.0, "total_timeout_s": 2.0, "retries": 0}
    job = load_job(write_job(tmp_path / "job.yaml", name="drip", output=str(tmp_path / "out"),
                             input=[{"path": str(seeds), "format": "urls"}], stages=[{"crawl": crawl_params}]))
    start = time.monotonic()
    stats = run_job(job, RunOptions(use_ray=False, quiet=True))
    assert time.monotonic() - start < 60
    assert (stats["totals"]["read"], stats["totals"]["kept"], stats["totals"]["rejected"]) == (3, 2, 1)
    rejected = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "out" / "rejected").glob("*.parquet"))])
    assert rejected["reason"].to_pylist() == ["crawl:timeout"]
