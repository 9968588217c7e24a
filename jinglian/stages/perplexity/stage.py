"""The ``perplexity`` stage: a ``perplexity`` column from a character n-gram model, optionally a rule.

Like the ``quality`` stage, a job can train its own model: when ``model`` does
not exist and ``train`` names text sources, ``before_run`` trains it once on
the driver before any segment starts. Each worker loads the model once in
``setup()``. With ``max_perplexity`` set, documents scoring above it are
rejected as ``perplexity:max_perplexity`` with the perplexity as the value;
without it the stage only measures (for a later rule, a classifier or a
corpus report).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage
from jinglian.stages.perplexity.model import CharNgramLM, LMConfig
from jinglian.stages.quality.sources import read_texts

COLUMN = "perplexity"
REASON = "perplexity:max_perplexity"


@dataclass
class PerplexityParams:
    # model file written by `jinglian perplexity train` (relative paths resolve against the job's directory)
    model: str = "perplexity.bin"
    # reject documents above this perplexity; None only adds the column. What a value means depends on
    # the training text: choose it from `jinglian perplexity score` on clean text of every genre you keep.
    max_perplexity: float | None = None
    # train `model` when it is missing: {"texts": [paths], "text_field": "text", and any LMConfig field}
    train: dict = field(default_factory=dict)


class PerplexityStage(Stage):
    name: ClassVar[str] = "perplexity"
    Params: ClassVar[type] = PerplexityParams

    def __init__(self, params=None, context=None):
        super().__init__(params, context)
        if self.params.max_perplexity is not None and self.params.max_perplexity <= 1.0:
            raise ValueError(f"perplexity: max_perplexity must be > 1, got {self.params.max_perplexity}")
        if self.params.train:
            self._train_args()  # validate early
        self._model: CharNgramLM | None = None

    @property
    def model_path(self) -> str:
        return self.context.resolve(self.params.model)

    def _train_args(self) -> tuple[list[str], str, LMConfig]:
        spec = dict(self.params.train)
        texts = spec.pop("texts", None)
        text_field = spec.pop("text_field", "text")
        if not texts:
            raise ValueError("perplexity: train needs 'texts' (source paths of clean text)")
        unknown = sorted(set(spec) - set(LMConfig.__dataclass_fields__))
        if unknown:
            raise ValueError(f"perplexity: unknown train option(s) {unknown}; valid: texts, text_field, "
                             f"{sorted(LMConfig.__dataclass_fields__)}")
        return [texts] if isinstance(texts, str) else list(texts), text_field, LMConfig(**spec)

    def before_run(self) -> dict:
        if os.path.exists(self.model_path):
            return {"trained": False}
        if not self.params.train:
            raise FileNotFoundError(f"perplexity: model not found: {self.model_path} (train one with "
                                    "`jinglian perplexity train`, or name its sources in the stage's `train`)")
        paths, text_field, config = self._train_args()
        texts = read_texts([self.context.resolve(p) for p in paths], text_field)
        model = CharNgramLM.train(texts, config)
        model.save(self.model_path)
        return {"trained": True, "texts": len(texts), "ngrams": [len(t["keys"]) for t in model.tables]}

    def setup(self) -> None:
        self._model = CharNgramLM.load(self.model_path)

    def process(self, batch: pa.Table) -> pa.Table:
        ppl = self._model.perplexity(batch[D.TEXT].to_pylist())
        column = pa.array(ppl, pa.float64())
        batch = D.set_column(batch, COLUMN, column)
        if self.params.max_perplexity is None:
            return batch
        return D.reject(batch, ppl > self.params.max_perplexity, REASON, ppl)
