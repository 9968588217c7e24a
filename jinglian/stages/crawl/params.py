"""The crawl stage's parameters: what the job file sets, read by the stage and its fetcher alike."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CrawlParams:
    user_agent: str = "jinglian-crawler/0.1"  # sent with every request and matched against robots.txt
    concurrency: int = 8  # fetching threads per worker
    per_host_concurrency: int = 2  # requests in flight to one host, per worker
    min_delay_s: float = 1.0  # between request starts to one host, run-wide (robots.txt Crawl-delay can raise it)
    timeout_s: float = 10.0  # connect / per-read socket timeout
    total_timeout_s: float = 30.0  # a whole response must arrive within this
    retries: int = 2  # extra attempts after a 429 or 5xx
    backoff_s: float = 1.0  # first retry wait (doubles each time) when there is no Retry-After
    max_retry_wait_s: float = 60.0  # cap on any single wait, Retry-After included
    max_redirects: int = 5  # longer chains are rejected as crawl:too_many_redirects
    max_bytes: int = 5_000_000  # wire and decoded body limit; beyond: crawl:too_large
    content_types: list[str] = field(default_factory=lambda: ["text/html", "application/xhtml+xml", "text/plain"])  # others: crawl:content_type
    respect_robots: bool = True  # honour robots.txt (cached per host)
    allow_private: bool = False  # allow private, loopback and link-local addresses
    allow_networks: list[str] = field(default_factory=list)  # specific networks allowed anyway (e.g. 127.0.0.1/32)
    max_depth: int = 0  # link-following depth (0: fetch the seeds only)
    max_pages: int = 10_000  # pages fetched per worker, followed links included
    follow_domains: list[str] = field(default_factory=list)  # hosts links may lead to (and their subdomains); empty: the seeds' hosts
    write_warc: bool = False  # write every response to <output>/warc/*.warc.gz
