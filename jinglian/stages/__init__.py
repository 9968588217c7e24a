"""Stage registry: job-file name -> "module:Class" (imported only when a job uses it)."""

from __future__ import annotations

import importlib

STAGES: dict[str, str] = {
    "crawl": "jinglian.stages.crawl.stage:CrawlStage",
    "extract": "jinglian.stages.extract.stage:ExtractStage",
    "langid": "jinglian.stages.langid.stage:LangIdStage",
    "tokenize": "jinglian.stages.tokenize.stage:TokenizeStage",
    "normalize": "jinglian.stages.normalize:NormalizeStage",
    "dedup": "jinglian.stages.dedup:DedupStage",
    "clean_lines": "jinglian.stages.clean_lines:CleanLinesStage",
    "filter": "jinglian.stages.filter:FilterStage",
    "quality": "jinglian.stages.quality.stage:QualityStage",
    "perplexity": "jinglian.stages.perplexity.stage:PerplexityStage",
    "pii": "jinglian.stages.pii:PiiStage",
    "train_tokenizer": "jinglian.stages.tokenizer_training:TrainTokenizerStage",
}


def stage_class(name: str):
    module, cls = STAGES[name].split(":")
    return getattr(importlib.import_module(module), cls)
