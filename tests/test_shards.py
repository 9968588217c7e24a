"""Token shards: Megatron compatibility, verify, the tokenize stage end to end, resume, CLI."""

from __future__ import annotations

import glob
import io
import json
import os
import random
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jinglian.core import documents as D
from jinglian.cli import main as cli_main
from jinglian.core.context import RunContext
from jinglian.core.dataops import TableSet
from jinglian.pipeline.apply import StageCounts, apply_stage
from jinglian.stages.token_shards import indexed
from jinglian.stages.token_shards.stage import NUM_TOKENS, TokenizeParams, TokenizeStage, is_valid, worker_cpus

ZH = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
EN = "the of and to in is was for on that with as by at from data model token shard loader river mountain city law court".split()


def make_text(rng: random.Random, chars: int) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(ZH) for _ in range(chars))
    return " ".join(rng.choice(EN) for _ in range(max(1, chars // 4)))


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    """A real SentencePiece model trained on generated Chinese + English text."""
    import sentencepiece as spm

    rng = random.Random(0)
    lines = [make_text(rng, rng.randint(20, 80)) for _ in range(2000)]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, vocab_size=1500, model_type="bpe",
        character_coverage=1.0, byte_fallback=True, minloglevel=2,
    )
    path = tmp_path_factory.mktemp("spm") / "tok.model"
    path.write_bytes(buf.getvalue())
    return str(path)


def random_docs(seed: int, n: int, vocab: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, rng.integers(0, 200)).tolist() for _ in range(n)]


@pytest.mark.parametrize("vocab, dtype", [(32000, np.uint16), (120000, np.int32)])
def test_megatron_indexed_dataset_reads_our_shards(tmp_path, vocab, dtype):
    megatron = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    assert indexed.dtype_for_vocab(vocab) == np.dtype(dtype)
    docs = random_docs(1, 300, vocab)
    prefix = str(tmp_path / "shard")
    indexed.write_shard(prefix, docs, indexed.dtype_for_vocab(vocab))
    theirs = megatron.IndexedDataset(prefix)
    assert len(theirs) == len(docs)
    assert theirs.index.dtype == dtype
    assert list(theirs.document_indices) == list(range(len(docs) + 1))
    for i in (0, 1, 150, len(docs) - 1):
        assert theirs[i].tolist() == docs[i]
    assert theirs.get(7, offset=2, length=3).tolist() == docs[7][2:5]
    ours = indexed.verify(prefix)
    assert all(ours[i].tolist() == docs[i] for i in range(len(docs)))


def test_dtype_boundary():
    assert indexed.dtype_for_vocab(65536) == np.uint16
    assert indexed.dtype_for_vocab(65537) == np.int32


def _corrupt(prefix: str, how: str) -> None:
    idx, bin_ = prefix + ".idx", prefix + ".bin"
    data = bytearray(open(idx, "rb").read())
    if how == "truncated idx":
        data = data[:-5]
    elif how == "bad magic":
        data[0:7] = b"NOTANID"
    elif how == "bad version":
        data[9:17] = struct.pack("<Q", 2)
    elif how == "bad pointer":
        n = struct.unpack("<Q", data[18:26])[0]
        off = indexed.HEADER_SIZE + 4 * n + 8 * 3
        data[off : off + 8] = struct.pack("<q", 12345)
    elif how.startswith("truncated bin"):  # "truncated bin" loses one uint16 token, "... by 1 byte" half of one
        with open(bin_, "r+b") as f:
            f.truncate(os.path.getsize(bin_) - (1 if how.endswith("1 byte") else 2))
    open(idx, "wb").write(bytes(data))


@pytest.mark.parametrize(
    "how, message",
    [
        ("truncated idx", "truncated"),
        ("bad magic", "bad magic"),
        ("bad version", "unsupported version 2"),
        ("bad pointer", "pointer 3 is 12345"),
        ("truncated bin", ".bin: truncated"),
        ("truncated bin by 1 byte", ".bin: truncated"),  # not a whole number of tokens: no numpy traceback
    ],
)
def test_verify_rejects_corrupt_shard_and_cli_exits_nonzero(tmp_path, capsys, how, message):
    prefix = str(tmp_path / "s")
    indexed.write_shard(prefix, random_docs(2, 50, 1000), np.uint16)
    assert cli_main(["shards", "verify", prefix]) == 0
    _corrupt(prefix, how)
    with pytest.raises(indexed.ShardError, match=message.replace(".", r"\.")):
        indexed.verify(prefix)
    capsys.readouterr()
    assert cli_main(["shards", "verify", prefix + ".idx"]) == 1
    assert message in capsys.readouterr().err


def test_verify_checks_checksums(tmp_path):
    prefix = str(tmp_path / "s")
    indexed.write_shard(prefix, random_docs(3, 40, 1000), np.uint16)
    sums = indexed.shard_checksums(prefix)
    indexed.verify(prefix, sums)
    with open(prefix + ".bin", "r+b") as f:  # same size, different tokens
        f.seek(10)
        f.write(b"\xff\xff")
    with pytest.raises(indexed.ShardError, match="checksum mismatch"):
        indexed.verify(prefix, sums)


# ---------------------------------------------------------------- the stage


def write_rows(dir_, parts: list[list[dict]]) -> TableSet:
    """Barrier input as the executor hands it over: Parquet partitions with every row, rejected ones too."""
    paths = []
    for p, docs in enumerate(parts):
        table = pa.table(
            {
                D.ID: [d["id"] for d in docs],
                D.TEXT: [d["text"] for d in docs],
                D.SOURCE: [d["source"] for d in docs],
                D.PART: pa.array([p] * len(docs), pa.int32()),
                D.ROW: pa.array([D.row_key(p, i) for i in range(len(docs))], pa.int64()),
                D.REASON: pa.array([d.get("reason") for d in docs], pa.string()),
            }
        )
        table = D.with_verdict_columns(table)
        path = os.path.join(dir_, f"rows-{p:05d}.parquet")
        pq.write_table(table, path)
        paths.append(path)
    return TableSet(paths)


def corpus(seed=0, parts=2, per_part=60):
    rng = random.Random(seed)
    out = []
    for p in range(parts):
        docs = []
        for i in range(per_part):
            source = "zh-web" if i % 3 else "en/books"
            docs.append({"id": f"d{p}-{i}", "text": make_text(rng, rng.randint(5, 120)), "source": source})
        docs[5]["reason"] = "filter:too_short"  # rejected upstream: must not be tokenized
        docs[7]["text"] = ""  # empty text: just the EOD
        out.append(docs)
    return out


def run_stage(tmp_path, rows, batch_rows=16, **params):
    """Drive the stage as a worker does: every partition's rows in batches through ``apply_stage``
    (rejected rows pass by), ``partition_done`` once a partition is in, then ``after_run`` on the driver."""
    out = tmp_path / "out"
    ctx = RunContext(output_dir=str(out), work_dir=str(out / "_work" / "stage-tokenize"))
    stage = TokenizeStage(TokenizeParams(**params), ctx)
    stage.setup()
    outputs = []
    for p in range(len(rows)):
        table = rows.read(p)
        counts = StageCounts()
        done = [apply_stage(stage, table.slice(i, batch_rows), counts) for i in range(0, len(table), batch_rows)]
        stage.partition_done(p)
        outputs.append(pa.concat_tables(done, promote_options="permissive"))
    summary = ctx.counter.take(stage.counters())
    stats = TokenizeStage(TokenizeParams(**params), ctx).after_run()
    assert (summary["docs"], summary["tokens"]) == (stats["docs"], stats["tokens"])
    return outputs, stats, str(out / "tokens")


def test_stage_end_to_end(tmp_path, spm_model):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=spm_model)
    parts = corpus()
    rows = write_rows(tmp_path, parts)
    weights = {"zh-web": 0.7, "en/books": 0.3}
    outputs, stats, tokens_dir = run_stage(
        tmp_path, rows, tokenizer=spm_model, shard_tokens=800, valid_ratio=0.2, weights=weights
    )
    m = json.load(open(os.path.join(tokens_dir, "manifest.json")))
    assert m["tokenizer"]["vocab_size"] == 1500 and m["tokenizer"]["eod_id"] == sp.eos_id()
    assert m["tokenizer"]["sha256"] == indexed.file_sha256(spm_model)
    assert set(m["sources"]) == {"zh-web", "en_books"}

    # Expected per (source, split): the active docs of each partition in order, encoded + EOD.
    expected: dict[tuple[str, str, int], list[list[int]]] = {}
    for p, docs in enumerate(parts):
        for d in docs:
            if d.get("reason"):
                continue
            split = "valid" if is_valid(d["id"], 0.2) else "train"
            src = d["source"].replace("/", "_")
            expected.setdefault((src, split, p), []).append(sp.encode(d["text"]) + [sp.eos_id()])
    assert {k[1] for k in expected} == {"train", "valid"}

    megatron = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    got: dict[tuple[str, str, int], list[list[int]]] = {}
    for s in m["shards"]:
        prefix = os.path.join(tokens_dir, s["prefix"])
        ds = megatron.IndexedDataset(prefix)
        assert (len(ds), s["dtype"]) == (s["docs"], "uint16")
        assert s["tokens"] == sum(len(ds[i]) for i in range(len(ds)))
        part = int(os.path.basename(prefix)[5:10])
        got.setdefault((s["source"], s["split"], part), []).extend(ds[i].tolist() for i in range(len(ds)))
        # A shard closes at the doc that reaches shard_tokens: all but that doc fit under it.
        assert s["tokens"] - len(ds[len(ds) - 1]) < 800
    assert got == expected
    assert any(s["prefix"].endswith("-1") for s in m["shards"]), "shard_tokens should split some stream"

    # Totals and blend: 0.7 / 0.3 by source, spread over shards by tokens.
    train_tokens = sum(len(t) for (_, split, _), docs in expected.items() if split == "train" for t in docs)
    assert m["totals"]["train"]["tokens"] == train_tokens == stats["tokens"] - m["totals"]["valid"]["tokens"]
    blend = open(os.path.join(tokens_dir, "blend.txt")).read().split()
    per_source = {}
    for w, prefix in zip(blend[0::2], blend[1::2]):
        assert os.path.isabs(prefix) and "/train/" in prefix
        source = os.path.relpath(prefix, tokens_dir).split("/")[0]
        per_source[source] = per_source.get(source, 0) + float(w)
    assert per_source == pytest.approx({"zh-web": 0.7, "en_books": 0.3})
    assert os.path.exists(os.path.join(tokens_dir, "blend-valid.txt"))

    # num_tokens on every active row, none on the rejected one
    for p, docs in enumerate(parts):
        got_counts = dict(zip(outputs[p][D.ID].to_pylist(), outputs[p][NUM_TOKENS].to_pylist()))
        assert got_counts == {d["id"]: None if d.get("reason") else len(sp.encode(d["text"])) + 1 for d in docs}
    assert cli_main(["shards", "verify", tokens_dir]) == 0


def reference_shards(sp, parts, shard_tokens: int, valid_ratio: float, append_eod: bool) -> dict[str, tuple[bytes, bytes]]:
    """prefix -> (.bin, .idx) bytes built the plain way: per-document ``encode(str)``, Python lists,
    the index packed field by field from the format, the shard cut after the doc that reaches shard_tokens."""
    streams: dict[tuple[str, str, int], list[list[int]]] = {}
    for p, docs in enumerate(parts):
        for d in docs:
            if d.get("reason"):
                continue
            split = "valid" if is_valid(d["id"], valid_ratio) else "train"
            ids = sp.encode(d["text"] or "") + ([sp.eos_id()] if append_eod else [])
            streams.setdefault((d["source"].replace("/", "_"), split, p), []).append(ids)
    out = {}
    for (source, split, p), docs in streams.items():
        shards, current = [], []
        for ids in docs:
            current.append(ids)
            if sum(map(len, current)) >= shard_tokens:
                shards.append(current)
                current = []
        shards += [current] if current else []
        for k, shard in enumerate(shards):
            lengths = [len(d) for d in shard]
            pointers = [2 * sum(lengths[:i]) for i in range(len(lengths))]
            idx = b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, 8, len(shard), len(shard) + 1)
            idx += struct.pack(f"<{len(shard)}i", *lengths) + struct.pack(f"<{len(shard)}q", *pointers)
            idx += struct.pack(f"<{len(shard) + 1}q", *range(len(shard) + 1))
            name = f"part-{p:05d}" + (f"-{k}" if k else "")
            out[f"{source}/{split}/{name}"] = (struct.pack(f"<{sum(lengths)}H", *(t for d in shard for t in d)), idx)
    return out


@pytest.mark.parametrize("append_eod, num_threads", [(True, 1), (False, 1), (True, 3)])
def test_stage_shards_byte_identical_to_plain_encode(tmp_path, spm_model, append_eod, num_threads):
    """The stage's fast path (UTF-8 bytes in, int32 buffers out, SentencePiece's threads,
    checksums while writing) writes exactly the bytes of the plain per-document encode,
    including null, empty and non-BMP texts, and records the real files' sha256."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=spm_model)
    parts = corpus(seed=3, parts=2, per_part=50)
    parts[0][9]["text"] = None  # null text: just the EOD
    parts[1][4]["text"] = "表情 😀 emoji 𠮷 and é"  # 4-byte UTF-8, combining-free accents
    parts[1][5]["text"] = "def f(x):\n    return  x\t\t+ 1   \n\n\n  # 注释"  # code: whitespace runs, tabs, newlines
    parts[1][6]["text"] = "龘靐齉爩 ꙮ \u200b\u3000全角空格　。"  # characters the model lacks: byte fallback
    rows = write_rows(tmp_path, parts)
    _, stats, tokens_dir = run_stage(
        tmp_path, rows, tokenizer=spm_model, shard_tokens=300, valid_ratio=0.2, append_eod=append_eod, batch_size=7,
        num_threads=num_threads,
    )
    want = reference_shards(sp, parts, 300, 0.2, append_eod)
    m = json.load(open(os.path.join(tokens_dir, "manifest.json")))
    assert sorted(s["prefix"] for s in m["shards"]) == sorted(want)
    assert sum(os.path.basename(s["prefix"]).count("-") == 2 for s in m["shards"]) > 3, "shard_tokens should split streams"
    for s in m["shards"]:
        prefix = os.path.join(tokens_dir, s["prefix"])
        got = (open(prefix + ".bin", "rb").read(), open(prefix + ".idx", "rb").read())
        assert got == want[s["prefix"]], s["prefix"]
        assert s["checksums"] == indexed.shard_checksums(prefix)
    assert stats["tokens"] == sum(len(b) // 2 for b, _ in want.values())


def test_encoding_threads_are_the_workers_cpus(ray_local):
    """In this process (no Ray worker, even with Ray running) the stage encodes on every CPU the
    process has; in a Ray worker on the CPUs Ray gave it, so actors side by side do not share cores."""
    assert worker_cpus() == (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    assert ray_local.get(ray_local.remote(num_cpus=1)(worker_cpus).remote()) == 1
    assert ray_local.get(ray_local.remote(num_cpus=2)(worker_cpus).remote()) == 2
    with pytest.raises(ValueError, match="num_threads"):
        TokenizeStage(TokenizeParams(tokenizer="x.model", num_threads=-1)).check()


def test_a_redone_partition_replaces_what_its_failed_attempt_left(tmp_path, spm_model):
    """A worker dies mid-partition (shards of it committed, no record): the partition runs again
    and its shards come out as from a clean run; a crashed partition's leftovers leave with after_run."""
    rows = write_rows(tmp_path, corpus(parts=3, per_part=30))
    params = dict(tokenizer=spm_model, shard_tokens=200, valid_ratio=0.1)
    _, clean, tokens_dir = run_stage(tmp_path / "clean", rows, **params)
    want = {os.path.relpath(os.path.join(d, f), tokens_dir): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(tokens_dir) for f in files}

    ctx = RunContext(output_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "out" / "_work" / "stage-tokenize"))
    dying = TokenizeStage(TokenizeParams(**params), ctx)
    dying.setup()
    for p in (1, 2):  # killed after writing some shards of partitions 1 and 2, before their records
        dying.process(D.active(rows.read(p)))
    assert glob.glob(str(tmp_path / "out" / "tokens" / "*" / "*" / "part-00002*"))
    worker = TokenizeStage(TokenizeParams(**params), ctx)
    worker.setup()
    for p in (0, 1):  # partition 2 is given up (its documents failed as a crash): no record
        worker.process(D.active(rows.read(p)))
        worker.partition_done(p)
    stats = TokenizeStage(TokenizeParams(**params), ctx).after_run()
    assert not glob.glob(str(tmp_path / "out" / "tokens" / "*" / "*" / "part-00002*"))
    got = {os.path.relpath(os.path.join(d, f), ctx.output_dir + "/tokens"): open(os.path.join(d, f), "rb").read()
           for d, _, files in os.walk(ctx.output_dir + "/tokens") for f in files}
    assert {k: v for k, v in got.items() if "part-00002" not in k and "/" in k} == {
        k: v for k, v in want.items() if "part-00002" not in k and "/" in k}
    assert stats["tokens"] < clean["tokens"] and stats["shards"] == sum("part-00002" not in k for k in want if k.endswith(".bin"))

    with pytest.raises(ValueError, match="other settings"):  # records of other settings never mix into a manifest
        TokenizeStage(TokenizeParams(**{**params, "valid_ratio": 0.5}), ctx).after_run()


def test_a_failed_write_keeps_the_partition_from_committing(tmp_path, spm_model):
    rows = write_rows(tmp_path, corpus(parts=1, per_part=20))
    ctx = RunContext(output_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "out" / "_work" / "stage-tokenize"))
    stage = TokenizeStage(TokenizeParams(tokenizer=spm_model, valid_ratio=0.0), ctx)
    stage.setup()
    os.makedirs(tmp_path / "out" / "tokens" / "zh-web")
    open(tmp_path / "out" / "tokens" / "zh-web" / "train", "w").close()  # a file where the shard directory goes
    out = apply_stage(stage, rows.read(0), StageCounts())
    assert out[D.ERROR].null_count < len(out)
    with pytest.raises(RuntimeError, match="shards not written"):
        stage.partition_done(0)  # the partition is not committed: the executor runs it again
    assert not os.path.exists(tmp_path / "out" / "_work" / "stage-tokenize" / "parts" / "part-00000.json")


def test_stage_rejects_weights_for_unknown_sources(tmp_path, spm_model):
    rows = write_rows(tmp_path, corpus(parts=1, per_part=10))
    with pytest.raises(ValueError, match="no documents: nope"):
        run_stage(tmp_path, rows, tokenizer=spm_model, weights={"nope": 1.0})


def test_tokenize_in_a_job(tmp_path, spm_model):
    """Through the real executor (in-process): num_tokens lands in the curated docs; tokenize runs in
    the same pass as the stage before it (no intermediate rows written and read again)."""
    from tests.helpers import write_job, write_jsonl

    from jinglian.pipeline.executor import RunOptions, run_job
    from jinglian.pipeline.job import load_job

    rng = random.Random(1)
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": f"a{i}", "text": make_text(rng, 40)} for i in range(20)])
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": f"b{i}", "text": make_text(rng, 40)} for i in range(20)])
    job = write_job(
        tmp_path / "job.yaml",
        name="tok",
        input=[{"path": str(tmp_path / "in" / "*.jsonl"), "format": "jsonl", "source": "web"}],
        output=str(tmp_path / "out"),
        stages=[{"normalize": {}}, {"tokenize": {"tokenizer": spm_model, "valid_ratio": 0.0}}],
    )
    stats = run_job(load_job(job), RunOptions(use_ray=False, quiet=True))
    docs = pq.read_table(str(tmp_path / "out" / "docs"))
    m = json.load(open(tmp_path / "out" / "tokens" / "manifest.json"))
    assert len(docs) == 40 and sum(docs[NUM_TOKENS].to_pylist()) == m["totals"]["train"]["tokens"] > 0
    assert not glob.glob(str(tmp_path / "out" / "_work" / "segment-*")), "tokenize must not open a segment of its own"
    tokenize = stats["stages"][1]
    assert tokenize["prepare"]["tokens"] == tokenize["extra"]["tokens"] == sum(docs[NUM_TOKENS].to_pylist())
    assert tokenize["prepare"]["docs"] == tokenize["extra"]["docs"] == 40

    again = run_job(load_job(job), RunOptions(use_ray=False, quiet=True))  # resumed: every partition committed
    assert again["stages"][1]["prepare"]["tokens"] == tokenize["prepare"]["tokens"]
    assert json.load(open(tmp_path / "out" / "tokens" / "manifest.json")) == m


def test_inspect_cli(tmp_path, spm_model, capsys):
    rows = write_rows(tmp_path, corpus(parts=1, per_part=12))
    _, _, tokens_dir = run_stage(tmp_path, rows, tokenizer=spm_model, valid_ratio=0.0)
    capsys.readouterr()
    assert cli_main(["shards", "inspect", tokens_dir, "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "train: 11 documents" in out and out.count("--- part-00000") == 2
    first_text = corpus(parts=1, per_part=12)[0][0]["text"]
    assert first_text[:20] in out
