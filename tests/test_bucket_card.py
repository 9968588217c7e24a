"""Dataset cards of runs written to a bucket (moto's S3 server on 127.0.0.1): the card is read by the
partition markers only, so it equals the card of the same run written to a local directory, and an
object that no marker names (planted beside the run's parts) changes nothing."""

from __future__ import annotations

import io
import json
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jinglian.cards.card import build_card
from jinglian.cards.publish import publish
from jinglian.cards.rundata import RunDirError
from jinglian.cli import main
from jinglian.core.object_store import ObjectStore
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import load_job
from tests.helpers import write_job, write_jsonl

BUCKET = "cards"
STAGES = [{"normalize": {}}, {"dedup": {}}, {"pii": {}}]
TEXTS = ["今天天气很好，我们去公园散步。", "The quick brown fox jumps over the lazy dog again and again.",
         "联系邮箱 someone@example.com 或电话 13812345678。", "机器学习是人工智能的一个分支。", "  \u200b "]


@pytest.fixture
def bucket(s3_server):
    s3_server.client().create_bucket(Bucket=BUCKET)
    return s3_server


def make_job(tmp_path, s3, **extra) -> str:
    inputs = []
    for k, source in enumerate(("网页", "books")):
        docs = [{"id": f"{k}-{i}", "text": f"{TEXTS[i % len(TEXTS)]} {i // len(TEXTS) if i % 4 else ''}"} for i in range(30)]
        inputs.append({"path": write_jsonl(tmp_path / f"in-{k}.jsonl", docs), "format": "jsonl", "source": source})
    return write_job(tmp_path / "job.yaml", name="桶", description="A bucket card test.", input=inputs,
                     output="unused", stages=STAGES, output_storage_options={"endpoint_url": s3.endpoint},
                     work_dir=str(tmp_path / "staging"), **extra)


def run(job: str, output: str) -> dict:
    return run_job(load_job(job, output=output), RunOptions(use_ray=False, quiet=True))


def plant_unmarked(store: ObjectStore) -> None:
    """Objects no marker names: a part beyond the run's, and one beside a real part, full of other text."""
    table = pa.table({"id": ["x"] * 50, "text": ["planted " * 40] * 50, "source": ["planted"] * 50,
                      "reason": ["planted:x"] * 50})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    store.put_bytes("docs/part-00099.parquet", buf.getvalue())
    store.put_bytes("rejected/part-00099.parquet", buf.getvalue())
    store.put_bytes("docs/extra.parquet", buf.getvalue())


def zero_walls(value):
    if isinstance(value, dict):
        return {k: 0.0 if k == "wall_s" else zero_walls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [zero_walls(v) for v in value]
    return value


def same_timings(local_dir: str, store: ObjectStore) -> None:
    """Both runs' stats.json with every ``wall_s`` zero: the cards must then agree to the byte (but for paths)."""
    path = os.path.join(local_dir, "stats.json")
    with open(path, encoding="utf-8") as f:
        local = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(zero_walls(local), f, ensure_ascii=False, indent=2)
    store.put_bytes("stats.json", json.dumps(zero_walls(json.loads(store.get_bytes("stats.json"))), indent=2).encode())


def same_apart_from_paths(card: str, local_dir: str, url: str) -> str:
    """The card with the run's location (the job's output in "Reproduce") and the minute it was built
    written the same way."""
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "WHEN", card.replace(url, "RUN").replace(local_dir, "RUN"))


def test_card_of_a_bucket_run_equals_the_local_runs_card(tmp_path, bucket):
    job = make_job(tmp_path, bucket)
    local_dir = str(tmp_path / "local")
    url = f"s3://{BUCKET}/runs/x"
    options = {"endpoint_url": bucket.endpoint}
    assert run(job, local_dir)["totals"] == run(job, url)["totals"]
    store = ObjectStore(url, options)
    same_timings(local_dir, store)
    plant_unmarked(store)
    before = set(store.sizes())

    local_card, _ = build_card(local_dir, cjk_font=False)
    bucket_card, where = build_card(url, cjk_font=False, storage_options=options)
    assert where == f"{url}/README.md"
    assert "planted" not in str(bucket_card)
    assert same_apart_from_paths(str(bucket_card), local_dir, url) == same_apart_from_paths(str(local_card), local_dir, url)
    # written into the bucket: the plots, then the card; the run's objects and the planted ones untouched
    after = store.sizes()
    plots = sorted(os.listdir(os.path.join(local_dir, "report")))
    assert set(after) - before == {"README.md", *(f"report/{p}" for p in plots)}
    local_readme = open(os.path.join(local_dir, "README.md"), encoding="utf-8").read()
    assert same_apart_from_paths(store.get_bytes("README.md").decode(), local_dir, url) == \
        same_apart_from_paths(local_readme, local_dir, url)
    assert "duplicates.png" in plots and "rejections.png" in plots  # dedup's clusters and rejections are in both
    for plot in plots:  # the same figures, drawn from the same numbers
        assert store.get_bytes(f"report/{plot}") == open(os.path.join(local_dir, "report", plot), "rb").read()


def test_card_build_command_and_publish_dry_run_from_a_bucket(tmp_path, bucket, capsys):
    job = make_job(tmp_path, bucket)
    local_dir = str(tmp_path / "local")
    url = f"s3://{BUCKET}/runs/cli"
    opts = json.dumps({"endpoint_url": bucket.endpoint})
    run(job, local_dir)
    run(job, url)
    same_timings(local_dir, ObjectStore(url, {"endpoint_url": bucket.endpoint}))
    plant_unmarked(ObjectStore(url, {"endpoint_url": bucket.endpoint}))
    output = tmp_path / "card" / "README.md"
    assert main(["card", "build", url, "--storage-options", opts, "--output", str(output), "--ascii-labels"]) == 0
    assert str(output) in capsys.readouterr().out
    assert (tmp_path / "card" / "report" / "funnel.png").is_file()  # plots beside a card written elsewhere
    local_card, _ = build_card(local_dir, cjk_font=False)
    assert same_apart_from_paths(output.read_text(encoding="utf-8"), local_dir, url) == \
        same_apart_from_paths(str(local_card), local_dir, url)
    assert "README.md" not in ObjectStore(url, {"endpoint_url": bucket.endpoint}).sizes()  # --output: the bucket untouched

    local_files = publish(local_dir, "me/x", dry_run=True, cjk_font=False, log=lambda *_: None)
    bucket_files = publish(url, "me/x", dry_run=True, cjk_font=False, log=lambda *_: None,
                           storage_options={"endpoint_url": bucket.endpoint})
    assert [f.path for f in bucket_files] == [f.path for f in local_files]
    assert {f.path: f.size for f in bucket_files if f.path.startswith("docs/")} == \
        {f.path: f.size for f in local_files if f.path.startswith("docs/")}

    assert main(["card", "build", f"s3://{BUCKET}/runs/none", "--storage-options", opts]) == 2
    assert "no stats.json" in capsys.readouterr().err
    assert main(["card", "build", url, "--storage-options", '{"secret": "x"}']) == 2
    assert "credentials do not belong" in capsys.readouterr().err


def test_a_marked_object_that_differs_from_its_marker_is_one_error(tmp_path, bucket):
    job = make_job(tmp_path, bucket)
    url = f"s3://{BUCKET}/runs/damaged"
    options = {"endpoint_url": bucket.endpoint}
    run(job, url)
    store = ObjectStore(url, options)
    key = sorted(k for k in store.sizes("docs/"))[0]
    data = bytearray(store.get_bytes(key))
    data[-12] ^= 0xFF  # same size, other bytes: only the sha256 tells
    store.put_bytes(key, bytes(data))
    with pytest.raises(RunDirError, match=re.escape(key) + ".*sha256.*re-run the job"):
        build_card(url, cjk_font=False, storage_options=options)
    store.put_bytes(key, bytes(data[:-1]))
    with pytest.raises(RunDirError, match=re.escape(key) + ".*bucket holds"):
        build_card(url, cjk_font=False, storage_options=options)
    store.put_bytes(".jinglian.lock", b"{}")  # a run writing the output (or a killed one): its markers may be newer
    with pytest.raises(RunDirError, match="a run holds its lock"):
        build_card(url, cjk_font=False, storage_options=options)
    assert "README.md" not in store.sizes()


def test_a_bucket_output_job_builds_its_card_at_the_end(tmp_path, bucket, capsys):
    url = f"s3://{BUCKET}/runs/job-card"
    job = make_job(tmp_path, bucket, card={"license": "cc-by-4.0"})
    assert main(["run", job, "--output", url, "--no-ray"]) == 0
    assert f"dataset card: {url}/README.md" in capsys.readouterr().out
    store = ObjectStore(url, {"endpoint_url": bucket.endpoint})
    card = store.get_bytes("README.md").decode()
    assert "license: cc-by-4.0" in card and "report/funnel.png" in card
    assert "report/funnel.png" in store.sizes("report/")


def test_token_shards_pushed_beside_a_bucket_run_are_in_its_card_without_fetching_them(tmp_path, bucket):
    import sentencepiece as spm

    prefix = str(tmp_path / "sp")
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS[:4] * 5), model_prefix=prefix, vocab_size=100, hard_vocab_limit=False,
                                   model_type="char", character_coverage=1.0, minloglevel=3)
    url = f"s3://{BUCKET}/runs/tok"
    options = {"endpoint_url": bucket.endpoint}
    local_dir = str(tmp_path / "local")
    run(make_job(tmp_path, bucket), url)
    tokenized = write_job(tmp_path / "tok.yaml", name="tok", input=load_job(str(tmp_path / "job.yaml")).raw["input"],
                          output=local_dir, stages=[{"normalize": {}}, {"tokenize": {"tokenizer": prefix + ".model"}}])
    run(tokenized, local_dir)
    assert main(["shards", "push", os.path.join(local_dir, "tokens"), f"{url}/tokens",
                 "--storage-options", json.dumps(options)]) == 0
    with open(os.path.join(local_dir, "tokens", "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    total = sum(t["tokens"] for t in manifest["totals"].values())
    sent = len(bucket.requests)
    card, _ = build_card(url, cjk_font=False, storage_options=options)
    assert f"{total:,}" in str(card) and "report/tokens.png" in str(card)
    fetched = [path for method, path in bucket.requests[sent:] if method == "GET" and path.startswith(f"/{BUCKET}/runs/tok/tokens/")]
    assert fetched and not [p for p in fetched if p.endswith((".bin", ".idx"))]  # the manifest, not the shards


def test_a_bucket_output_refuses_token_writers_naming_what_to_do(tmp_path, bucket):
    from jinglian.pipeline.job import JobError

    job = make_job(tmp_path, bucket)
    inputs = load_job(job).raw["input"]
    tokenize = write_job(tmp_path / "tok.yaml", name="t", output=f"s3://{BUCKET}/x/", input=inputs,
                         stages=[{"tokenize": {}}], card={})
    with pytest.raises(JobError, match=re.escape(f"--output LOCAL), then 'jinglian shards push LOCAL/tokens "
                                                 f"s3://{BUCKET}/x/tokens'")):
        load_job(tokenize)
    assert load_job(job, output=f"s3://{BUCKET}/x").card is None  # and a card: section is accepted:
    assert load_job(write_job(tmp_path / "card.yaml", name="c", output=f"s3://{BUCKET}/x", input=inputs,
                              stages=STAGES, card={"license": "mit"})).card.license == "mit"
