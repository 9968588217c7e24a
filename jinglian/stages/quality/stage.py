"""The ``quality`` stage: score every document with the fastText classifier, reject below a threshold.

A streaming stage. A job can train its own model: when ``model`` does not
exist and ``train`` names positive and negative sources, ``before_run`` trains
it once on the driver, before any segment starts, and reports the held-out
metrics in stats.json. Training reads those sources, never the pipeline's rows,
so it needs no barrier (which would cost a whole extra pass over the data).
An existing model is reused as it is (a resumed run keeps the model its first
run trained). A missing model without ``train`` is an error before any row is
read; each worker loads the model once in ``setup()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage
from jinglian.stages.fasttext_file import check_fasttext_file
from jinglian.stages.quality.model import QualityModel, TrainConfig, train
from jinglian.stages.quality.sources import read_texts

SCORE = "quality_score"


@dataclass
class QualityParams:
    # fastText model file (relative paths resolve against the job file's directory).
    model: str = "quality.bin"
    # Documents scoring below this probability of "high quality" are rejected (quality:below_threshold).
    threshold: float = 0.5
    # Train `model` when it is missing: {"positive": [paths], "negative": [paths], "text_field": "text",
    # and any TrainConfig field, e.g. "epoch": 15}. Empty: the model must exist.
    train: dict = field(default_factory=dict)


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class QualityStage(Stage):
    name: ClassVar[str] = "quality"
    Params: ClassVar[type] = QualityParams

    def __init__(self, params=None, context=None):
        super().__init__(params, context)
        if not 0.0 <= self.params.threshold <= 1.0:
            raise ValueError(f"quality: threshold must be in [0, 1], got {self.params.threshold}")
        if self.params.train:
            self._train_args()  # validate early
        self._model: QualityModel | None = None

    @property
    def model_path(self) -> str:
        return self.context.resolve(self.params.model)

    def _train_args(self) -> tuple[list[str], list[str], str, TrainConfig]:
        spec = dict(self.params.train)
        pos, neg = spec.pop("positive", None), spec.pop("negative", None)
        text_field = spec.pop("text_field", "text")
        if not pos or not neg:
            raise ValueError("quality: train needs 'positive' and 'negative' source paths")
        valid = set(TrainConfig.__dataclass_fields__)
        unknown = sorted(set(spec) - valid)
        if unknown:
            raise ValueError(f"quality: unknown train option(s) {unknown}; valid: positive, negative, text_field, "
                             f"{sorted(valid)}")
        return _as_list(pos), _as_list(neg), text_field, TrainConfig(**spec)

    def before_run(self) -> dict:
        if os.path.exists(self.model_path):
            return {"trained": False}
        if not self.params.train:
            raise FileNotFoundError(f"quality: model not found: {self.model_path} (train one with "
                                    "`jinglian quality train`, or name its sources in the stage's `train`)")
        pos, neg, text_field, config = self._train_args()
        positives = read_texts([self.context.resolve(p) for p in pos], text_field)
        negatives = read_texts([self.context.resolve(p) for p in neg], text_field)
        model, held_out = train(positives, negatives, config)
        model.save(self.model_path)
        stats = {"trained": True, "positives": len(positives), "negatives": len(negatives)}
        if held_out is not None:
            stats["held_out"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(held_out).items()}
        return stats

    def check(self) -> None:
        # A missing model with `train` is trained by before_run (its sources may be generated inputs, made later).
        if os.path.exists(self.model_path) or not self.params.train:
            check_fasttext_file(self.model_path, "quality: model")

    def setup(self) -> None:
        self._model = QualityModel.load(self.model_path)

    def process(self, batch: pa.Table) -> pa.Table:
        scores = self._model.score(batch[D.TEXT].to_pylist())
        column = pa.array(scores, pa.float64())
        batch = D.set_column(batch, SCORE, column)
        return D.reject(batch, scores < self.params.threshold, "quality:below_threshold", scores)
