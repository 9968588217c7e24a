"""The core readers stream records and turn bad input into counted errors."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from jinglian.stages.ingest import ReadError, reader


def read_all(fmt, path, **options):
    return list(reader(fmt)(str(path), options))


def test_jsonl_plain_gzip_zstd_and_custom_fields(tmp_path):
    lines = [json.dumps({"body": f"文{i}", "doc": f"k{i}", "x": i}) for i in range(3)]
    data = ("\n".join(lines) + "\n\n").encode()
    (tmp_path / "a.jsonl").write_bytes(data)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    for name in ("a.jsonl", "a.jsonl.gz", "a.jsonl.zst"):
        records = read_all("jsonl", tmp_path / name, text_field="body")
        assert records == [{"text": f"文{i}", "doc": f"k{i}", "x": i} for i in range(3)], name


def test_jsonl_bad_lines_are_errors_and_reading_goes_on(tmp_path):
    (tmp_path / "b.jsonl").write_text('{"text": "a"}\nnope\n"str"\n{"text": 5}\n{"text": "b"}\n')
    records = read_all("jsonl", tmp_path / "b.jsonl")
    assert [r["text"] for r in records if isinstance(r, dict)] == ["a", "b"]
    errors = [r.message for r in records if isinstance(r, ReadError)]
    assert errors[0].startswith("line 2: not JSON") and "got str" in errors[1] and "not a string" in errors[2]


def test_parquet_reader_streams_rows_and_reports_missing_column(tmp_path):
    pq.write_table(pa.table({"content": ["一", "二", None], "id": ["a", "b", "c"]}), tmp_path / "p.parquet")
    records = read_all("parquet", tmp_path / "p.parquet", text_field="content")
    assert [r["text"] for r in records[:2]] == ["一", "二"] and records[0]["id"] == "a"
    assert isinstance(records[2], ReadError)
    missing = read_all("parquet", tmp_path / "p.parquet")
    assert len(missing) == 1 and "no column 'text'" in missing[0].message
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    assert "not a readable Parquet file" in read_all("parquet", tmp_path / "junk.parquet")[0].message


def test_text_reader_decodes_or_refuses(tmp_path):
    (tmp_path / "t.txt").write_text("整篇文章。\n第二段。", encoding="utf-8")
    assert read_all("text", tmp_path / "t.txt") == [{"text": "整篇文章。\n第二段。"}]
    (tmp_path / "g.txt").write_bytes("简体中文".encode("gbk"))
    assert "not utf-8" in read_all("text", tmp_path / "g.txt")[0].message
    assert read_all("text", tmp_path / "g.txt", encoding="gbk") == [{"text": "简体中文"}]
    assert "larger than max_bytes=3" in read_all("text", tmp_path / "t.txt", max_bytes=3)[0].message


def test_jsonl_huge_line_is_skipped_without_holding_it(tmp_path):
    big = json.dumps({"text": "长" * 400_000})
    (tmp_path / "h.jsonl").write_text('{"text": "before"}\n' + big + '\n{"text": "after"}', encoding="utf-8")
    records = read_all("jsonl", tmp_path / "h.jsonl", max_line_bytes=100_000)
    assert records[0] == {"text": "before"} and records[2] == {"text": "after"}
    assert isinstance(records[1], ReadError) and f"{len(big.encode())} bytes" in records[1].message
    assert read_all("jsonl", tmp_path / "h.jsonl")[1]["text"] == "长" * 400_000


DEEP_LINE = '{"id": "deep", "text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
SURROGATE_LINE = '{"id": "s", "text": "abc\\ud800def"}'  # a JSON escape of a lone surrogate: valid JSON, not Unicode


def test_jsonl_deeply_nested_line_is_one_error_and_reading_goes_on(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n' + DEEP_LINE + '\n{"text": "b"}\n')
    records = read_all("jsonl", tmp_path / "d.jsonl")
    assert [r["text"] for r in records if isinstance(r, dict)] == ["a", "b"]
    assert isinstance(records[1], ReadError) and records[1].message.startswith("line 2: JSON nested too deeply")


def test_not_zstd_file_is_one_error_naming_it(tmp_path):
    (tmp_path / "fake.jsonl.zst").write_bytes(b'{"text": "plain, not zstd"}\n' * 10)
    records = read_all("jsonl", tmp_path / "fake.jsonl.zst")
    assert len(records) == 1 and isinstance(records[0], ReadError)
    assert "fake.jsonl.zst" in records[0].message and "zstd" in records[0].message.lower()
    (tmp_path / "fake.txt.zst").write_bytes(b"plain text")
    records = read_all("text", tmp_path / "fake.txt.zst")
    assert len(records) == 1 and isinstance(records[0], ReadError) and "fake.txt.zst" in records[0].message
    (tmp_path / "seeds.txt.zst").write_bytes(b"http://a/\n")
    records = read_all("urls", tmp_path / "seeds.txt.zst")
    assert len(records) == 1 and isinstance(records[0], ReadError) and "seeds.txt.zst" in records[0].message


def test_unreadable_file_is_one_error(tmp_path):
    missing = read_all("jsonl", tmp_path / "missing.jsonl")
    assert len(missing) == 1 and isinstance(missing[0], ReadError) and "missing.jsonl" in missing[0].message
    (tmp_path / "dir.jsonl").mkdir()
    assert [type(r) for r in read_all("jsonl", tmp_path / "dir.jsonl")] == [ReadError]
    assert [type(r) for r in read_all("text", tmp_path / "dir.jsonl")] == [ReadError]
    assert [type(r) for r in read_all("warc", tmp_path / "dir.jsonl")] == [ReadError]


def exploding_reader(path, options):
    """A reader (registered by the test below) with a plugin's bugs: an item that is not a record, then a raise."""
    yield {"text": "one"}
    yield ("not", "a", "dict")
    yield {"text": "two"}
    raise RuntimeError("reader bug")


def input_rows(path, fmt="jsonl", **options) -> list[dict]:
    from jinglian.pipeline.partition import PartitionTask, read_input_batches

    task = PartitionTask(part=0, source_path=str(path), input_format=fmt, input_source="t", input_options=options)
    tables = list(read_input_batches(task, batch_size=3))
    return [row for t in tables for row in t.to_pylist()]


def test_records_arrow_cannot_hold_fail_alone_and_the_rest_is_converted(tmp_path):
    lines = ['{"id": "a", "text": "first"}', DEEP_LINE, SURROGATE_LINE,
             '{"id": "m", "text": "meta", "title": "x\\udfffy"}', '{"id": "i\\ud800", "text": "bad id"}',
             '{"id": "b", "text": "last"}']
    (tmp_path / "h.jsonl").write_text("\n".join(lines) + "\n")
    rows = input_rows(tmp_path / "h.jsonl")
    assert [r["record"] for r in rows] == list(range(6))
    assert [r["text"] for r in rows if r["error"] is None] == ["first", "last"]
    errors = {r["id"]: r["error"] for r in rows if r["error"]}
    assert errors.pop(rows[1]["id"]).startswith("read: line 2: JSON nested too deeply")
    assert errors["s"] == "read: field 'text' is not valid Unicode (lone surrogate U+D800 at character 3)"
    assert errors["m"] == "read: field 'title' is not valid Unicode (lone surrogate U+DFFF at character 1)"
    bad_id = [e for k, e in errors.items() if k not in ("s", "m")]
    assert bad_id == ["read: field 'id' is not valid Unicode (lone surrogate U+D800 at character 1)"]


def test_a_reader_that_raises_ends_its_file_as_one_failed_entry(tmp_path, monkeypatch):
    from jinglian.stages import ingest

    monkeypatch.setitem(ingest.READERS, "exploding", "tests.test_readers:exploding_reader")
    (tmp_path / "x.data").write_text("anything")
    rows = input_rows(tmp_path / "x.data", fmt="exploding")
    assert [r["text"] for r in rows] == ["one", "", "two", ""]
    assert rows[1]["error"].startswith("read: record not convertible: ValueError")
    assert rows[3]["error"] == "read: x.data: reader failed, rest of the file not read: RuntimeError: reader bug"
    assert len({r["id"] for r in rows}) == 4


def test_parquet_damaged_row_group_costs_only_itself(tmp_path):
    path = tmp_path / "p.parquet"
    table = pa.table({"text": [f"文本{i}" * 50 for i in range(300)], "id": [str(i) for i in range(300)]})
    pq.write_table(table, path, row_group_size=100, compression="zstd")
    offset = pq.ParquetFile(path).metadata.row_group(1).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 8] = b"\xff" * 8  # the page header of the middle group's text column
    path.write_bytes(bytes(data))
    records = read_all("parquet", path)
    assert [r["id"] for r in records if isinstance(r, dict)] == [str(i) for i in range(100)] + [str(i) for i in range(200, 300)]
    errors = [r.message for r in records if isinstance(r, ReadError)]
    assert len(errors) == 1 and errors[0].startswith("p.parquet: row group 1 (100 rows, the rest of the group not read) unreadable")


def test_file_names_that_are_not_utf8_do_not_fail_their_documents(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / os.fsdecode(b"\xff\xfe.html")).write_bytes(b"<html><body><p>hello</p></body></html>")
    text_file = tmp_path / os.fsdecode(b"\xff.txt")
    text_file.write_bytes("正文".encode())
    html_rows = input_rows(pages, fmt="html")
    assert [(r["error"], json.loads(r["metadata"])["file_name"]) for r in html_rows] == [(None, "\\xff\\xfe.html")]
    text_rows = input_rows(text_file, fmt="text")
    assert [(r["error"], r["text"]) for r in text_rows] == [(None, "正文")]
    assert text_rows[0]["input_file"].endswith("\\xff.txt")  # shown escaped; Arrow needs valid UTF-8
