"""Training text for SentencePiece: read documents, cut them into sentences, sample.

SentencePiece silently skips every input sentence longer than
``max_sentence_length`` bytes (4,192 by default: about 1,400 Chinese
characters). Chinese paragraphs are often longer than that and have no spaces,
so each line is cut on Chinese and Western sentence punctuation and the
sentences are packed back into chunks that fit; a single sentence that still
does not fit is cut at character boundaries. Nothing is dropped.

Sampling is bottom-k over uniform random keys: every sentence draws a key and
the ``budget`` smallest keys win. Memory is bounded by the budget, the sample is
uniform, and samples drawn in separate processes (one per partition) merge into
one uniform sample by keeping the smallest keys again.
"""

from __future__ import annotations

import glob
import heapq
import os
import random
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from jinglian.core.cjk import HAN_RE, han_count
from jinglian.stages.ingest import ReadError, reader

# A sentence ends after Chinese sentence punctuation, or after Western
# punctuation followed by whitespace; closing quotes and brackets stay with it.
_SENTENCE_END = re.compile(r"(?:[。！？；…]+|[.!?;](?=\s))[”’\"'」』）)\]]*\s*")


def is_han(ch: str) -> bool:
    return HAN_RE.match(ch) is not None


def split_sentences(text: str) -> Iterator[str]:
    """Sentences of one line, punctuation kept; whitespace between sentences dropped."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[start : match.end()].strip()
        if piece:
            yield piece
        start = match.end()
    tail = text[start:].strip()
    if tail:
        yield tail


def _pack(pieces, max_bytes: int) -> Iterator[str]:
    """Join consecutive pieces (sentences, or the characters of one) into chunks of at most ``max_bytes``
    UTF-8 bytes; a piece is never split."""
    chunk: list[str] = []
    size = 0
    for piece in pieces:
        n = len(piece.encode("utf-8"))
        if size + n > max_bytes and chunk:
            yield "".join(chunk)
            chunk, size = [], 0
        chunk.append(piece)
        size += n
    if chunk:
        yield "".join(chunk)


@dataclass
class SplitCounts:
    lines: int = 0
    long_lines: int = 0  # lines longer than max_bytes, split into sentences
    hard_cuts: int = 0  # sentences still too long, cut at character boundaries


def training_lines(text: str, max_bytes: int, counts: SplitCounts | None = None) -> Iterator[str]:
    """One document as SentencePiece input lines, each at most ``max_bytes`` bytes."""
    counts = counts if counts is not None else SplitCounts()
    for line in text.splitlines():
        line = line.rstrip()
        if not line.strip():
            continue
        counts.lines += 1
        if len(line.encode("utf-8")) <= max_bytes:
            yield line
            continue
        counts.long_lines += 1
        run: list[str] = []  # sentences that fit, packed together
        for sentence in split_sentences(line):
            if len(sentence.encode("utf-8")) > max_bytes:
                counts.hard_cuts += 1
                yield from _pack(run, max_bytes)
                run = []
                yield from _pack(sentence, max_bytes)  # cut at character boundaries
            else:
                run.append(sentence)
        yield from _pack(run, max_bytes)


def input_files(path: str) -> list[tuple[str, str]]:
    """``(file, format)`` pairs for a path: a curated output directory (its ``docs/``),
    a directory of Parquet files, or one Parquet / JSONL / text file."""
    if os.path.isdir(path):
        docs = os.path.join(path, "docs")
        root = docs if os.path.isdir(docs) else path
        files = sorted(glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True))
        if not files:
            raise ValueError(f"{path}: directory without Parquet files")
        return [(f, "parquet") for f in files]
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    name = path.lower()
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".parquet"):
        return [(path, "parquet")]
    if name.endswith(".jsonl") or name.endswith(".json"):
        return [(path, "jsonl")]
    return [(path, "text")]


def iter_documents(path: str, text_field: str = "text") -> Iterator[tuple[str, str | ReadError]]:
    """``(file, text or ReadError)`` for every document under ``path``."""
    for file, fmt in input_files(path):
        for record in reader(fmt)(file, {"text_field": text_field}):
            yield file, record if isinstance(record, ReadError) else record["text"]


@dataclass
class SampleReport:
    """What went into training: enough to tell whether the sample was representative."""

    budget: int = 0
    documents: int = 0
    read_errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    lines: int = 0
    long_lines_split: int = 0
    hard_cuts: int = 0
    sentences_seen: int = 0
    sentences_sampled: int = 0
    chars_sampled: int = 0
    han_chars_sampled: int = 0
    converted_to_traditional: int = 0
    sentences_by_input: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


class BottomK:
    """Uniform sample of at most ``budget`` items: keep the smallest random keys."""

    def __init__(self, budget: int, seed: int = 0):
        if budget <= 0:
            raise ValueError("sample budget must be positive")
        self.budget = budget
        self.random = random.Random(seed)
        self._heap: list[tuple[float, int, str]] = []  # (-key, order, item): a max-heap on key
        self.seen = 0

    def add(self, item: str, key: float | None = None) -> None:
        key = self.random.random() if key is None else key
        entry = (-key, self.seen, item)
        self.seen += 1
        if len(self._heap) < self.budget:
            heapq.heappush(self._heap, entry)
        elif key < -self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)

    def keyed(self) -> list[tuple[float, str]]:
        """``(key, item)`` pairs, in the order the items arrived."""
        return [(-neg, item) for neg, _, item in sorted(self._heap, key=lambda e: e[1])]

    def items(self) -> list[str]:
        return [item for _, item in self.keyed()]


def sample_sentences(
    paths: Iterable[str],
    budget: int,
    max_bytes: int = 4192,
    seed: int = 0,
    text_field: str = "text",
) -> tuple[list[str], SampleReport]:
    """A uniform sample of at most ``budget`` training lines from every document under ``paths``."""
    report = SampleReport(budget=budget)
    sampler = BottomK(budget, seed)
    counts = SplitCounts()
    for path in paths:
        before = sampler.seen
        for _, text in iter_documents(path, text_field):
            if isinstance(text, ReadError):
                report.read_errors += 1
                if len(report.error_examples) < 5:
                    report.error_examples.append(f"{path}: {text.message}")
                continue
            report.documents += 1
            for line in training_lines(text, max_bytes, counts):
                sampler.add(line)
        report.sentences_by_input[path] = sampler.seen - before
    sentences = sampler.items()
    report.lines, report.long_lines_split, report.hard_cuts = counts.lines, counts.long_lines, counts.hard_cuts
    report.sentences_seen = sampler.seen
    describe_sample(sentences, report)
    return sentences, report


def describe_sample(sentences: list[str], report: SampleReport) -> None:
    report.sentences_sampled = len(sentences)
    report.chars_sampled = sum(len(s) for s in sentences)
    report.han_chars_sampled = sum(han_count(s) for s in sentences)


def to_traditional(sentences: list[str], fraction: float, seed: int = 0, config: str = "s2tw") -> tuple[list[str], int]:
    """Convert a random ``fraction`` of the sentences with OpenCC (Simplified -> Traditional).

    Curated Chinese corpora are mostly Simplified; a vocabulary trained on them
    leaves Traditional text to byte fallback. Converting part of the sample
    teaches the Traditional characters and words without a Traditional corpus.
    """
    if fraction <= 0:
        return sentences, 0
    import opencc

    converter = opencc.OpenCC(config)
    rng = random.Random(seed + 1)
    out, converted = [], 0
    for sentence in sentences:
        if rng.random() < fraction and han_count(sentence):
            new = converter.convert(sentence)
            converted += new != sentence
            sentence = new
        out.append(sentence)
    return out, converted
