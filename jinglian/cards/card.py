"""The dataset card (README.md) of a run, following the Hugging Face Hub's conventions.

Metadata (YAML front matter) goes through ``huggingface_hub.DatasetCardData``
and is parsed back before the card is written, so a card that the Hub would
not read is never produced. Every number in the text is copied from
``stats.json`` or the token manifest (see :mod:`jinglian.cards.rundata`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from jinglian.cards.plots import Plot, write_plots
from jinglian.cards.rundata import UNKNOWN_LANG, RunData, load_run, token_sources, token_total
from jinglian.core.atomic import atomic_path
from jinglian.stages.token_shards.stage import source_dir

SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
]
_LANG_CODE = re.compile(r"^([a-z]{2,3})(?:[-_][A-Za-z0-9]+)*$")


@dataclass
class CardOptions:
    """A job file's ``card:`` section (the keyword arguments of :func:`build_card` a job may set)."""

    license: str = "other"  # license identifier in the card metadata (a Hub license id, or "other")
    pretty_name: str | None = None  # dataset name in the card; default: the job's name
    repo_id: str | None = None  # OWNER/NAME on the Hub, used in the loading snippets
    max_docs: int = 200_000  # kept documents measured for the length and score plots


class CardError(ValueError):
    """The card's metadata did not survive a round trip through huggingface_hub."""


def size_category(n: int) -> str:
    for bound, name in SIZE_CATEGORIES:
        if n < bound:
            return name
    return "n>1T"


def hub_languages(langs: dict) -> list[str]:
    """ISO 639 codes of the kept documents' languages, most documents first (``zh_Hans`` -> ``zh``)."""
    out = []
    for lang in sorted(langs, key=lambda k: -langs[k].get("docs", 0)):
        m = _LANG_CODE.match(lang)
        if m and lang not in (UNKNOWN_LANG, "und") and m.group(1) not in out:
            out.append(m.group(1))
    return out


def build_card(
    run_dir: str,
    output: str | None = None,
    license: str = "other",
    pretty_name: str | None = None,
    repo_id: str | None = None,
    cjk_font: str | bool | None = True,
    max_docs: int = 200_000,
    storage_options: dict | None = None,
) -> tuple[DatasetCard, str]:
    """Write the card (default ``RUN_DIR/README.md``) and its plots (``report/`` beside the card); return
    the card and its path. ``run_dir`` may be a bucket run (``s3://…``, read by its markers, see
    :mod:`jinglian.cards.bucket_run`): the card then goes into the bucket unless ``output`` names a file."""
    from jinglian.cards.bucket_run import fetched_run, is_bucket_run, put_card

    options = dict(license=license, pretty_name=pretty_name, repo_id=repo_id, cjk_font=cjk_font, max_docs=max_docs)
    if not is_bucket_run(run_dir):
        return _build_card(run_dir, output, os.path.join(run_dir, "report"), **options)
    with fetched_run(run_dir, storage_options, kinds=("docs", "rejected"), shards=False) as (store, cache):
        if output:
            return _build_card(cache, output, os.path.join(os.path.dirname(os.path.abspath(output)), "report"), **options)
        card, path = _build_card(cache, os.path.join(cache, "README.md"), os.path.join(cache, "report"), **options)
        return card, put_card(store, cache, path)


def _build_card(run_dir: str, output: str | None, report_dir: str, license: str, pretty_name: str | None,
                repo_id: str | None, cjk_font, max_docs: int) -> tuple[DatasetCard, str]:
    data = load_run(run_dir, max_docs=max_docs)
    output = output or os.path.join(run_dir, "README.md")
    plots = write_plots(data, report_dir, cjk_font=cjk_font)
    # Plot paths in the card are relative to the card's own directory.
    card_dir = os.path.dirname(os.path.abspath(output))
    for p in plots:
        p.file = os.path.relpath(os.path.join(run_dir, p.file), card_dir).replace(os.sep, "/")
    metadata = card_metadata(data, license=license, pretty_name=pretty_name)
    body = card_body(data, plots, metadata.pretty_name, repo_id)
    card = DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{body}")
    _check_round_trip(card, metadata)
    with atomic_path(output) as tmp:
        card.save(tmp)
    return card, output


def card_metadata(data: RunData, license: str = "other", pretty_name: str | None = None) -> DatasetCardData:
    langs = hub_languages(data.stats["langs"])
    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "docs/*.parquet"}], "default": True}]
    if data.manifest and data.manifest.get("shards"):
        configs.append({"config_name": "tokens", "data_files": _token_data_files(data.manifest["shards"])})
    fields = dict(
        license=license,
        size_categories=[size_category(data.totals["kept"])],
        task_categories=["text-generation"],
        pretty_name=pretty_name or data.stats["job"]["name"],
        configs=configs,
        tags=["jinglian", "pretraining"],
    )
    if langs:
        fields["language"] = langs
        fields["multilinguality"] = ["multilingual" if len(langs) > 1 else "monolingual"]
    return DatasetCardData(**fields)


def _token_data_files(shards: list[dict]) -> list[dict]:
    """One entry per split: a glob when the shards sit in ``<source>/<split>/``, else the listed files."""
    out = []
    for split in sorted({s["split"] for s in shards}):
        prefixes = [s["prefix"] for s in shards if s["split"] == split]
        if all(p.count("/") == 2 and p.split("/")[1] == split for p in prefixes):
            path = f"tokens/*/{split}/*.bin"
        else:
            path = [f"tokens/{p}.bin" for p in prefixes]
        out.append({"split": split, "path": path})
    return out


def _check_round_trip(card: DatasetCard, metadata: DatasetCardData) -> None:
    parsed = DatasetCard(str(card)).data.to_dict()
    if parsed != metadata.to_dict():
        raise CardError(f"card metadata does not parse back: wrote {metadata.to_dict()}, read {parsed}")


# ---------------------------------------------------------------- body


def card_body(data: RunData, plots: list[Plot], title: str, repo_id: str | None) -> str:
    figures = {os.path.splitext(os.path.basename(p.file))[0]: p for p in plots}
    sections = [
        f"# {title}",
        _summary(data, figures),
        _sources(data),
        _steps(data),
        _statistics(data, figures),
        _deduplication(data, figures),
        _tokenizer(data, figures),
        _pii(data),
        _limitations(data),
        _loading(data, repo_id),
        _reproduce(data),
    ]
    return "\n\n".join(s.strip() for s in sections if s) + "\n"


def _n(v) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v):,}"
    return str(v)


def _table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return _n(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _figure(figures: dict, name: str) -> str:
    p = figures.get(name)
    return f"![{p.title}]({p.file})\n\n*{p.caption}*" if p else ""


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _summary(data: RunData, figures: dict) -> str:
    s, t = data.stats, data.totals
    chars = sum(v.get("chars", 0) for v in s["sources"].values())
    langs = [k for k in s["langs"] if k != UNKNOWN_LANG]
    description = (data.job.get("description") or "").strip()
    lines = [
        "## Summary",
        "",
        *([description, ""] if description else []),
        f"Curated with jinglian job `{s['job']['name']}` (fingerprint `{s['job']['fingerprint']}`): "
        f"**{t['kept']:,}** documents kept ({chars:,} characters) out of **{t['read']:,}** read; "
        f"{t['rejected']:,} rejected by a rule and {t['failed']:,} unreadable or failed "
        f"({_pct(t['kept'], t['read'])} kept). Sources: {', '.join(f'`{k}`' for k in s['sources']) or 'none'}."
        + (f" Languages: {', '.join(f'`{k}`' for k in langs)}." if langs else " Languages were not identified.")
        + (f" Tokens: **{token_total(data.manifest):,}**." if data.manifest else ""),
        "",
        f"Processing steps: {' → '.join(f'`{st.name}`' for st in data.stages) or 'none'}. "
        f"Card generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} from `stats.json`.",
        "",
        _figure(figures, "funnel"),
    ]
    return "\n".join(lines)


def _sources(data: RunData) -> str:
    inputs = data.job.get("input") or []
    rows = []
    for spec in inputs:
        options = {k: v for k, v in spec.items() if k not in ("path", "format", "source")}
        rows.append([f"`{spec.get('path', '')}`", spec.get("format", ""), f"`{spec.get('source', spec.get('format', ''))}`",
                     json.dumps(options, ensure_ascii=False) if options else ""])
    sources = data.stats["sources"]
    out = ["## Sources", ""]
    if rows:
        out += ["Inputs of the job (a record that names its own `source` keeps it):", "",
                _table(["path", "format", "default source", "options"], rows), ""]
    out.append(f"Documents came from {len(sources):,} sources (kept documents in parentheses): "
               + ", ".join(f"`{k}` ({v.get('kept', 0):,})" for k, v in sources.items())
               + ". Outcomes per source are under [Statistics](#per-source).")
    return "\n".join(out)


def _steps(data: RunData) -> str:
    out = ["## Processing steps", "", "Every step of the job in order, with all its parameters (defaults included)."]
    for st in data.stages:
        c = st.stats
        out += ["", f"### {st.index + 1}. `{st.name}`", ""]
        if st.description:
            out += [st.description.replace("``", "`"), ""]
        if st.params:
            rows = [[f"`{k}`", f"`{json.dumps(v, ensure_ascii=False, default=str)}`", "job" if k in st.given else "default", st.help.get(k, "")]
                    for k, v in st.params.items()]
            out += [_table(["parameter", "value", "set by", "meaning"], rows), ""]
        out.append(
            f"In: {c['docs_in']:,} documents; out: {c['docs_out']:,}; rejected: {c['rejected']:,}; failed: {c['failed']:,}"
            + (f"; added: {c['added']:,}" if c["added"] else "")
            + f"; wall time {c['wall_s']:,} s."
        )
        reported = _flatten(c.get("prepare", {})) + _flatten(c.get("extra", {}))
        if reported and st not in data.dedup_stages() + data.pii_stages():
            out += ["", "Reported by the step:", "", _table(["statistic", "value"], [[f"`{k}`", v] for k, v in reported])]
    return "\n".join(out)


def _statistics(data: RunData, figures: dict) -> str:
    s = data.stats
    read = s["read"]["docs"]
    out = ["## Statistics", "", "### Documents per step", ""]
    rows = [[i + 1, f"`{st['name']}`", st["docs_in"], st["docs_out"], st["rejected"], st["failed"], st["added"],
             st["bytes_in"], st["bytes_out"], st["wall_s"]] for i, st in enumerate(s["stages"])]
    out += [_table(["#", "step", "docs in", "docs out", "rejected", "failed", "added", "text bytes in", "text bytes out", "wall s"], rows)]
    t = s["totals"]
    out += ["", f"Totals: read {t['read']:,} = kept {t['kept']:,} + rejected {t['rejected']:,} + failed {t['failed']:,} "
                f"({s['read']['errors']:,} records could not be read)."]
    out += ["", "### Per source", ""]
    tokens = token_sources(data.manifest) if data.manifest else {}
    headers = ["source", "kept", "rejected", "failed", "characters (kept)"] + (["tokens"] if tokens else [])
    rows = []
    for name, v in s["sources"].items():
        row = [f"`{name}`", v.get("kept", 0), v.get("rejected", 0), v.get("failed", 0), v.get("chars", 0)]
        if tokens:
            row.append((tokens.get(source_dir(name)) or {}).get("tokens"))
        rows.append(row)
    out += [_table(headers, rows)]
    out += ["", "### Rejections per rule", ""]
    if s["reasons"]:
        rows = []
        for reason, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1]):
            per_source = data.rejected_by_source.get(reason, {})
            rows.append([f"`{reason}`", f"`{reason.split(':', 1)[0]}`", n, _pct(n, read),
                         ", ".join(f"{k or '(none)'} {v:,}" for k, v in sorted(per_source.items(), key=lambda kv: -kv[1]))])
        out += [_table(["reason", "step", "documents", "share of read", "by source"], rows)]
    else:
        out.append("No document was rejected by a rule.")
    out += ["", _figure(figures, "rejections")]
    out += ["", "### Language mix", ""]
    kept = t["kept"]
    rows = [[f"`{k}`", v.get("docs", 0), v.get("chars", 0), _pct(v.get("docs", 0), kept)]
            for k, v in sorted(s["langs"].items(), key=lambda kv: -kv[1].get("docs", 0))]
    out += [_table(["language", "documents", "characters", "share of kept"], rows) if rows else "No kept documents."]
    out += ["", _figure(figures, "lengths")]
    if "quality" in figures:
        out += ["", "### Quality scores", "", _figure(figures, "quality")]
    return "\n".join(out)


def _flatten(d: dict, depth: int = 2, prefix: str = "") -> list[tuple[str, object]]:
    """Nested statistics as (dotted key, value) rows; deeper levels and lists as compact JSON."""
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth > 1:
            out += _flatten(v, depth - 1, key + ".")
        elif isinstance(v, (dict, list)):
            out.append((key, json.dumps(v, ensure_ascii=False, default=str)[:200]))
        else:
            out.append((key, v))
    return out


def _deduplication(data: RunData, figures: dict) -> str:
    out = ["## Deduplication", ""]
    stages = data.dedup_stages()
    if not stages:
        out.append("No deduplication step ran: the corpus may contain exact and near-duplicate documents.")
        return "\n".join(out)
    for st in stages:
        c = st.stats
        out.append(f"Step `{st.name}` (step {st.index + 1}) removed **{c['rejected']:,}** of {c['docs_in']:,} documents "
                   f"({_pct(c['rejected'], c['docs_in'])}); parameters under [Processing steps](#processing-steps).")
        reasons = [[f"`{r}`", n] for r, n in sorted(c["reasons"].items(), key=lambda kv: -kv[1])]
        if reasons:
            out += ["", _table(["reason", "documents"], reasons)]
        details = _flatten(c.get("prepare", {})) + _flatten(c.get("extra", {}))
        if details:
            out += ["", "Statistics reported by the step:", "", _table(["statistic", "value"], [[f"`{k}`", v] for k, v in details])]
        out.append("")
    if data.cluster_sizes:
        sizes = sorted(data.cluster_sizes)
        clusters = sum(data.cluster_sizes.values())
        removed = sum((k - 1) * v for k, v in data.cluster_sizes.items())
        out += [f"Every removed duplicate names the kept document it resembles (`duplicate_of`). Grouped by that kept "
                f"document, exact and near duplicates together: {clusters:,} clusters, {removed:,} duplicates removed, "
                f"largest cluster {sizes[-1]:,} documents.", "",
                _table(["cluster size", "clusters"], [[k, data.cluster_sizes[k]] for k in sizes[:15]]
                       + ([[f"{sizes[15]:,}–{sizes[-1]:,}", sum(data.cluster_sizes[k] for k in sizes[15:])]] if len(sizes) > 15 else [])),
                "", _figure(figures, "duplicates")]
    return "\n".join(out)


def _tokenizer(data: RunData, figures: dict) -> str:
    out = ["## Tokenizer and token shards", ""]
    if not data.manifest and not data.tokenizer:
        out.append("This run was not tokenized.")
        return "\n".join(out)
    if data.tokenizer:
        tk = data.tokenizer
        out.append(f"`tokenizer/` holds {', '.join(f'`{f}`' for f in tk['files'])}"
                   + (f"; vocabulary size {tk['vocab_size']:,}." if tk["vocab_size"] else "."))
        if tk["sidecar"]:
            rows = [[f"`{k}`", v] for k, v in _flatten(tk["sidecar"])][:40]
            out += ["", "How it was made (`tokenizer/tokenizer.meta.json`):", "", _table(["field", "value"], rows)]
        out.append("")
    if data.manifest:
        m = data.manifest
        total = token_total(m)
        dtypes = sorted({s["dtype"] for s in m.get("shards", [])})
        out.append(f"Token shards in Megatron-LM `IndexedDataset` format (`.bin` + `.idx`) under `tokens/<source>/<split>/`: "
                   f"{token_total(m, 'shards'):,} shards, {token_total(m, 'docs'):,} documents, **{total:,}** tokens"
                   + (f", dtype {', '.join(dtypes)}" if dtypes else "")
                   + f"; {m.get('valid_ratio', 0):.2%} of documents (by a hash of their id) in the `valid` split.")
        if m.get("tokenizer"):
            out += ["", _table(["tokenizer", "value"], [[f"`{k}`", v] for k, v in _flatten(m["tokenizer"])])]
        out += ["", _table(["split", "shards", "documents", "tokens"],
                           [[k, v.get("shards", 0), v.get("docs", 0), v.get("tokens", 0)] for k, v in m.get("totals", {}).items()])]
        per_source = token_sources(m)
        if per_source:
            out += ["", _table(["source", "documents", "tokens", "share of tokens", "blend weight"],
                               [[f"`{k}`", v["docs"], v["tokens"], _pct(v["tokens"], total), v["weight"]] for k, v in per_source.items()])]
        blends = [f"`tokens/{name}` ({split})" for split, name in m.get("blend", {}).items()
                  if os.path.isfile(os.path.join(data.path, "tokens", name))]
        if blends:
            out += ["", f"Blend files for Megatron-LM's `--data-path` (weight, shard prefix, ...): {', '.join(blends)}. "
                        "They hold absolute prefixes of the machine that wrote them: rebuild them after downloading."]
        out += ["", _figure(figures, "tokens")]
    return "\n".join(out)


def _pii(data: RunData) -> str:
    out = ["## PII handling", ""]
    stages = data.pii_stages()
    if not stages:
        out.append("No PII redaction step ran: documents may contain e-mail addresses, phone numbers, ID numbers "
                   "and other personal data as found in the sources.")
        return "\n".join(out)
    for st in stages:
        c = st.stats
        extra = _flatten(c.get("extra", {}))
        out.append(f"Step `{st.name}` (step {st.index + 1}) replaced personal data with typed placeholders in the "
                   f"{c['docs_out']:,} documents it passed on.")
        if extra:
            out += ["", _table(["replacement", "count"], [[f"`{k}`", v] for k, v in extra])]
        out.append("")
    out.append("Redaction is pattern-based: names, postal addresses and identifiers in unusual formats are not caught.")
    return "\n".join(out)


def _limitations(data: RunData) -> str:
    s = data.stats
    items = [
        f"The corpus inherits the topics, registers and viewpoints of its sources ({', '.join(f'`{k}`' for k in s['sources'])}); "
        "it is not a balanced sample of any language or population.",
    ]
    if not [k for k in s["langs"] if k != UNKNOWN_LANG]:
        items.append("No language identification ran: documents of any language may be present.")
    judged = {st.name for st in data.stages if st.stats["rejected"]} - {st.name for st in data.dedup_stages()} - {"normalize"}
    if judged:
        items.append("Heuristic rules and classifiers remove more of some text types than others (dialect, classical "
                     "Chinese, poetry, lists, code, short forum posts); the rejection table shows what each rule of "
                     f"{', '.join(f'`{n}`' for n in sorted(judged))} took.")
    if not data.dedup_stages():
        items.append("Duplicates were not removed.")
    if not data.pii_stages():
        items.append("Personal data was not redacted.")
    if s["read"]["errors"] or data.totals["failed"]:
        items.append(f"{data.totals['failed']:,} documents could not be read or processed and are missing "
                     "(listed with their error under `errors/` in the run directory).")
    items.append("Rejected documents (`rejected/`) are kept in the run directory for audit but not published: "
                 "they were removed before any redaction step saw them.")
    if data.sampled_docs < data.totals["kept"]:
        items.append(f"Length and score distributions were measured on {data.sampled_docs:,} of {data.totals['kept']:,} kept documents.")
    return "\n".join(["## Known limitations and biases", ""] + [f"- {i}" for i in items])


def _loading(data: RunData, repo_id: str | None) -> str:
    columns = _doc_columns(data)
    if repo_id:
        ds = f'ds = load_dataset("{repo_id}", split="train")'
        pl_path = f"hf://datasets/{repo_id}/docs/*.parquet"
    else:  # paths relative to the run directory
        ds = 'ds = load_dataset("parquet", data_files="docs/*.parquet", split="train")'
        pl_path = "docs/*.parquet"
    out = [
        "## How to load",
        "",
        f"Documents are Parquet files under `docs/` with columns {', '.join(f'`{c}`' for c in columns)}.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        ds,
        "",
        "import polars as pl",
        "",
        f'df = pl.read_parquet("{pl_path}")',
        "```",
    ]
    if data.manifest and data.manifest.get("shards"):
        first = data.manifest["shards"][0]["prefix"]
        out += [
            "",
            "Token shards (`tokens/<source>/<split>/*.bin|.idx`) are Megatron-LM `IndexedDataset` files: Megatron-LM reads "
            "them with `--data-path` (see `tokens/manifest.json` for sources, splits and weights), `jinglian shards inspect` "
            "prints them, and they can be read directly:",
            "",
            "```python",
            *(['from huggingface_hub import snapshot_download', "",
               f'root = snapshot_download("{repo_id}", repo_type="dataset", allow_patterns=["tokens/*"])'] if repo_id
              else ['root = "."  # the run directory']),
            "from jinglian.stages.token_shards.indexed import Shard",
            "",
            f'shard = Shard(f"{{root}}/tokens/{first}")',
            "print(len(shard), shard[0][:16])  # documents, first token ids",
            "```",
        ]
    return "\n".join(out)


def _doc_columns(data: RunData) -> list[str]:
    import pyarrow.parquet as pq

    files = data.files("docs/*.parquet")
    if not files:
        return []
    return pq.read_schema(os.path.join(data.path, files[0])).names


def _reproduce(data: RunData) -> str:
    if not data.job:
        return ""
    order = ["name", "description", "input", "output", "stages"]
    job = {k: data.job[k] for k in sorted(data.job, key=lambda k: order.index(k) if k in order else len(order))}
    job = yaml.safe_dump(job, allow_unicode=True, sort_keys=False).strip()
    return "\n".join(["## Reproduce", "", "The job as run (`jinglian run JOB.yaml`):", "", "```yaml", job, "```"])
