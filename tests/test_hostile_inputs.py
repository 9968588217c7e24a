"""Hostile input corpus (issue 7): one job over broken files of every format finishes and accounts for everything.

Each hostile input is mapped to the classification observed for it (``errors/``
with the read error, or ``rejected/`` with the reason). Run with ``-s`` to see
the table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jinglian.core import documents as D
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import load_job
from tests.helpers import snapshot, write_job
from tests.hostile import HUGE_LINE_BYTES, build

# a generous per-page limit: on a loaded machine the 100,000-deep page may still run into it (see html_nested)
STAGES = [{"extract": {"timeout_s": 20.0}}, {"normalize": {}}, {"filter": {}}]

OVERRUN = (r"^read: record 2: Content-Length {length} runs past its record: the next record's WARC header starts \d+ bytes "
           r"into the claimed block; record failed, reading resumes at the next record$")
# hostile input -> the rows it becomes: (output directory, reason or a regex on the error; None for a kept row)
EXPECTED = {
    "jsonl_not_json": [("errors", r"^read: line 3: not JSON: Unterminated string")],
    "jsonl_control_only": [("rejected", "normalize:empty")],
    "jsonl_truncated_gzip": [("errors", r"^read: truncated.jsonl.gz: unreadable after line \d+: EOFError: Compressed file ended")],
    "jsonl_empty": [],
    "jsonl_nested_100k": [("errors", r"^read: line 2: JSON nested too deeply to parse")],
    "jsonl_lone_surrogate": [("errors", r"^read: field 'text' is not valid Unicode \(lone surrogate U\+D800 at character 3\)$")],
    "jsonl_not_zstd": [("errors", r"^read: not-zstd.jsonl.zst: unreadable after line 0: ZstdError: .*Unknown frame descriptor")],
    "jsonl_200mb_line": [("errors", rf"^read: line 2: {HUGE_LINE_BYTES // 1000 // 1000}\d{{6}} bytes, longer than max_line_bytes")],
    "warc_truncated_gzip": [("errors", r"^read: record 3: truncated \(\d+ of \d+ block bytes\)"),
                            ("errors", r"^read: unreadable from here on: gzip stream cut off")],
    "warc_random_bytes": [("errors", r"^read: corrupt gzip data \(.*incorrect header check\): the last 65536 bytes of the file skipped")],
    "warc_empty": [],
    "warc_damaged_gzip_member": [("errors", r"^read: corrupt gzip data \(.*incorrect data check\): \d+ bytes skipped to the next gzip member$")],
    # a lying Content-Length fails only its own record; the records after it are read
    "warc_length_short": [("errors", r"^read: record 2: Content-Length \d+ does not end the record .*reading resumes at the next record$")],
    "warc_length_long": [("errors", OVERRUN.format(length=r"\d+"))],
    "warc_length_1e6": [("errors", OVERRUN.format(length=r"\d+"))],
    "warc_length_1e12": [("errors", OVERRUN.format(length="1000000000000"))],
    "warc_length_covers_next": [("errors", OVERRUN.format(length=r"\d+"))],
    "warc_length_1e6_gz": [("errors", OVERRUN.format(length=r"\d+"))],
    "html_invalid_utf8": [("rejected", "filter:encoding.damage_sites_per_1k")],
    "html_mixed_encoding": [("rejected", "filter:encoding.damage_sites_per_1k")],
    "html_nested": [("rejected", ("extract:no_text", "extract:timeout"))],  # either way named, never a hang
    "html_empty": [("rejected", "extract:no_text")],
    "text_control_only": [("rejected", "normalize:empty")],
    "text_not_utf8": [("errors", r"^read: not utf-8: 'utf-8' codec can't decode byte 0xb9")],
    "text_empty": [("rejected", "normalize:empty")],
}
MARKER = re.compile(r"good\d{3}")


def read_dir(path: str) -> pa.Table | None:
    files = sorted(os.listdir(path))
    tables = [pq.read_table(os.path.join(path, f)) for f in files]
    tables = [t for t in tables if len(t)]
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def outcome_rows(output: str) -> list[dict]:
    rows = []
    for sub in ("docs", "rejected", "errors"):
        table = read_dir(os.path.join(output, sub))
        for r in table.to_pylist() if table is not None else []:
            rows.append({"sink": sub, **r})
    return rows


def job_for(corpus, root, output: str):
    return load_job(write_job(os.path.join(root, f"{output}.yaml"), name="hostile", output=os.path.join(root, output),
                              input=corpus.inputs, stages=STAGES))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hostile"))
    corpus = build(os.path.join(root, "in"))
    start = time.monotonic()
    stats = run_job(job_for(corpus, root, "local"), RunOptions(use_ray=False, quiet=True))
    wall = time.monotonic() - start
    return corpus, root, stats, outcome_rows(os.path.join(root, "local")), wall


def test_job_finishes_and_counts_add_up(hostile):
    corpus, _, stats, rows, wall = hostile
    totals = stats["totals"]
    assert wall < 60
    assert totals["read"] == corpus.records == len(rows)
    assert totals["read"] == totals["kept"] + totals["rejected"] + totals["failed"]
    per_sink = Counter(r["sink"] for r in rows)
    assert (per_sink["docs"], per_sink["rejected"], per_sink["errors"]) == (totals["kept"], totals["rejected"], totals["failed"])
    per_file = Counter(r[D.INPUT_FILE] for r in rows)
    expected = Counter(corpus.good_files)
    for p in corpus.planted.values():
        expected[p.path] += p.records
    assert per_file == +expected  # every file turned into exactly the records planted in it


def test_every_good_document_is_kept_once(hostile):
    corpus, _, _, rows, _ = hostile
    found = Counter(m for r in rows if r["sink"] == "docs" for m in set(MARKER.findall(r[D.TEXT])))
    assert len(corpus.good) > 70
    missing = sorted(set(corpus.good) - set(found))
    assert not missing, f"good documents not kept: {[(m, corpus.good[m]) for m in missing]}"
    assert all(found[m] == 1 for m in corpus.good)
    assert all(r["sink"] == "docs" for r in rows if set(MARKER.findall(r[D.TEXT])) & set(corpus.good))


def test_every_hostile_input_is_classified_with_a_named_reason(hostile):
    corpus, _, _, rows, _ = hostile
    good = set(corpus.good)
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        if not set(MARKER.findall(r[D.TEXT])) & good:
            by_file.setdefault(r[D.INPUT_FILE], []).append(r)
    assert set(EXPECTED) == set(corpus.planted)
    table = []
    for path in sorted({p.path for p in corpus.planted.values()}):
        keys = [k for k, p in corpus.planted.items() if p.path == path]
        expected = sorted((sink, pattern or "") for k in keys for sink, pattern in EXPECTED[k])
        observed = sorted(by_file.get(path, []), key=lambda r: (r["sink"], r.get(D.REASON) or r.get(D.ERROR) or ""))
        assert len(observed) == len(expected), (keys, [(r["sink"], r.get(D.REASON), r.get(D.ERROR)) for r in observed])
        if not expected:
            table.append((" + ".join(keys), corpus.planted[keys[0]].what, 0, "-", "no records: nothing to lose"))
        for (sink, pattern), r in zip(expected, observed):
            assert r["sink"] == sink, (keys, sink, r)
            if sink == "rejected":
                assert r[D.REASON] in (pattern if isinstance(pattern, tuple) else (pattern,)), (keys, r[D.REASON])
            elif sink == "errors":
                assert re.search(pattern, r[D.ERROR]), (keys, pattern, r[D.ERROR])
            label = r.get(D.REASON) or (r.get(D.ERROR) or "")[:70] or "kept"
            what = "; ".join(corpus.planted[k].what for k in keys)
            table.append((" + ".join(keys), what, sum(corpus.planted[k].records for k in keys), sink, label))
    print("\nhostile input | what | records | where | reason")
    for row in table:
        print(" | ".join(map(str, row)))


def peak_rss_script(body: str) -> str:
    """A child script that runs ``body`` and prints its peak RSS in KiB last.

    VmHWM, not ``getrusage``: Linux carries ``ru_maxrss`` across fork and exec,
    so a child of the (large) test process would report the parent's peak.
    """
    return body + (
        "\nprint([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )


def test_the_200mb_line_is_skipped_in_bounded_memory(hostile):
    corpus, *_ = hostile
    path = corpus.planted["jsonl_200mb_line"].path
    assert os.path.getsize(path) > HUGE_LINE_BYTES
    script = peak_rss_script(
        "import sys\n"
        "from jinglian.stages.ingest import reader, ReadError\n"
        "items = list(reader('jsonl')(sys.argv[1], {}))\n"
        "print(len(items), sum(isinstance(i, ReadError) for i in items))"
    )
    out = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, check=True).stdout.split()
    records, errors, peak_kib = map(int, out)
    assert (records, errors) == (3, 1)
    # the reader holds at most max_line_bytes (64 MiB by default) of a line before it knows to skip it
    assert peak_kib < 110 << 10, f"peak RSS {peak_kib >> 10} MiB while skipping a {HUGE_LINE_BYTES >> 20} MiB line"


def test_ray_run_classifies_the_same(hostile, ray_local):
    corpus, root, local_stats, _, _ = hostile
    stats = run_job(job_for(corpus, root, "ray"), RunOptions(workers=2, quiet=True))
    assert stats["totals"] == local_stats["totals"]
    assert snapshot(os.path.join(root, "ray")) == snapshot(os.path.join(root, "local"))  # byte for byte


def test_cli_run_on_ray_survives_every_poison_record(tmp_path):
    """`jinglian run` (a real process, in-process Ray): the records that used to kill a run each fail alone."""
    import gzip
    import json

    from tests.hostile import EN_SENTENCES, NESTING_LEVELS, _lie, html_page, warc_response

    good = " ".join(EN_SENTENCES)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "poison.jsonl").write_text(
        json.dumps({"id": "g1", "text": good}) + "\n"
        + '{"id": "deep", "text": "x", "meta": ' + "[" * NESTING_LEVELS + "]" * NESTING_LEVELS + "}\n"
        + '{"id": "s", "text": "abc\\ud800def"}\n' + json.dumps({"id": "g2", "text": good}) + "\n")
    (inputs / "not-zstd.jsonl.zst").write_text(json.dumps({"id": "z", "text": good}) + "\n")
    warcs = tmp_path / "warc"
    warcs.mkdir()
    for name, lie, gz in (("long.warc", "+1000000", False), ("huge.warc", "=1000000000000", False),
                          ("covers.warc", "next", False), ("long-members.warc.gz", "+1000000", True)):
        records = [warc_response(f"http://w.example/{name}/{i}", html_page(good).encode()) for i in range(5)]
        records[1] = _lie(records[1], records[2], lie)
        (warcs / name).write_bytes(b"".join(gzip.compress(r) if gz else r for r in records))
    job = write_job(tmp_path / "job.yaml", name="poison", output="unused",
                    input=[{"path": str(inputs), "format": "jsonl"}, {"path": str(warcs), "format": "warc"}],
                    stages=[{"extract": {}}, {"normalize": {}}])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "jinglian.cli", "run", job, "--output", str(out), "--ray", "--workers", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"] == {"read": 25, "kept": 18, "rejected": 0, "failed": 7} | {
        k: v for k, v in stats["totals"].items() if k not in ("read", "kept", "rejected", "failed")}
    rows = outcome_rows(str(out))
    per_file = Counter((os.path.basename(r[D.INPUT_FILE]), r["sink"]) for r in rows)
    assert per_file == Counter({("poison.jsonl", "docs"): 2, ("poison.jsonl", "errors"): 2,
                                ("not-zstd.jsonl.zst", "errors"): 1,
                                **{(name, sink): n for name in ("long.warc", "huge.warc", "covers.warc", "long-members.warc.gz")
                                   for sink, n in (("docs", 4), ("errors", 1))}})
