"""The ``filter`` stage: heuristic quality rules, one adapter over an Arrow batch.

Rule sets live in their own modules (:mod:`encoding`, :mod:`gopher_quality`,
:mod:`gopher_repetition`, :mod:`c4`, :mod:`fineweb`, :mod:`chinese`); each rule
is a plain function of one document's :class:`TextStats`. This adapter computes
the statistics once per document, routes it to the rule sets meant for its
script, and writes the first failure as ``reason = "filter:<set>.<rule>"`` with
the measured value in ``reason_value``.

Routing: every rule set has a default audience (the English sets judge non-CJK
documents, ``chinese`` judges CJK documents, ``encoding`` judges all), overridable per set with
``apply_to``. A document is CJK when its ``lang`` column says zh/ja/ko, or,
where ``lang`` is absent or null, when CJK characters make up at least
``cjk_ratio`` of its letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage
from jinglian.stages.filter import c4, chinese, encoding, fineweb, gopher_quality, gopher_repetition
from jinglian.stages.filter.rules import RuleSet
from jinglian.stages.filter.text_stats import TextStats

RULESETS: dict[str, RuleSet] = {
    m.RULESET.name: m.RULESET for m in (encoding, gopher_quality, gopher_repetition, c4, fineweb, chinese)
}
DEFAULT_RULESETS = ("encoding", "gopher_quality", "gopher_repetition", "c4", "fineweb", "chinese")
ROUTES = ("cjk", "non_cjk", "all")
CJK_LANG_PREFIXES = ("zh", "ja", "ko", "cmn", "yue", "wuu", "lzh", "jpn", "kor")


@dataclass
class FilterParams:
    # Rule sets to apply, in order (the first failing rule names the reason).
    rulesets: list[str] = field(default_factory=lambda: list(DEFAULT_RULESETS))
    # Per-rule-set threshold overrides: {rule_set: {threshold: value}}; unknown names are an error.
    thresholds: dict = field(default_factory=dict)
    # Per-rule-set routing overrides: {rule_set: "cjk" | "non_cjk" | "all"}.
    apply_to: dict = field(default_factory=dict)
    # Share of CJK characters among letters that makes a document CJK when `lang` is absent.
    cjk_ratio: float = 0.3
    # Column holding a language code (e.g. from langid); null or missing -> decide by cjk_ratio.
    lang_column: str = "lang"


class FilterStage(Stage):
    name: ClassVar[str] = "filter"
    Params: ClassVar[type] = FilterParams

    def __init__(self, params=None, context=None):
        super().__init__(params, context)
        p = self.params
        unknown = [r for r in p.rulesets if r not in RULESETS]
        unknown += [r for r in list(p.thresholds) + list(p.apply_to) if r not in p.rulesets]
        if unknown:
            raise ValueError(f"filter: unknown or unselected rule set(s) {sorted(set(unknown))}; "
                             f"selected: {p.rulesets}, available: {sorted(RULESETS)}")
        bad_routes = {k: v for k, v in p.apply_to.items() if v not in ROUTES}
        if bad_routes:
            raise ValueError(f"filter: apply_to values must be one of {ROUTES}, got {bad_routes}")
        # (rule set, configured thresholds, route) in the order given.
        self._plan = [(RULESETS[r], RULESETS[r].configure(p.thresholds.get(r)),
                       p.apply_to.get(r, RULESETS[r].applies_to)) for r in p.rulesets]

    def process(self, batch: pa.Table) -> pa.Table:
        texts = batch[D.TEXT].to_pylist()
        langs = (batch[self.params.lang_column].to_pylist() if self.params.lang_column in batch.column_names
                 else [None] * len(texts))
        mask = np.zeros(len(texts), dtype=bool)
        reasons: list[str | None] = [None] * len(texts)
        values: list[float | None] = [None] * len(texts)
        for i, (text, lang) in enumerate(zip(texts, langs)):
            verdict = self.judge(text, lang)
            if verdict is not None:
                mask[i] = True
                reasons[i], values[i] = verdict
        return D.reject(batch, mask, reasons, values)

    def judge(self, text: str | None, lang: str | None = None) -> tuple[str, float] | None:
        """(reason, value) of the first failing rule for one document, or None when it is kept."""
        is_cjk = lang.lower().startswith(CJK_LANG_PREFIXES) if lang else None
        return self.judge_stats(TextStats(text or "", is_cjk=is_cjk, cjk_threshold=self.params.cjk_ratio))

    def judge_stats(self, stats: TextStats) -> tuple[str, float] | None:
        """As :meth:`judge`, on statistics already computed (shared with other rule evaluations)."""
        self.count("docs_by_script", "cjk" if stats.is_cjk else "non_cjk")
        for ruleset, thresholds, route in self._plan:
            if route != "all" and (route == "cjk") != stats.is_cjk:
                continue
            verdict = ruleset.judge(stats, thresholds)
            if verdict is not None:
                return f"filter:{ruleset.name}.{verdict.rule}", verdict.value
        return None

    def counters(self) -> dict:
        """Documents judged per script."""
        return {"docs_by_script": {"cjk": 0, "non_cjk": 0}}
