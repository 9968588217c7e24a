"""The ``train_tokenizer`` barrier stage: a Chinese SentencePiece vocabulary from the curated rows.

``prepare`` samples training lines from every active row (one bounded bottom-k
sample per partition, merged into one uniform sample), trains a Chinese model
and, when a base is given (a ``.model`` path, or ``base_vocab_size`` to train a
small base on the rows' CJK-free lines, as the demo does), appends the Chinese
pieces to it with :mod:`jinglian.tokenizers.extend`. The result goes to
``<output>/tokenizer/tokenizer.model`` with its sidecar and the transformers
config files; the ``tokenize`` stage reads it from there. ``process`` passes
rows through unchanged.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import BarrierStage
from jinglian.tokenizers import corpus
from jinglian.tokenizers.export import export_hf
from jinglian.tokenizers.extend import build, extend, train_added
from jinglian.tokenizers.model import file_sha256, load_proto, save_proto, write_sidecar
from jinglian.tokenizers.train import TrainConfig, train_proto

_SAMPLE_SCHEMA = pa.schema([("line", pa.string()), ("key", pa.float64()), ("han", pa.bool_())])


@dataclass
class TrainTokenizerParams:
    vocab_size: int = 8000  # pieces of the Chinese model; when extending a base, the most pieces appended
    model_type: Literal["bpe", "unigram"] = "bpe"  # unigram only without a base (extension needs BPE)
    character_coverage: float = 0.9995  # share of characters the vocabulary covers; the rest fall back to bytes
    max_sentences: int = 200000  # training lines sampled (uniformly) from all rows: bounds memory and time
    max_sentence_length: int = 4192  # bytes; longer lines are cut on sentence punctuation, not dropped
    base_model: str | None = None  # BPE .model to extend, keeping its ids (relative to the job file)
    base_vocab_size: int = 0  # no base_model and > 0: train a base of this size on the CJK-free lines, then extend it
    traditional_fraction: float = 0.0  # share of Chinese lines converted to Traditional (OpenCC) before training
    pad_to_multiple: int = 0  # pad the vocabulary with reserved control pieces to a multiple of this
    options: dict = field(default_factory=dict)  # other SentencePiece trainer options, verbatim


def sample_partition(table: pa.Table, index: int, budget: int, max_bytes: int, seed: int) -> pa.Table:
    """Bottom-k samples of one partition's active lines, Han-bearing and CJK-free kept apart.

    What was read (documents, lines, splits, lines per source) travels in the schema metadata.
    """
    table = D.active(table)
    samplers = {True: corpus.BottomK(budget, seed * 1_000_003 + 2 * index),
                False: corpus.BottomK(budget, seed * 1_000_003 + 2 * index + 1)}
    counts, by_source = corpus.SplitCounts(), {}
    texts = table[D.TEXT].to_pylist() if len(table) else []
    sources = table[D.SOURCE].to_pylist() if D.SOURCE in table.column_names else [None] * len(texts)
    for text, source in zip(texts, sources):
        before = counts.lines
        for line in corpus.training_lines(text or "", max_bytes, counts):
            samplers[corpus.han_count(line) > 0].add(line)
        by_source[str(source)] = by_source.get(str(source), 0) + counts.lines - before
    rows = [(line, key, han) for han, s in samplers.items() for key, line in s.keyed()]
    out = pa.table({"line": [r[0] for r in rows], "key": [r[1] for r in rows], "han": [r[2] for r in rows]},
                   schema=_SAMPLE_SCHEMA)
    read = {"documents": len(texts), "lines": counts.lines, "long_lines_split": counts.long_lines,
            "hard_cuts": counts.hard_cuts, "by_source": by_source}
    return out.replace_schema_metadata({"read": json.dumps(read)})


class TrainTokenizerStage(BarrierStage):
    name = "train_tokenizer"
    Params = TrainTokenizerParams

    def __init__(self, params=None, context=None):
        super().__init__(params, context)
        p = self.params
        if p.vocab_size < 1 or p.max_sentences < 1:
            raise ValueError("train_tokenizer: vocab_size and max_sentences must be positive")
        if p.model_type != "bpe" and (p.base_model or p.base_vocab_size):
            raise ValueError("train_tokenizer: extending a base needs model_type bpe")

    @property
    def out_dir(self) -> str:
        return os.path.join(self.context.output_dir, "tokenizer")

    def _config(self, vocab_size: int) -> TrainConfig:
        p = self.params
        return TrainConfig(vocab_size=vocab_size, model_type=p.model_type, character_coverage=p.character_coverage,
                           max_sentence_length=p.max_sentence_length, input_sentence_size=p.max_sentences,
                           traditional_fraction=p.traditional_fraction, seed=self.context.seed,
                           # vocab_size is a ceiling: small curated sets may not support as many pieces.
                           options={"hard_vocab_limit": False, **p.options})

    def prepare(self, rows, ops) -> dict:
        p = self.params
        fn = functools.partial(sample_partition, budget=p.max_sentences, max_bytes=p.max_sentence_length,
                               seed=self.context.seed)
        parts = ops.map(rows, fn, name="tokenizer-sample")
        merged = {True: corpus.BottomK(p.max_sentences), False: corpus.BottomK(p.max_sentences)}
        report = corpus.SampleReport(budget=p.max_sentences)
        for i in range(len(parts)):
            t = parts.read(i)
            read = json.loads(t.schema.metadata[b"read"])
            report.documents += read["documents"]
            report.lines += read["lines"]
            report.long_lines_split += read["long_lines_split"]
            report.hard_cuts += read["hard_cuts"]
            for source, n in read["by_source"].items():
                report.sentences_by_input[source] = report.sentences_by_input.get(source, 0) + n
            for line, key, han in zip(t["line"].to_pylist(), t["key"].to_pylist(), t["han"].to_pylist()):
                merged[han].add(line, key)
        chinese, other = merged[True].items(), merged[False].items()
        report.sentences_seen = report.lines
        config = self._config(p.vocab_size)
        chinese, report.converted_to_traditional = corpus.to_traditional(
            chinese, p.traditional_fraction, self.context.seed, config.traditional_config)
        corpus.describe_sample(chinese, report)
        os.makedirs(self.out_dir, exist_ok=True)
        model_path = os.path.join(self.out_dir, "tokenizer.model")
        info: dict = {"kind": "trained", "training": config.trainer_kwargs(), "sample": report.to_dict(),
                      "cjk_free_lines_sampled": len(other)}
        base = None
        if p.base_model:
            base_path = self.context.resolve(p.base_model)
            base = load_proto(base_path)
            info.update(base_model=base_path, base_sha256=file_sha256(base_path))
        elif p.base_vocab_size:
            base = train_proto(other, self._config(p.base_vocab_size))
            base_path = os.path.join(self.out_dir, "base.model")
            save_proto(base, base_path)
            info.update(base_model=base_path, base_sha256=file_sha256(base_path))
        if base is None:
            proto = build(train_proto(chinese + other, config), [], p.pad_to_multiple)
        else:
            added, _ = train_added(chinese, base, p.vocab_size, config)
            proto, ext = extend(base, added, p.vocab_size, p.pad_to_multiple)
            info.update(kind="extended", added_pieces=ext.added, base_vocab_size=ext.base_pieces,
                        report=ext.__dict__)
        save_proto(proto, model_path)
        info["vocab_size"] = len(proto.pieces)
        write_sidecar(model_path, info)
        export_hf(model_path, self.out_dir)
        return {"vocab_size": len(proto.pieces), "chinese_lines": len(chinese), "cjk_free_lines": len(other),
                "added_pieces": info.get("added_pieces", 0), "converted_to_traditional": report.converted_to_traditional}

    def process(self, batch: pa.Table) -> pa.Table:
        return batch
