"""WARC / WET / ARC / HTML / URL-list readers on archives built here, plus an opt-in run over real ones."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import pytest

from jinglian.stages.ingest import READERS, ReadError, reader
from jinglian.stages.ingest.warc_write import response_record

HTML = "<html><head><meta charset='gbk'></head><body><p>你好，世界</p></body></html>".encode("gbk")


def warc_record(headers: dict, block: bytes, version: str = "WARC/1.0") -> bytes:
    head = [version] + [f"{k}: {v}" for k, v in headers.items()] + [f"Content-Length: {len(block)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def http_block(body: bytes, *headers: str) -> bytes:
    return ("\r\n".join(["HTTP/1.1 200 OK", *headers]) + "\r\n\r\n").encode() + body


def chunked(data: bytes, size: int = 7) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def records(path, fmt="warc"):
    items = list(reader(fmt)(str(path), {}))
    return [i for i in items if not isinstance(i, ReadError)], [i for i in items if isinstance(i, ReadError)]


def test_registered():
    for fmt in ("warc", "wet", "arc", "html", "urls"):
        assert fmt in READERS


def test_warc_response_fields_quirks_and_encodings(tmp_path):
    gz = zlib.compressobj(wbits=31)
    gz_body = gz.compress(HTML) + gz.flush()
    data = b"".join(
        [
            warc_record({"WARC-Type": "warcinfo"}, b"software: test\r\n"),
            warc_record({"WARC-Type": "request", "WARC-Target-URI": "http://a/"}, b"GET / HTTP/1.1\r\n\r\n"),
            warc_record(
                {"WARC-Type": "response", "WARC-Target-URI": "<http://dolma.example/p>", "WARC-Date": "2024-04-25T16:24:44Z", "WARC-Record-ID": "<urn:uuid:1>"},
                http_block(HTML, "Content-Type: text/html; charset=GBK"),
            ),
            warc_record(
                {"WARC-Type": "response", "WARC-Target-URI": "http://b/", "WARC-Record-ID": "<urn:uuid:2>"},
                http_block(chunked(gz_body), "Content-Type: text/html", "Transfer-Encoding: chunked", "Content-Encoding: gzip"),
            ),
            warc_record({"WARC-Type": "resource", "WARC-Target-URI": "file://log.txt", "Content-Type": "text/plain"}, b"log"),
        ]
    )
    path = tmp_path / "a.warc.gz"
    path.write_bytes(gzip.compress(data))
    docs, errors = records(path)
    assert errors == []
    assert [d["url"] for d in docs] == ["http://dolma.example/p", "http://b/", "file://log.txt"]  # <uri> quirk undone
    first = docs[0]
    assert first["content"] == HTML and first["id"] == "urn:uuid:1"
    assert (first["content_type"], first["charset"], first["fetch_time"], first["http_status"]) == ("text/html", "gbk", "2024-04-25T16:24:44Z", 200)
    assert docs[1]["content"] == HTML  # de-chunked and gunzipped
    assert docs[2]["content"] == b"log" and docs[2]["content_type"] == "text/plain"


def test_malformed_and_truncated_records_are_counted_and_reading_goes_on(tmp_path):
    good = lambda i: warc_record({"WARC-Type": "response", "WARC-Target-URI": f"http://x/{i}"}, http_block(b"<p>%d</p>" % i))
    bad_length = b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: many\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody\r\n\r\n"
    garbage = b"this is not a record\r\n"
    truncated = warc_record({"WARC-Type": "response", "WARC-Target-URI": "http://x/cut"}, http_block(b"x" * 100))[:-60]
    plain = tmp_path / "b.warc"  # not compressed
    plain.write_bytes(good(1) + bad_length + good(2) + garbage + good(3) + truncated)
    docs, errors = records(plain)
    assert [d["url"] for d in docs] == ["http://x/1", "http://x/2", "http://x/3"]
    messages = " | ".join(e.message for e in errors)
    assert "Content-Length" in messages and "stray" in messages and "truncated" in messages
    # per-record gzip members (Common Crawl layout) with the last member cut off
    members = b"".join(gzip.compress(good(i)) for i in range(3)) + gzip.compress(good(9))[:30]
    cut = tmp_path / "c.warc.gz"
    cut.write_bytes(members)
    docs, errors = records(cut)
    assert [d["url"] for d in docs] == ["http://x/0", "http://x/1", "http://x/2"]
    assert errors and "cut off" in errors[-1].message  # the partial 4th record may be reported too


def test_reads_back_what_the_crawler_writes(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(
        response_record("http://c/1", 200, {"content-type": "text/html; charset=big5", "content-encoding": "gzip"}, HTML)
        + response_record("http://c/2", 404, {"content-type": "text/html"}, b"missing")
    )
    docs, errors = records(path)
    assert errors == [] and [d["url"] for d in docs] == ["http://c/1", "http://c/2"]
    assert docs[0]["content"] == HTML and docs[0]["charset"] == "big5"  # stored decoded: no content-encoding kept
    assert docs[1]["http_status"] == 404


def test_wet_conversion_records(tmp_path):
    text = "中文段落。\nSecond line."
    data = warc_record({"WARC-Type": "warcinfo"}, b"x: y\r\n") + warc_record(
        {"WARC-Type": "conversion", "WARC-Target-URI": "http://w/", "WARC-Identified-Content-Language": "zho"},
        text.encode(),
    )
    path = tmp_path / "a.warc.wet.gz"
    path.write_bytes(gzip.compress(data))
    docs, errors = records(path, "wet")
    assert errors == [] and len(docs) == 1
    assert docs[0]["text"] == text and docs[0]["url"] == "http://w/"
    assert docs[0]["warc_identified_content_language"] == "zho"


def test_arc_v1(tmp_path):
    desc = b"1 1 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    resp = http_block(HTML, "Content-Type: text/html; charset=gb2312")
    data = (
        b"filedesc://t.arc 0.0.0.0 20080430204825 text/plain %d\n" % len(desc) + desc + b"\n"
        + b"dns:h 1.2.3.4 20080430204825 text/dns 7\n1.2.3.4\n"
        + b"http://h/page 1.2.3.4 20080430204826 text/html %d\n" % len(resp) + resp + b"\n"
        + b"http://h/bad 1.2.3.4 20080430204826 text/html notanumber\n"
        + b"http://h/img 1.2.3.4 20080430204827 image/png 4\n\x89PNG\n"
        + b"http://h/cut 1.2.3.4 20080430204827 text/html 500\nshort"
    )
    path = tmp_path / "t.arc.gz"
    path.write_bytes(gzip.compress(data))
    docs, errors = records(path, "arc")
    assert [d["url"] for d in docs] == ["http://h/page", "http://h/img"]
    assert docs[0]["content"] == HTML and docs[0]["charset"] == "gb2312"
    assert docs[0]["fetch_time"] == "2008-04-30T20:48:26Z"
    assert docs[1]["content_type"] == "image/png" and docs[1]["content"] == b"\x89PNG"
    assert len(errors) == 2 and "truncated" in errors[1].message


def test_html_directory_and_glob(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.html").write_bytes(HTML)
    (tmp_path / "sub" / "b.html.gz").write_bytes(gzip.compress(HTML))
    (tmp_path / "sub" / "c.html.gz").write_bytes(b"not gzip")
    (tmp_path / "notes.txt").write_text("ignored")
    items = list(reader("html")(str(tmp_path), {"base_url": "http://site"}))
    docs = [i for i in items if not isinstance(i, ReadError)]
    assert [d["file_name"] for d in docs] == ["a.html", "b.html.gz"]
    assert all(d["content"] == HTML for d in docs)
    assert docs[1]["url"] == "http://site/b.html"
    assert len(items) - len(docs) == 1
    globbed = [i for i in reader("html")(str(tmp_path / "*.html"), {})]
    assert [d["file_name"] for d in globbed] == ["a.html"]


def test_urls_reader(tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_text("# seeds\nhttp://a/\n\n  https://b/x#frag  \nnot a url\n")
    docs = list(reader("urls")(str(path), {}))
    assert docs == [{"url": "http://a/", "text": ""}, {"url": "https://b/x#frag", "text": ""}, {"url": "not a url", "text": ""}]


def _bench_warc_dir() -> Path:
    root = Path(os.environ.get("JINGLIAN_BENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "bench-data"))
    return root / "warc"


@pytest.mark.skipif(not _bench_warc_dir().is_dir(), reason="bench data not available")
def test_real_archives_read_without_crashing(capsys):
    counts = {}
    for path in sorted(_bench_warc_dir().iterdir()):
        fmt = "arc" if ".arc" in path.name else "wet" if ".wet" in path.name else "warc"
        docs, errors = records(path, fmt)
        counts[path.name] = (len(docs), len(errors))
        assert docs, path.name
        assert all(d.get("url") and (d.get("content") is not None or d.get("text")) for d in docs)
        assert not any(d["url"].startswith("<") for d in docs)
    with capsys.disabled():
        print()
        for name, (n, e) in counts.items():
            print(f"  {name}: {n} documents, {e} malformed")
    assert counts["resiliparse-CC-MAIN-2020-34-sample.warc.gz"][0] == 16  # the README's 16 responses


def five_records(lie: str) -> list[bytes]:
    """Five response records; the second one's Content-Length lies as ``lie`` says."""
    out = []
    for i in range(1, 6):
        block = http_block(b"<html><body><p>page %d</p></body></html>" % i, "Content-Type: text/html")
        out.append(warc_record({"WARC-Type": "response", "WARC-Target-URI": f"http://x/{i}", "WARC-Record-ID": f"<urn:uuid:{i}>"}, block))
    block = out[1][out[1].index(b"\r\n\r\n") + 4 : -4]
    claim = {"long_1e6": len(block) + 1_000_000, "huge_1e12": 10**12, "short": len(block) - 20,
             "covers_next": len(block) + 4 + len(out[2]) - 4, "into_next_header": len(block) + 30}[lie]
    out[1] = out[1].replace(b"Content-Length: %d\r\n" % len(block), b"Content-Length: %d\r\n" % claim)
    return out


@pytest.mark.parametrize("lie", ["long_1e6", "huge_1e12", "short", "covers_next", "into_next_header"])
@pytest.mark.parametrize("layout", ["plain", "gzip member per record", "one gzip stream"])
def test_a_lying_content_length_fails_its_record_and_reading_resumes_at_the_next(tmp_path, lie, layout):
    parts = five_records(lie)
    path = tmp_path / ("a.warc" if layout == "plain" else "a.warc.gz")
    data = {"plain": lambda: b"".join(parts), "gzip member per record": lambda: b"".join(gzip.compress(p) for p in parts),
            "one gzip stream": lambda: gzip.compress(b"".join(parts))}[layout]()
    path.write_bytes(data)
    items = list(reader("warc")(str(path), {}))
    assert len(items) == 5, items  # one item per record: nothing merged, nothing lost, nothing counted twice
    assert [d["url"] for d in items if not isinstance(d, ReadError)] == ["http://x/1", "http://x/3", "http://x/4", "http://x/5"]
    assert [d["content"] for d in items if not isinstance(d, ReadError)] == [
        b"<html><body><p>page %d</p></body></html>" % i for i in (1, 3, 4, 5)]
    error = items[1]
    assert isinstance(error, ReadError) and error.url == "http://x/2"
    assert error.message.startswith("record 2: Content-Length "), error.message
    assert "reading resumes at the next record" in error.message


def test_a_warc_file_archived_inside_a_record_is_not_split(tmp_path):
    inner = b"".join(five_records("short")[i] for i in (0, 2))
    outer = [warc_record({"WARC-Type": "resource", "WARC-Target-URI": "file://inner.warc", "Content-Type": "application/warc"},
                         b"\r\n\r\n" + inner),
             warc_record({"WARC-Type": "response", "WARC-Target-URI": "http://x/warc"},
                         http_block(inner, "Content-Type: application/warc")),
             warc_record({"WARC-Type": "response", "WARC-Target-URI": "http://x/article"},  # a page quoting a record
                         http_block(b"<pre>\r\n\r\nWARC/1.0\r\nno real headers here\r\n</pre>", "Content-Type: text/html"))]
    path = tmp_path / "outer.warc"
    path.write_bytes(b"".join(outer))
    docs, errors = records(path)
    assert errors == [] and [d["url"] for d in docs] == ["file://inner.warc", "http://x/warc", "http://x/article"]
    assert docs[1]["content"] == inner


def five_arc_records(lie: str) -> list[bytes]:
    desc = b"1 1 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    out = [b"filedesc://t.arc 0.0.0.0 20080430204825 text/plain %d\n" % len(desc) + desc + b"\n"]
    for i in range(1, 6):
        resp = http_block(b"<p>page %d</p>" % i, "Content-Type: text/html")
        length = len(resp)
        if i == 2:
            length = {"long_1e6": length + 1_000_000, "huge_1e12": 10**12, "short": length - 5,
                      "covers_next": length + 1 + len(out[-1])}[lie] if lie != "covers_next" else length
        out.append(b"http://h/%d 1.2.3.4 2008043020482%d text/html %d\n" % (i, i, length) + resp + b"\n")
    if lie == "covers_next":  # record 2 claims its own bytes, the newline and all of record 3
        head, _, rest = out[2].partition(b"\n")
        out[2] = head.rsplit(b" ", 1)[0] + b" %d\n" % (len(rest) + len(out[3]) - 1) + rest
    return out


@pytest.mark.parametrize("lie", ["long_1e6", "huge_1e12", "short", "covers_next"])
@pytest.mark.parametrize("compressed", [False, True])
def test_arc_lying_length_fails_its_record_and_reading_resumes(tmp_path, lie, compressed):
    parts = five_arc_records(lie)
    path = tmp_path / ("t.arc.gz" if compressed else "t.arc")
    path.write_bytes(b"".join(gzip.compress(p) for p in parts) if compressed else b"".join(parts))
    items = list(reader("arc")(str(path), {}))
    assert len(items) == 5, items
    assert [d["url"] for d in items if not isinstance(d, ReadError)] == ["http://h/1", "http://h/3", "http://h/4", "http://h/5"]
    assert [d["content"] for d in items if not isinstance(d, ReadError)] == [b"<p>page %d</p>" % i for i in (1, 3, 4, 5)]
    assert isinstance(items[1], ReadError) and items[1].url == "http://h/2"
    assert items[1].message.startswith("record 3: length ") and "reading resumes at the next record" in items[1].message


def test_a_damaged_gzip_member_costs_its_record_and_the_members_after_it_are_read(tmp_path):
    members = [gzip.compress(p) for p in five_records("short")]
    members[1] = gzip.compress(warc_record({"WARC-Type": "response", "WARC-Target-URI": "http://x/2"},
                                           http_block(bytes(range(256)) * 64)))  # incompressible: damage lands in data
    damaged = bytearray(members[1])
    damaged[len(damaged) // 2 : len(damaged) // 2 + 16] = b"\x00" * 16
    members[1] = bytes(damaged)
    path = tmp_path / "d.warc.gz"
    path.write_bytes(b"".join(members))
    docs, errors = records(path)
    assert [d["url"] for d in docs] == ["http://x/1", "http://x/3", "http://x/4", "http://x/5"]
    # the damage is found at the member's CRC check, so none of the damaged record was decoded: one error in all
    assert [e.message for e in errors] == ["corrupt gzip data (Error -3 while decompressing data: incorrect data check): "
                                           f"{len(members[1])} bytes skipped to the next gzip member"]


def test_archive_named_zst_that_is_not_zstd_is_one_error_naming_it(tmp_path):
    path = tmp_path / "fake.warc.zst"
    path.write_bytes(five_records("short")[0])
    for fmt in ("warc", "wet", "arc"):
        items = list(reader(fmt)(str(path), {}))
        assert len(items) == 1 and isinstance(items[0], ReadError), fmt
        assert items[0].message.startswith("fake.warc.zst: unreadable from here on: ZstdError"), items[0].message
