"""The dedup stage's parameters: what the job file sets, and what the phases read (picklable, frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from jinglian.core.config import bounds


@dataclass(frozen=True)
class DedupParams:
    exact: bool = True  # drop documents whose normalised text is identical to a kept one
    minhash: bool = True  # drop near-duplicates (MinHash-LSH candidates verified by exact Jaccard)
    threshold: float = field(default=0.8, metadata=bounds(gt=0, le=1))  # Jaccard similarity of shingle sets at which two documents are near-duplicates
    ngram: int = field(default=5, metadata=bounds(ge=1))  # tokens per shingle (a CJK character or a run of letters/digits is one token)
    num_perm: int = field(default=128, metadata=bounds(ge=2))  # MinHash permutations
    seed: int = 1  # MinHash seed (datasketch's default)
    bands: int | None = None  # LSH bands; None: optimised from threshold and weights, as datasketch does
    rows: int | None = None  # LSH rows per band; set together with bands
    false_positive_weight: float = 0.02  # weight of missed-pair vs. extra-candidate probability when optimising
    false_negative_weight: float = 0.98  # bands: candidates are verified, so missing a pair is what costs
    keep: Literal["first", "longest", "quality_score"] = "first"  # which document of a cluster stays
    lines: bool = False  # CCNet-style: remove lines found in more than line_max_docs documents
    line_max_docs: int = 10  # a line in more documents than this is boilerplate
    memory_budget_mb: float = 1024.0  # memory one worker may use for one bucket: sets the shuffle partitions
    clique_limit: int = 32  # LSH buckets up to this size give all pairs; larger ones a star + chain
    recheck_limit: int = 2000  # components up to this size compare chain-linked documents with every kept one
