"""Publishing a run to the Hugging Face Hub as a dataset repository.

What goes up: the card and its plots, the kept documents (``docs/``),
``stats.json``, token shards and the tokenizer when the run has them. Rejected
and failed documents stay local unless asked for: they were removed before
any redaction step saw them. The token comes from huggingface_hub's standard
places (``HF_TOKEN``, the saved login) and is handed to ``HfApi`` only; this
module never prints it.

Publishing is the one step that cannot be taken back, so it is guarded: the
repository is created private unless asked otherwise, and before anything is
sent a sample of the documents that would go up is scanned with the ``pii``
stage's detectors. A run in which no ``pii`` stage ran, or a sample in which
personal data is found, is refused unless ``allow_pii`` is set; the refusal
names the types, their counts and example document ids, never the data.
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from jinglian.cards.card import build_card
from jinglian.stages.pii import find_pii, redact

PUBLISHED = ["README.md", "stats.json", "report/*.png", "docs/*.parquet", "tokens/**/*", "tokenizer/**/*"]
AUDIT = ["rejected/*.parquet", "errors/*.parquet"]
# Beyond this many bytes or files a single commit is fragile; older huggingface_hub releases offer
# upload_large_folder (resumable, many commits), newer ones do the same inside upload_folder.
LARGE_BYTES = 5 << 30
LARGE_FILES = 1000


HUB_TIMEOUT_S = 300.0  # longest silence from the Hub on one connect/read/write before giving up
PII_SAMPLE_DOCS = 10_000  # documents scanned before publishing (about 2 s at 5,000 docs/s)
EXAMPLE_IDS = 3  # document ids named per PII type in a refusal


class PublishError(RuntimeError):
    """Publishing cannot start (no token, nothing to upload, personal data found, Hub unreachable)."""


class HubUnreachable(PublishError):
    """The connection to the Hub failed below HTTP: refused, reset, timed out, name not resolved."""


@dataclass
class PiiScan:
    """What the pre-publish scan saw: how many documents, and personal data per type (counts and doc ids)."""

    pii_stage_ran: bool
    scanned: int = 0
    total: int = 0
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)  # type -> first document ids

    @property
    def clean(self) -> bool:
        return self.pii_stage_ran and not self.counts

    def describe(self) -> str:
        """One paragraph for the user; names types, counts and document ids, never a finding's text."""
        parts = []
        if not self.pii_stage_ran:
            parts.append("no `pii` stage ran in this run")
        found = "; ".join(f"{typ} x{n} (documents {', '.join(self.examples[typ])})"
                          for typ, n in sorted(self.counts.items()))
        parts.append(f"scanned {self.scanned:,} of {self.total:,} documents to publish: "
                     + (f"personal data found: {found}" if found else "no personal data found"))
        return "; ".join(parts)


@dataclass
class UploadFile:
    path: str  # relative to the run directory, also the path in the repository
    size: int


def files_to_upload(run_dir: str, include_rejected: bool = False) -> list[UploadFile]:
    found = set()
    for pattern in PUBLISHED + (AUDIT if include_rejected else []):
        for path in glob.glob(os.path.join(run_dir, pattern), recursive=True):
            rel = os.path.relpath(path, run_dir).replace(os.sep, "/")
            if os.path.isfile(path) and not any(part.startswith(".") or ".tmp-" in part for part in rel.split("/")):
                found.add(rel)
    return [UploadFile(rel, os.path.getsize(os.path.join(run_dir, rel))) for rel in sorted(found)]


def _pii_stage_ran(run_dir: str) -> bool:
    try:
        with open(os.path.join(run_dir, "stats.json"), encoding="utf-8") as f:
            stages = json.load(f).get("stages", [])
    except (OSError, ValueError):
        return False
    return any("pii" in str(stage.get("name", "")) for stage in stages)


def _quotas(sizes: list[int], sample: int) -> list[int]:
    """Rows to read from each row group: ``sample`` in all (or everything), shared as evenly as the
    group sizes allow, so a sample of a large run touches every part file rather than the first."""
    quotas = [0] * len(sizes)
    left = sample
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    for k, i in enumerate(order):
        share = -(-left // (len(order) - k))  # ceiling: small groups leave their unused share to the rest
        quotas[i] = min(sizes[i], share)
        left -= quotas[i]
    return quotas


def scan_for_pii(run_dir: str, files: list[UploadFile], sample: int = PII_SAMPLE_DOCS) -> PiiScan:
    """Scan up to ``sample`` documents of the Parquet files among ``files`` with the pii detectors,
    the same number from every row group where they have it."""
    scan = PiiScan(_pii_stage_ran(run_dir))
    groups = []  # (relative path, row group, rows)
    for f in files:
        if not f.path.endswith(".parquet"):
            continue
        meta = _parquet(run_dir, f.path).metadata
        if "text" not in meta.schema.names:
            continue
        groups += [(f.path, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
        scan.total += meta.num_rows
    for (rel, group, _), quota in zip(groups, _quotas([g[2] for g in groups], sample)):
        if not quota:
            continue
        pf = _parquet(run_dir, rel)
        columns = ["id", "text"] if "id" in pf.schema_arrow.names else ["text"]
        row = 0
        for batch in pf.iter_batches(batch_size=min(quota, 1024), row_groups=[group], columns=columns):
            ids = batch.column("id").to_pylist() if "id" in columns else [None] * batch.num_rows
            for doc_id, text in zip(ids, batch.column("text").to_pylist()):
                if row >= quota:
                    break
                scan.scanned += 1
                findings = find_pii(text or "")
                for _, _, typ in findings:
                    scan.counts[typ] += 1
                for typ in dict.fromkeys(t for _, _, t in findings):
                    names = scan.examples.setdefault(typ, [])
                    if len(names) < EXAMPLE_IDS:
                        # an id could itself hold personal data (a URL with a phone number): redact it too
                        names.append(redact(str(doc_id))[0] if doc_id is not None else f"{rel}#{group}:{row}")
                row += 1
            if row >= quota:
                break
    return scan


def _parquet(run_dir: str, rel: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(os.path.join(run_dir, rel))
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise PublishError(f"{rel}: cannot be read for the PII check ({exc}); nothing was published") from None


def _network_failure(exc: BaseException) -> bool:
    """A connection that failed below HTTP (refused, reset, timed out, DNS), whatever the HTTP client."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"HfHubHTTPError", "HTTPStatusError"}:  # the Hub answered (these are OSErrors too)
        return False
    return isinstance(exc, (ConnectionError, TimeoutError)) or bool(
        names & {"TransportError", "ConnectionError", "Timeout", "TimeoutException", "gaierror"})


def _bound_waits(seconds: float):
    """Bound every connect, read and write of huggingface_hub's shared HTTP client to ``seconds``
    (its default is to wait forever on a silent server); per operation, so a long upload that keeps
    moving is never cut. Returns the function that puts the previous setting back."""
    from huggingface_hub import get_session

    session = get_session()
    previous = getattr(session, "timeout", None)
    if previous is None or not hasattr(previous, "read"):  # a client without httpx-style timeouts
        return lambda: None
    session.timeout = type(previous)(seconds)

    def restore() -> None:
        session.timeout = previous

    return restore


def human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} B" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def publish(
    run_dir: str,
    repo_id: str,
    private: bool = True,
    dry_run: bool = False,
    endpoint: str | None = None,
    include_rejected: bool = False,
    license: str = "other",
    cjk_font: str | bool | None = True,
    allow_pii: bool = False,
    pii_sample: int = PII_SAMPLE_DOCS,
    timeout_s: float = HUB_TIMEOUT_S,
    log=print,
    storage_options: dict | None = None,
) -> list[UploadFile]:
    """Build the card for ``repo_id``, scan for personal data, then upload (or, with ``dry_run``, list)
    the files; return them. Raises :class:`PublishError` when the scan refuses or the Hub is unreachable.
    A bucket run (``s3://…``) is fetched by its markers into a temporary directory and published from there."""
    from jinglian.cards.bucket_run import fetched_run, is_bucket_run

    args = dict(private=private, dry_run=dry_run, endpoint=endpoint, include_rejected=include_rejected, license=license,
                cjk_font=cjk_font, allow_pii=allow_pii, pii_sample=pii_sample, timeout_s=timeout_s, log=log)
    if not is_bucket_run(run_dir):
        return _publish(run_dir, repo_id, name=os.path.basename(os.path.abspath(run_dir)), **args)
    if pii_sample < 1:  # before anything is fetched
        raise PublishError("--pii-sample must be at least 1 (--allow-pii publishes whatever the scan finds)")
    kinds = ("docs", "rejected", "errors") if include_rejected else ("docs", "rejected")  # the card reads rejected/
    with fetched_run(run_dir, storage_options, kinds=kinds) as (_, cache):
        return _publish(cache, repo_id, name=run_dir.rstrip("/").rsplit("/", 1)[-1], **args)


def _publish(run_dir: str, repo_id: str, name: str, private: bool, dry_run: bool, endpoint: str | None,
             include_rejected: bool, license: str, cjk_font, allow_pii: bool, pii_sample: int, timeout_s: float,
             log) -> list[UploadFile]:
    from huggingface_hub import HfApi, constants, get_token

    if pii_sample < 1:
        raise PublishError("--pii-sample must be at least 1 (--allow-pii publishes whatever the scan finds)")
    token = None if dry_run else get_token()
    if not dry_run and not token:
        raise PublishError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    # Scanned before the card is built: an unreadable part file is reported here, in one line.
    scan = scan_for_pii(run_dir, files_to_upload(run_dir, include_rejected), pii_sample)
    _, card_path = build_card(run_dir, license=license, repo_id=repo_id, cjk_font=cjk_font)
    log(f"card: {card_path}")
    files = files_to_upload(run_dir, include_rejected)
    if not files:
        raise PublishError(f"{run_dir}: nothing to upload")
    total = sum(f.size for f in files)
    visibility = "private" if private else "public"
    verb = "would upload" if dry_run else "uploading"
    log(f"{verb} {len(files)} files ({human_size(total)}) to dataset {repo_id} ({visibility})")
    for f in files:
        log(f"  {f.path}  {human_size(f.size)}")
    if not scan.clean:
        if not allow_pii:
            raise PublishError(f"publishing {'would be ' if dry_run else ''}refused: {scan.describe()}. "
                               "Add a `pii` stage to the job and re-run it, or pass --allow-pii to publish anyway.")
        log(f"warning: publishing with --allow-pii: {scan.describe()}")
    else:
        log(f"PII check: {scan.describe()}")
    if dry_run:
        return files
    api = HfApi(endpoint=endpoint, token=token)
    restore = _bound_waits(timeout_s)
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        patterns = [f.path for f in files]
        if (total > LARGE_BYTES or len(files) > LARGE_FILES) and hasattr(api, "upload_large_folder"):
            api.upload_large_folder(repo_id=repo_id, folder_path=run_dir, repo_type="dataset", allow_patterns=patterns,
                                    private=private)
        else:
            api.upload_folder(repo_id=repo_id, folder_path=run_dir, repo_type="dataset", allow_patterns=patterns,
                              commit_message=f"jinglian: publish {name}")
    except Exception as exc:
        if not _network_failure(exc):
            raise
        where = endpoint or constants.ENDPOINT
        if "Timeout" in type(exc).__name__ or isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout_s:g} s (--timeout)"
        else:
            reason = str(exc).strip() or type(exc).__name__
        raise HubUnreachable(f"cannot reach the Hub at {where}: {reason}") from None
    finally:
        restore()
    log(f"published: {url}")
    return files
