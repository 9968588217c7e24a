"""``normalize``: make text well-formed before anything measures it.

Unicode normalisation (NFC by default: NFKC would also fold full-width
punctuation, which Chinese rules want to see), removal of control and
zero-width characters, unified line endings, trailing spaces and runs of blank
lines collapsed. A document left with no visible text is rejected
(``normalize:empty``) rather than passed on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage

# C0/C1 controls except \t and \n, plus zero-width and BOM characters.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u2060\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t\u3000]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass
class NormalizeParams:
    form: Literal["NFC", "NFKC", "none"] = "NFC"  # Unicode normalisation form
    max_blank_lines: int = 1  # runs of blank lines are cut to this many
    min_chars: int = 1  # fewer visible characters than this: rejected as empty


class NormalizeStage(Stage):
    name = "normalize"
    Params = NormalizeParams

    def process(self, batch: pa.Table) -> pa.Table:
        texts = [self.normalize(t or "") for t in batch[D.TEXT].to_pylist()]
        visible = np.array([len(t.strip()) for t in texts])
        batch = batch.set_column(batch.schema.get_field_index(D.TEXT), D.TEXT, pa.array(texts, pa.string()))
        return D.reject(batch, visible < self.params.min_chars, "normalize:empty", visible.astype(float))

    def normalize(self, text: str) -> str:
        if self.params.form != "none":
            text = unicodedata.normalize(self.params.form, text)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _INVISIBLE.sub("", text)
        text = _TRAILING_SPACE.sub("\n", text)
        text = _BLANK_RUNS.sub("\n" * (self.params.max_blank_lines + 1), text)
        return text.strip()
