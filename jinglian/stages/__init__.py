"""Registries of what a job file names: stages and input generators, name -> "module:attribute" (imported only when a job uses it)."""

from __future__ import annotations

import importlib

STAGES: dict[str, str] = {
    "crawl": "jinglian.stages.crawl.stage:CrawlStage",
    "extract": "jinglian.stages.extract.stage:ExtractStage",
    "langid": "jinglian.stages.langid.stage:LangIdStage",
    "tokenize": "jinglian.stages.token_shards.stage:TokenizeStage",
    "normalize": "jinglian.stages.normalize:NormalizeStage",
    "dedup": "jinglian.stages.dedup:DedupStage",
    "clean_lines": "jinglian.stages.clean_lines:CleanLinesStage",
    "filter": "jinglian.stages.filter:FilterStage",
    "quality": "jinglian.stages.quality.stage:QualityStage",
    "perplexity": "jinglian.stages.perplexity.stage:PerplexityStage",
    "pii": "jinglian.stages.pii:PiiStage",
    "train_tokenizer": "jinglian.stages.train_tokenizer:TrainTokenizerStage",
}

# Inputs a job can ask to be made (``input: [{..., generate: <name>}]``): ``function(name, directory)``
# runs once on the driver before the inputs are read and returns an object to close() when the job
# ends (a server), or None. The engine knows them only through this table.
GENERATORS: dict[str, str] = {
    "demo": "jinglian.demo.inputs:prepare_inputs",
    "demo-site": "jinglian.demo.inputs:prepare_inputs",
}


def generator(name: str):
    """The function of a registered input generator."""
    module, attr = GENERATORS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def stage_class(name: str):
    """The class of a registered stage, or of a plugin stage named by its import path ``package.module:Class``."""
    module, cls = STAGES.get(name, name).split(":")
    return getattr(importlib.import_module(module), cls)


def is_plugin_name(name: str) -> bool:
    """A stage outside the registry, named ``package.module:Class`` (importable on every worker)."""
    module, _, cls = name.partition(":")
    return bool(module and cls) and all(part.isidentifier() for part in (*module.split("."), cls))
