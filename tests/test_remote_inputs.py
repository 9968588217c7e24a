"""Inputs read where they live: an HTTP server with Range requests and an S3 server, both on 127.0.0.1.

The HTTP server serves WARC files and a Common Crawl style ``warc.paths.gz``; one connection drops
mid-file (the reader resumes by a range request) and one listed file is missing (404: one failed
entry). An S3-compatible moto server holds the same WARC files, read by ``s3://`` paths and globs.
Runs from either equal the run on the same files read locally, but for ``input_file``, which names
where each record came from.
"""

from __future__ import annotations

import gzip
import json
import os

import pyarrow.parquet as pq
import pytest

from jinglian.core import documents as D
from jinglian.core import filesystem
from jinglian.core.filesystem import RemoteReadError, check_storage_options, expand, open_input
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import JobError, load_job
from jinglian.stages.ingest import ReadError, reader
from jinglian.stages.ingest.sources import SourceError, read_paths_list
from jinglian.stages.ingest.warc_write import response_record
from tests.helpers import write_job
from tests.servers import FileHandler, serve_files

CRAWL = "crawl-data/CC-MAIN-2099-01/segments/1/warc"
PAGES = ["<html><body><article><p>{}</p><p>{}</p></article></body></html>".format(
    "第{}篇。精炼网页语料需要从对象存储直接读取，每个文件是一个分区，断线之后按字节范围续读。".format(i) * 4,
    " ".join(f"词{i * j % 997}" for j in range(300))) for i in range(12)]


def make_warc(pages: list[str], tag: str) -> bytes:
    return b"".join(response_record(f"https://{tag}.example/{i}", 200, {"Content-Type": "text/html; charset=utf-8"},
                                    page.encode()) for i, page in enumerate(pages))


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    """Three WARC files on disk, the paths list naming them and a missing one, as a server would hold them."""
    root = tmp_path_factory.mktemp("crawl")
    names = ["a.warc.gz", "b.warc.gz", "c.warc.gz"]
    files = {}
    for n, name in enumerate(names):
        data = make_warc(PAGES[n * 4 : n * 4 + 4], name[0])
        os.makedirs(root / CRAWL, exist_ok=True)
        (root / CRAWL / name).write_bytes(data)
        files[f"/{CRAWL}/{name}"] = data
    listed = [f"{CRAWL}/a.warc.gz", f"{CRAWL}/b.warc.gz", f"{CRAWL}/gone.warc.gz", "", f"{CRAWL}/c.warc.gz"]
    files["/crawl-data/CC-MAIN-2099-01/warc.paths.gz"] = gzip.compress("\n".join(listed).encode() + b"\n")
    return root, files


def outputs(directory) -> dict[str, list]:
    """Each output part file's rows, with ``input_file`` cut to the file name (it names where it was read from)."""
    out = {}
    for sub in ("docs", "rejected", "errors"):
        for name in sorted(os.listdir(os.path.join(directory, sub))):
            table = pq.read_table(os.path.join(directory, sub, name))
            rows = table.to_pylist()
            for row in rows:
                row[D.INPUT_FILE] = os.path.basename(row[D.INPUT_FILE])
            out[f"{sub}/{name}"] = rows
    return out


def counts_per_file(directory) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rows in outputs(directory).values():
        for row in rows:
            counts[row[D.INPUT_FILE]] = counts.get(row[D.INPUT_FILE], 0) + 1
    return counts


def run(tmp_path, name, entry, use_ray=False):
    path = write_job(tmp_path / f"{name}.yaml", name=name, output=str(tmp_path / name), input=[entry],
                     stages=[{"extract": {}}])
    return run_job(load_job(path), RunOptions(use_ray=use_ray, quiet=True))


def test_paths_list_over_http_equals_local_run_despite_a_drop_and_a_404(tmp_path, crawl, ray_local):
    root, files = crawl
    local = run(tmp_path, "local", {"path": str(root / CRAWL / "[ab].warc.gz"), "format": "warc"}, use_ray=True)
    with serve_files(files, drop={f"/{CRAWL}/b.warc.gz"}) as server:
        remote = run(tmp_path, "http", {"paths_list": f"{server.url}/crawl-data/CC-MAIN-2099-01/warc.paths.gz",
                                        "prefix": server.url + "/", "limit": 3, "format": "warc"}, use_ray=True)
    b_reads = [r for r in server.requests if r[:2] == ("GET", f"/{CRAWL}/b.warc.gz")]
    assert len(b_reads) == 2 and b_reads[1][2] is not None  # the dropped read was asked again by range
    assert not any(r[1].endswith("c.warc.gz") for r in server.requests)  # limit: 3 listed files, c not among them
    t = remote["totals"]
    assert t["read"] == t["kept"] + t["rejected"] + t["failed"] and t["failed"] == 1
    assert remote["totals"]["read"] == local["totals"]["read"] + 1
    assert counts_per_file(tmp_path / "http") == {**counts_per_file(tmp_path / "local"), "gone.warc.gz": 1}
    remote_out, local_out = outputs(tmp_path / "http"), outputs(tmp_path / "local")
    assert remote_out.pop("docs/part-00002.parquet") == remote_out.pop("rejected/part-00002.parquet") == []
    (failed,) = remote_out.pop("errors/part-00002.parquet")
    assert "gone.warc.gz" in failed[D.ERROR] and "FileNotFoundError" in failed[D.ERROR]
    assert remote_out == local_out  # every row and column alike, input_file by its file name


def test_s3_glob_and_path_equal_local_run(tmp_path, crawl, s3_server, monkeypatch):
    root, files = crawl
    endpoint = s3_server.endpoint
    s3 = s3_server.client()
    s3.create_bucket(Bucket="crawls")
    for path, data in files.items():
        s3.put_object(Bucket="crawls", Key=path.lstrip("/"), Body=data)
    options = {"endpoint_url": endpoint}
    glob = f"s3://crawls/{CRAWL}/*.warc.gz"
    assert expand(glob, options) == [f"s3://crawls/{CRAWL}/{n}" for n in ("a.warc.gz", "b.warc.gz", "c.warc.gz")]
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # the standard variable works as well as the option
    assert expand(f"s3://crawls/{CRAWL}/a.warc.gz") == [f"s3://crawls/{CRAWL}/a.warc.gz"]
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    local = run(tmp_path, "local", {"path": str(root / CRAWL / "*.warc.gz"), "format": "warc"})
    remote = run(tmp_path, "s3", {"path": glob, "format": "warc", "storage_options": options})
    listed = run(tmp_path, "s3list", {"paths_list": "s3://crawls/crawl-data/CC-MAIN-2099-01/warc.paths.gz",
                                      "prefix": "s3://crawls/", "skip": 3, "format": "warc", "storage_options": options})
    assert remote["totals"] == local["totals"]
    assert outputs(tmp_path / "s3") == outputs(tmp_path / "local")
    assert counts_per_file(tmp_path / "s3list") == {"c.warc.gz": 4}  # skip 3 listed paths (blank lines not counted)
    assert listed["totals"]["failed"] == 0


def test_range_reader_streams_by_chunks_and_resumes_where_the_connection_broke(crawl):
    _, files = crawl
    path = f"/{CRAWL}/a.warc.gz"
    with serve_files(files, drop={path}) as server:
        with open_input(server.url + path, chunk_bytes=1000, retry_delays=(0.01,)) as stream:
            first = stream.read(10)
            early = sum(1 for r in server.requests if r[0] == "GET")  # the first chunk (twice) and one ahead
            data = first + stream.read()
    assert data == files[path]
    ranges = [r[2] for r in server.requests if r[0] == "GET"]
    assert ranges[0] == "bytes=0-999" and ranges.count("bytes=0-999") == 2  # the dropped chunk asked again
    assert len(ranges) == -(-len(data) // 1000) + 1 > early + 1  # streamed: most of the file came after


def test_a_file_that_keeps_breaking_fails_after_bounded_retries_with_records_before_kept(crawl, monkeypatch):
    _, files = crawl
    path = f"/{CRAWL}/a.warc.gz"
    monkeypatch.setattr(filesystem, "CHUNK_BYTES", len(files[path]) // 2 + 1)
    monkeypatch.setattr(filesystem, "RETRY_DELAYS_S", (0.01, 0.01))

    with serve_files(files) as server:
        server.broken[path] = 1  # every read of the second chunk breaks
        items = list(reader("warc")(server.url + path, {}))
        gets = [r[2] for r in server.requests if r[0] == "GET"]
    errors = [i for i in items if isinstance(i, ReadError)]
    assert len(errors) == 1 and "a.warc.gz" in errors[0].message and "after 3 tries" in errors[0].message
    assert 1 <= len(items) - 1 < 4  # the records of the first chunk are read
    assert len(gets) == 4 and len(set(gets[1:])) == 1  # the second chunk: one try and two retries, then no more
    with serve_files(files) as server:
        server.drop = {path}  # once only: the retry heals it
        items = list(reader("warc")(server.url + path, {}))
    assert not any(isinstance(i, ReadError) for i in items) and len(items) == 4


def test_paths_list_slices_and_errors(crawl):
    _, files = crawl
    with serve_files(files) as server:
        url = f"{server.url}/crawl-data/CC-MAIN-2099-01/warc.paths.gz"
        assert read_paths_list(url, "s3://commoncrawl/", skip=1, limit=2) == [
            f"s3://commoncrawl/{CRAWL}/b.warc.gz", f"s3://commoncrawl/{CRAWL}/gone.warc.gz"]
        assert read_paths_list(url)[-1] == f"{CRAWL}/c.warc.gz"
        with pytest.raises(SourceError, match="lists no file after skipping 9"):
            read_paths_list(url, skip=9)
        with pytest.raises(SourceError, match="cannot be read.*FileNotFoundError"):
            read_paths_list(f"{server.url}/missing.paths.gz")


def test_job_validation_of_remote_inputs(tmp_path, crawl):
    _, files = crawl

    def load(entry):
        return load_job(write_job(tmp_path / "j.yaml", name="j", output=str(tmp_path / "o"), input=[entry],
                                  stages=[{"extract": {}}]))

    with serve_files(files) as server:
        url = f"{server.url}/crawl-data/CC-MAIN-2099-01/warc.paths.gz"
        job = load({"paths_list": url, "prefix": server.url, "limit": 2, "format": "warc"})
        assert job.inputs[0].files() == [f"{server.url}/{CRAWL}/a.warc.gz", f"{server.url}/{CRAWL}/b.warc.gz"]
        with pytest.raises(JobError, match=r"input\[0\]: paths list .*missing.*cannot be read"):
            load({"paths_list": f"{server.url}/missing.gz", "format": "warc"})
    with pytest.raises(JobError, match="either 'path' or 'paths_list'"):
        load({"path": "x", "paths_list": "y", "format": "warc"})
    with pytest.raises(JobError, match=r"input\[0\].limit: only with 'paths_list'"):
        load({"path": "x", "limit": 3, "format": "warc"})
    with pytest.raises(JobError, match="storage_options.client_kwargs.aws_secret_access_key: credentials do not belong"):
        load({"path": "s3://b/x.warc.gz", "format": "warc",
              "storage_options": {"client_kwargs": {"aws_secret_access_key": "s"}}})
    check_storage_options({"endpoint_url": "http://x", "anon": True, "token": "anon", "requester_pays": True})
    with pytest.raises(ValueError, match="storage_options.secret"):
        check_storage_options({"secret": "x"})


def test_remote_reader_errors_are_oserrors_naming_the_file(crawl):
    _, files = crawl
    with serve_files(files) as server:
        with pytest.raises(FileNotFoundError):
            open_input(f"{server.url}/nothing.warc.gz")
    assert issubclass(RemoteReadError, OSError)


def test_a_server_error_is_asked_again_and_a_404_is_not(crawl, monkeypatch):
    _, files = crawl
    path = f"/{CRAWL}/a.warc.gz"
    monkeypatch.setattr(filesystem, "RETRY_DELAYS_S", (0.01, 0.01))
    with serve_files(files) as server:
        answers = iter([503, 503])  # the first two answers to anything: "slow down"
        original = FileHandler._serve

        def busy(self, send_body):
            status = next(answers, None)
            if status is None:
                return original(self, send_body)
            self.server.requests.append((self.command, self.path, self.headers.get("Range")))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        monkeypatch.setattr(FileHandler, "_serve", busy)
        with open_input(server.url + path) as stream:
            assert stream.read() == files[path]
        asked = len(server.requests)
        with pytest.raises(FileNotFoundError):
            open_input(f"{server.url}/nothing.warc.gz")
        assert len(server.requests) - asked <= 2  # HEAD, then GET (fsspec's fallback for a size): no retries


def test_jsonl_parquet_and_text_read_over_http_as_locally(tmp_path):
    import pyarrow as pa

    rows = [{"id": f"d{i}", "text": f"第{i}行：远程读取与本地读取相同。"} for i in range(50)]
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress("".join(
        json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet", row_group_size=16)
    (tmp_path / "a.txt").write_text("一篇文档。", encoding="utf-8")
    files = {f"/{name}": (tmp_path / name).read_bytes() for name in ("a.jsonl.gz", "a.parquet", "a.txt")}
    with serve_files(files) as server:
        for fmt, name in (("jsonl", "a.jsonl.gz"), ("parquet", "a.parquet"), ("text", "a.txt")):
            remote = list(reader(fmt)(f"{server.url}/{name}", {}))
            assert remote == list(reader(fmt)(str(tmp_path / name), {})) and remote
