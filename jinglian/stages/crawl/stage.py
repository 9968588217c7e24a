"""``crawl`` stage: fetch the page of every row's ``url``; optionally follow links.

Rows come from the ``urls`` reader (``url``, empty ``text``). Each fetched page
fills ``content`` (decoded body bytes), ``content_type``, ``charset``,
``http_status``, ``fetch_time``, ``headers`` and ``url`` (after redirects; the
seed is kept in ``requested_url``), ready for the ``extract`` stage. A fetch
that fails is rejected with its reason (``crawl:robots_disallowed``,
``crawl:http_404``, ``crawl:too_large``, ``crawl:timeout``, ...), so every seed
is accounted for.

With ``max_depth > 0`` the links of fetched HTML pages are followed breadth
first, within ``follow_domains`` (default: the seeds' hosts); each discovered
page is appended as a new row. URLs are normalised and fetched once per run,
whichever worker reaches them first: every worker claims its URLs from the
run-wide frontier (:mod:`~jinglian.stages.crawl.frontier`, which also spaces
requests to a host across workers), and a seed or link another row already
owns is rejected as ``crawl:duplicate_url`` with ``duplicate_of`` naming that
row's id. Links this worker has already handled are not appended again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage
from jinglian.stages.crawl.fetch import Fetcher, FetchResult
from jinglian.stages.crawl.frontier import NO_PART, Frontier, write_journal
from jinglian.stages.crawl.params import CrawlParams
from jinglian.stages.crawl.politeness import HostGates
from jinglian.stages.crawl.safety import AddressPolicy
from jinglian.stages.crawl.urls import extract_links, normalize_url
from jinglian.stages.ingest.warc_http import mime_and_charset
from jinglian.stages.ingest.warc_write import WarcWriter, response_record

HTML_TYPES = ("text/html", "application/xhtml+xml")


def _doc_id(url: str) -> str:
    return hashlib.blake2b(url.encode(), digest_size=10).hexdigest()


def _in_domains(url: str, domains: set[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in domains)


class CrawlStage(Stage):
    name = "crawl"
    Params = CrawlParams
    num_cpus = 0.5  # mostly waiting on the network

    def setup(self) -> None:
        p = self.params
        policy = AddressPolicy(p.allow_private, p.allow_networks)
        self.frontier = self.context.shared("frontier", functools.partial(Frontier, os.path.abspath(self.context.work_dir)))
        self.fetcher = Fetcher(p, policy, HostGates(p.per_host_concurrency, p.min_delay_s, self.frontier.reserve))
        self._attempt = uuid.uuid4().hex  # this worker's claims; a partition redone elsewhere takes them over
        self._known: dict[str, tuple[int | None, str]] = {}  # URL -> (part if this worker owns it, owner row id)
        self._owned: dict[int, dict[str, str]] = {}  # part -> {URL: row id} owned, journaled when the part is done
        self._fetched = 0
        self._appended: dict[int, int] = {}  # partition -> rows appended so far (for their row keys)
        self._warc = None
        self._warc_lock = threading.Lock()

    # -- WARC output --------------------------------------------------------------------------
    def _write_warc(self, result: FetchResult) -> None:
        with self._warc_lock:
            if self._warc is None:
                directory = os.path.join(self.context.output_dir, "warc")
                os.makedirs(directory, exist_ok=True)
                self._warc = WarcWriter(os.path.join(directory, f"crawl-{os.getpid()}-{uuid.uuid4().hex[:8]}.warc.gz"))
            self._warc.write(response_record(result.url, result.status, result.headers, result.body, result.fetch_time, result.ip))
            self.count("warc_records")

    def _fetch(self, url: str) -> FetchResult:
        result = self.fetcher.fetch(url)
        if self.params.write_warc and result.status is not None and result.reason != "crawl:too_large":
            self._write_warc(result)
        return result

    # -- the batch ----------------------------------------------------------------------------
    def process(self, batch: pa.Table) -> pa.Table:
        n = len(batch)
        seeds = batch["url"].to_pylist() if "url" in batch.column_names else [None] * n
        ids = batch[D.ID].to_pylist()
        parts = batch[D.PART].to_pylist() if D.PART in batch.column_names else [None] * n
        domains = {d.lower() for d in self.params.follow_domains} or {
            (urlsplit(u).hostname or "").lower() for u in map(normalize_url, filter(None, seeds)) if u
        }
        # one entry per output row; appended rows (followed links) carry their seed's index as parent
        rows: list[dict] = [
            {"url": u, "depth": 0, "parent": i, "id": ids[i], "part": NO_PART if parts[i] is None else parts[i]}
            for i, u in enumerate(seeds)
        ]
        level = list(range(n))
        results: dict[int, FetchResult | str] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.params.concurrency)) as pool:
            while level:
                to_fetch = self._claim(rows, level, results)
                for (r, _), result in zip(to_fetch, pool.map(lambda item: self._fetch(item[1]), to_fetch)):
                    results[r] = result
                    self.count("fetched")
                level = self._follow(rows, [r for r, _ in to_fetch], results, domains)
        return self._table(batch, rows, results)

    def _claim(self, rows: list[dict], level: list[int], results: dict) -> list[tuple[int, str]]:
        """Settle every row of ``level`` that must not be fetched; claim the rest in one frontier call.

        Returns ``(row index, normalised URL)`` of the rows this worker fetches;
        a row whose URL another row owns gets that row's id as its result.
        """
        asks: list[tuple[int, str]] = []
        asked: dict[str, list[int]] = {}  # URL -> the row of this level asking for it, then rows with the same URL
        for r in level:
            row = rows[r]
            url = normalize_url(row["url"] or "")
            known = self._known.get(url) if url else None
            if url is None:
                results[r] = FetchResult(url=row["url"] or "", reason="crawl:bad_url")
            elif known is not None and known != (row["part"], row["id"]):  # the same row again is a redo
                results[r] = known[1]
            elif url in asked:
                asked[url].append(r)
            elif self._fetched + len(asks) >= self.params.max_pages:  # unclaimed: another worker may still fetch it
                results[r] = FetchResult(url=url, reason="crawl:max_pages", value=float(self.params.max_pages))
            else:
                asked[url] = [r]
                asks.append((r, url))
        owners = self.frontier.claim(self._attempt, [(url, rows[r]["part"], rows[r]["id"]) for r, url in asks]) if asks else []
        to_fetch = []
        for (r, url), owner in zip(asks, owners):
            row = rows[r]
            if owner is None:
                self._known[url] = (row["part"], row["id"])
                self._owned.setdefault(row["part"], {})[url] = row["id"]
                self._fetched += 1
                to_fetch.append((r, url))
            else:
                self._known[url] = (None, owner)
                results[r] = owner
                self.count("claimed_elsewhere")
                if row["depth"]:  # a followed link's id is its URL's: this row must not take the owner's
                    row["id"] = _doc_id(f"{url}\0{row['part']}")
            for follower in asked[url][1:]:
                results[follower] = owner or row["id"]
        return to_fetch

    def _follow(self, rows: list[dict], fetched: list[int], results: dict, domains: set[str]) -> list[int]:
        """Append rows for the links of the pages just fetched; returns their indices."""
        new = []
        queued: set[str] = set()
        for r in fetched:
            result = results[r]
            if rows[r]["depth"] >= self.params.max_depth or result.reason or not result.body:
                continue
            mime, _ = mime_and_charset(result.headers.get("content-type"))
            if mime not in HTML_TYPES:
                continue
            for link in extract_links(result.body, result.url):
                if link in self._known or link in queued or not _in_domains(link, domains):
                    continue
                queued.add(link)
                rows.append({"url": link, "depth": rows[r]["depth"] + 1, "parent": rows[r]["parent"], "id": _doc_id(link), "part": rows[r]["part"]})
                new.append(len(rows) - 1)
                self.count("followed_links")
        return new

    def _appended_row_keys(self, parts: list) -> list:
        """Unique row keys for appended rows: above the 2**31 row numbers a reader can give a partition."""
        keys = []
        for part in parts:
            if part is None:
                keys.append(None)
                continue
            k = self._appended.get(part, 0)
            self._appended[part] = k + 1
            keys.append(D.row_key(part, (1 << 31) + k))
        return keys

    def _table(self, batch: pa.Table, rows: list[dict], results: dict) -> pa.Table:
        n = len(batch)
        extra = rows[n:]
        if extra:
            parents = batch.take(pa.array([row["parent"] for row in extra]))
            added = {}
            for name in batch.column_names:
                if name == D.ID:
                    added[name] = pa.array([row["id"] for row in extra], batch.schema.field(name).type)
                elif name == D.TEXT:
                    added[name] = pa.array([""] * len(extra), batch.schema.field(name).type)
                elif name in (D.SOURCE, D.INPUT_FILE, D.PART):
                    added[name] = parents[name]  # a followed page comes from its seed's input
                elif name == D.ROW and D.PART in batch.column_names:
                    added[name] = pa.array(self._appended_row_keys(parents[D.PART].to_pylist()), batch.schema.field(name).type)
                else:
                    added[name] = pa.nulls(len(extra), batch.schema.field(name).type)
            batch = pa.concat_tables([batch, pa.table(added, schema=batch.schema)])
        columns: dict[str, list] = {k: [] for k in ("requested_url", "url", "content", "content_type", "charset", "http_status", "fetch_time", "headers", "crawl_depth")}
        reasons, values, duplicate_of = [], [], []
        for r, row in enumerate(rows):
            result = results[r]
            columns["requested_url"].append(row["url"])
            columns["crawl_depth"].append(row["depth"])
            if isinstance(result, str):  # already fetched by the row with this id
                for k in ("url", "content", "content_type", "charset", "http_status", "fetch_time", "headers"):
                    columns[k].append(row["url"] if k == "url" else None)
                reasons.append("crawl:duplicate_url")
                values.append(np.nan)
                duplicate_of.append(result)
                continue
            mime, charset = mime_and_charset(result.headers.get("content-type"))
            ok = result.reason is None
            columns["url"].append(result.url)
            columns["content"].append(result.body if ok else None)
            columns["content_type"].append(mime)
            columns["charset"].append(charset)
            columns["http_status"].append(result.status)
            columns["fetch_time"].append(result.fetch_time.strftime("%Y-%m-%dT%H:%M:%SZ") if result.fetch_time else None)
            columns["headers"].append(json.dumps(result.headers, ensure_ascii=False) if result.headers else None)
            reasons.append(result.reason)
            values.append(result.value if result.value is not None else np.nan)
            duplicate_of.append(None)
        types = {"content": pa.binary(), "http_status": pa.int32(), "crawl_depth": pa.int32()}
        out = batch
        for name, values_ in columns.items():
            out = D.set_column(out, name, pa.array(values_, types.get(name, pa.string())))
        out = D.with_verdict_columns(out)
        for reason in sorted({r for r in reasons if r}):
            mask = np.array([r == reason for r in reasons])
            dup = duplicate_of if reason == "crawl:duplicate_url" else None
            out = D.reject(out, mask, reason, values, duplicate_of=dup)
        return out

    def partition_done(self, part: int) -> None:
        """Journal the URLs this partition owns: a resumed run's frontier starts from the journals."""
        owned = self._owned.pop(part, None)
        if owned:
            write_journal(self.context.work_dir, part, owned)

    def counters(self) -> dict:
        return {"fetched": 0, "followed_links": 0, "warc_records": 0, "claimed_elsewhere": 0}
