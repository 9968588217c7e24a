"""The train_tokenizer barrier stage, the `jinglian tokenizer` CLI and the transformers export."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm

from jinglian.core import documents as D
from jinglian.cli import COMMAND_MODULES
from jinglian.core.dataops import LocalOps, TableSet
from jinglian.stages import STAGES, stage_class
from jinglian.core.context import RunContext
from jinglian.tokenizers import corpus
from jinglian.tokenizers.model import CONTROL, load_proto, read_sidecar
from tests.tokenizer_fixtures import ENGLISH_PROBES, en_document, mixed_corpus, zh_document


def _partition(texts, part: int) -> pa.Table:
    n = len(texts)
    return D.with_verdict_columns(pa.table({
        D.ID: [f"p{part}-{i}" for i in range(n)], D.TEXT: texts, D.SOURCE: ["gen"] * n,
        D.PART: [part] * n, D.ROW: [D.row_key(part, i) for i in range(n)]}))


def test_stage_trains_extends_and_writes_the_tokenizer(tmp_path):
    assert STAGES["train_tokenizer"].endswith(":TrainTokenizerStage")
    docs = mixed_corpus(seed=3, zh_docs=80, en_docs=60)
    paths = []
    for part in range(3):
        table = _partition(docs[part::3], part)
        if part == 0:  # a rejected row: its words must not reach the vocabulary
            spam = _partition(["赌赢彩票赌赢彩票" * 50], part)
            table = pa.concat_tables([table, D.reject(spam, np.ones(1, bool), "filter:spam", 1.0)])
        path = str(tmp_path / "rows" / f"part-{part}.parquet")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(table, path)
        paths.append(path)
    cls = stage_class("train_tokenizer")
    params = cls.Params(vocab_size=250, base_vocab_size=400, max_sentences=5000, pad_to_multiple=64,
                        traditional_fraction=0.1)
    context = RunContext(output_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "work"))
    stage = cls(params, context)
    stats = stage.prepare(TableSet(paths), LocalOps(str(tmp_path / "work")))

    out = tmp_path / "out" / "tokenizer"
    model, base = load_proto(str(out / "tokenizer.model")), load_proto(str(out / "base.model"))
    assert len(model.pieces) % 64 == 0 and stats["vocab_size"] == len(model.pieces)
    assert 0 < stats["added_pieces"] <= 250 and stats["chinese_lines"] > 0 and stats["cjk_free_lines"] > 0
    assert [p.piece for p in model.pieces[:len(base.pieces)]] == [p.piece for p in base.pieces]
    assert not any(ch in p.piece for ch in "赌赢彩票" for p in model.pieces)
    assert model.pieces[-1].type == CONTROL
    side = read_sidecar(str(out / "tokenizer.model"))
    assert side["kind"] == "extended" and side["added_pieces"] == stats["added_pieces"]
    active_lines = sum(len(d.splitlines()) for d in docs)  # the rejected row is not read
    assert side["sample"]["documents"] == len(docs) and side["sample"]["lines"] == active_lines
    assert side["sample"]["sentences_by_input"] == {"gen": active_lines}
    assert os.path.exists(out / "tokenizer_config.json")

    sp, sp_base = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model")), spm.SentencePieceProcessor(
        model_file=str(out / "base.model"))
    assert sp.encode(ENGLISH_PROBES) == sp_base.encode(ENGLISH_PROBES)
    zh = zh_document(random.Random(4))
    assert len(sp.encode(zh)) < len(sp_base.encode(zh)) / 2

    batch = _partition(["任何文本", "any text"], 0)
    assert stage.process(batch).equals(batch)


def test_stage_without_base_trains_a_standalone_model(tmp_path):
    rng = random.Random(6)
    path = str(tmp_path / "part-0.parquet")
    pq.write_table(_partition([zh_document(rng) for _ in range(40)] + [en_document(rng) for _ in range(20)], 0), path)
    cls = stage_class("train_tokenizer")
    stage = cls(cls.Params(vocab_size=700, max_sentences=100), RunContext(str(tmp_path / "out"), str(tmp_path / "w")))
    stats = stage.prepare(TableSet([path]), LocalOps(str(tmp_path / "w")))
    side = read_sidecar(str(tmp_path / "out" / "tokenizer" / "tokenizer.model"))
    assert side["kind"] == "trained" and side["sample"]["budget"] == 100
    assert stats["chinese_lines"] + stats["cjk_free_lines"] <= 200 and stats["added_pieces"] == 0
    assert side["sample"]["sentences_seen"] > 100  # sampled down to the budget per group


def main(argv: list[str]) -> int:
    """``jinglian`` with only the tokenizer commands (other command families are not under test here)."""
    import argparse

    from jinglian.tokenizers import commands

    assert COMMAND_MODULES["tokenizer"] == "jinglian.tokenizers.commands"
    parser = argparse.ArgumentParser(prog="jinglian")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_train_extend_eval_export(tmp_path, capsys):
    docs = mixed_corpus(seed=8)
    english = tmp_path / "en.txt"
    english.write_text("\n".join(d for d in docs if not corpus.han_count(d)), encoding="utf-8")
    chinese = tmp_path / "zh.jsonl"
    chinese.write_text("\n".join(json.dumps({"body": d}, ensure_ascii=False) for d in docs), encoding="utf-8")
    base, ext = str(tmp_path / "base.model"), str(tmp_path / "ext.model")
    assert main(["tokenizer", "train", str(english), "-o", base, "--vocab-size", "400", "--threads", "1",
                 "--option", "hard_vocab_limit=false"]) == 0
    assert main(["tokenizer", "extend", "--base", base, "--train", str(chinese), "--text-field", "body",
                 "--added-pieces", "200", "--pad-to-multiple", "32", "-o", ext, "--threads", "1"]) == 0
    assert read_sidecar(ext)["added_pieces"] > 0 and len(load_proto(ext).pieces) % 32 == 0
    assert main(["tokenizer", "extend", "--base", base, "-o", ext]) == 2  # neither --add nor --train
    capsys.readouterr()
    assert main(["tokenizer", "eval", f"base={base}", f"ext={ext}", "--text", f"en={english}",
                 "--text", f"zh={chinese}", "--text-field", "body", "--json"]) == 0
    rows = {(r["model"], r["lang"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows["ext", "en"]["identical_to_first"] == 1.0
    assert rows["ext", "zh"]["chars_per_token"] > rows["base", "zh"]["chars_per_token"]
    assert main(["tokenizer", "export", ext, "-o", str(tmp_path / "hf")]) == 0
    config = json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "LlamaTokenizer" and config["vocab_size"] == len(load_proto(ext).pieces)
    assert os.path.exists(tmp_path / "hf" / "tokenizer.meta.json")


def test_transformers_llama_tokenizer_loads_the_export(tmp_path):
    transformers = pytest.importorskip("transformers")
    from jinglian.tokenizers.export import export_hf
    from jinglian.tokenizers.extend import extend, train_added
    from jinglian.tokenizers.model import save_proto
    from jinglian.tokenizers.train import TrainConfig, train_proto

    docs = mixed_corpus(seed=9)
    lines = [line for d in docs for line in d.splitlines()]
    base = train_proto([x for x in lines if not corpus.han_count(x)], TrainConfig(vocab_size=400, num_threads=1))
    ext, _ = extend(base, train_added(lines, base, 200, TrainConfig(num_threads=1))[0], 200, pad_to_multiple=64)
    save_proto(ext, str(tmp_path / "ext.model"))
    export_hf(str(tmp_path / "ext.model"), str(tmp_path / "hf"))
    tok = transformers.LlamaTokenizer.from_pretrained(str(tmp_path / "hf"))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "hf" / "tokenizer.model"))
    assert len(tok) == len(ext.pieces)
    # transformers' conversion ranks merges of whitespace runs differently from SentencePiece (LLaMA-2's own
    # tokenizer shows the same), so the texts compared have single spaces only.
    texts = [" ".join(t.split()) for t in ENGLISH_PROBES] + [zh_document(random.Random(10)), "中文 mixed 2016年有100个"]
    for text in texts:
        assert tok.encode(text, add_special_tokens=False) == sp.encode(text), text
    assert tok.encode("hi")[0] == sp.bos_id()


def test_job_file_parameters_are_validated(tmp_path):
    from jinglian.pipeline.job import JobError, load_job
    from tests.helpers import write_job, write_jsonl

    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "中文"}])
    job = {"name": "t", "input": [{"path": source, "format": "jsonl"}], "output": str(tmp_path / "out"),
           "stages": [{"train_tokenizer": {"vocab_size": 100, "base_model": None, "traditional_fraction": 0.2,
                                           "options": {"max_sentencepiece_length": 8}}}]}
    spec = load_job(write_job(tmp_path / "ok.yaml", **job)).stages[0]
    assert spec.params.vocab_size == 100 and spec.params.options == {"max_sentencepiece_length": 8}
    job["stages"] = [{"train_tokenizer": {"model_type": "wordpiece"}}]
    with pytest.raises(JobError, match="model_type"):
        load_job(write_job(tmp_path / "bad.yaml", **job))
