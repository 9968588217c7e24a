"""PII detectors: precision and recall per type on the labelled set (tests/pii_cases.py), findings on real
Chinese web text, and throughput, for three implementations measured in one run:

- ours: ``jinglian.stages.pii.find_pii``;
- previous: the detectors as they were before issue 15 (``jinglian/stages/pii.py`` at commit 062c6ff, read
  with ``git show``; skipped outside a git checkout);
- plain regex set: one unchecked regular expression per type, no checksums and no context, the approach of
  datatrove's PIIFormatter (which covers e-mail and IP only) extended to the Chinese types.

The labelled set has three splits generated from different seeds and sentence templates: ``tune`` was
used while writing the detectors, ``report`` and ``fresh`` were held out (see tests/pii_cases.py for what
each found when first measured).

    python benchmarks/pii.py [--web-docs 2600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchmarks.common import REPO, print_machine  # noqa: E402
from jinglian.stages.pii import TYPES, find_pii  # noqa: E402
from pii_cases import build_cases, score  # noqa: E402

PREVIOUS_COMMIT = "062c6ff"

_PLAIN = {
    "EMAIL": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "ID_CARD": r"\d{17}[\dXx]",
    "BANK_CARD": r"\d{16,19}",
    "IP": r"(?:\d{1,3}\.){3}\d{1,3}|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
    "PHONE": r"1[3-9]\d{9}|0\d{2,3}-\d{7,8}",
}
_PLAIN_RE = [(typ, re.compile(p)) for typ, p in _PLAIN.items()]


def plain_regex_find(text: str) -> list[tuple[int, int, str]]:
    taken = []
    for typ, pattern in _PLAIN_RE:
        for m in pattern.finditer(text):
            if not any(m.start() < e and s < m.end() for s, e, _ in taken):
                taken.append((m.start(), m.end(), typ))
    return sorted(taken)


def previous_find():
    """``find_pii`` of the detectors before issue 15, or None when git or the commit is not at hand."""
    try:
        source = subprocess.run(["git", "show", f"{PREVIOUS_COMMIT}:jinglian/stages/pii.py"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pii_previous.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("pii_previous", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["pii_previous"] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return module.find_pii


def web_texts(limit: int) -> list[str]:
    """Real Chinese web documents from the bench data, when present."""
    from benchmarks.common import bench_data

    try:
        root = bench_data() / "zh-web-misc"
    except SystemExit:
        return []
    texts = [line.strip() for line in open(root / "CLUECorpusSmall_sampled_2500docs.txt", encoding="utf-8") if line.strip()]
    with open(root / "chinesewebtext_cc2021-43_cleared1_100docs.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["raw_content"] for line in f if line.strip()]
    return texts[:limit]


def quiet_texts() -> dict[str, list[str]]:
    """Bench-data text where personal data is not expected: laws, encyclopedia paragraphs, a programming
    book (dates, article numbers, formulas, code): every finding there is worth a look."""
    import gzip

    from benchmarks.common import bench_data

    try:
        root = bench_data()
    except SystemExit:
        return {}
    with gzip.open(root / "zh-laws-lawrefbook" / "laws.jsonl.gz", "rt", encoding="utf-8") as f:
        laws = [json.loads(line)["text"] for line in f][:1500]
    with open(root / "zh-wiki-mrc" / "unique_wiki_paragraphs.jsonl", encoding="utf-8") as f:
        wiki = [json.loads(line) for line in f]
    with open(root / "zh-tech-d2l" / "d2l-zh_chapters.jsonl", encoding="utf-8") as f:
        d2l = [json.loads(line) for line in f]
    def as_text(record) -> str:
        return record if isinstance(record, str) else record.get("text") or record.get("context") or ""

    return {"zh-laws (1,500)": laws, f"zh-wiki-mrc ({len(wiki):,})": [as_text(x) for x in wiki],
            f"d2l-zh chapters ({len(d2l)})": [as_text(x) for x in d2l]}


def accuracy_table(name: str, split: str, find) -> dict:
    result = score(build_cases(split), find)
    print(f"\n{name}, split {split}:")
    print("| type | planted | caught | recall | findings | on PII | precision |")
    print("|---|---|---|---|---|---|---|")
    for typ in TYPES:
        r = result.get(typ, {"planted": 0, "caught": 0, "recall": 1.0, "found": 0, "right": 0, "precision": 1.0})
        print(f"| {typ} | {r['planted']} | {r['caught']} | {r['recall']:.3f} | {r['found']} | {r['right']} "
              f"| {r['precision']:.3f} |")
    return result


def throughput(finders: dict, texts: list[str], repeat: int) -> dict[str, float]:
    """CPU seconds per implementation, chunks alternating so a load spike hits all of them alike."""
    spent = dict.fromkeys(finders, 0.0)
    chunk = 50
    for _ in range(repeat):
        for i in range(0, len(texts), chunk):
            part = texts[i:i + chunk]
            for name, find in finders.items():
                start = time.process_time()
                for text in part:
                    find(text)
                spent[name] += time.process_time() - start
    return {name: repeat * len(texts) / max(seconds, 1e-9) for name, seconds in spent.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--web-docs", type=int, default=2600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--show-errors", action="store_true", help="print every miss and false finding of ours")
    args = ap.parse_args()
    print_machine()
    finders = {"ours": find_pii}
    previous = previous_find()
    if previous:
        finders[f"previous ({PREVIOUS_COMMIT})"] = previous
    finders["plain regex set"] = plain_regex_find
    cases = build_cases("report")
    print(f"labelled set, per split: {sum(len(c.spans) for c in cases)} planted values, "
          f"{sum(not c.spans for c in cases)} decoy sentences, {len(cases)} sentences")
    for name, find in finders.items():
        for split in (("tune", "report", "fresh") if name == "ours" else ("report", "fresh")):
            result = accuracy_table(name, split, find)
            if name == "ours" and (args.show_errors or split != "tune"):
                for kind, text, found in result["_misses"]:
                    print(f"  miss {kind}: {text}  found={found}")
                for kind, text, value, typ in result["_false_hits"]:
                    print(f"  false {typ} in {kind}: {value!r} in {text}")

    web = web_texts(args.web_docs)
    if web:
        print(f"\nreal Chinese web text ({len(web)} docs, bench data zh-web-misc): findings per type")
        for name, find in finders.items():
            counts: dict[str, int] = {}
            for text in web:
                for _, _, typ in find(text):
                    counts[typ] = counts.get(typ, 0) + 1
            print(f"- {name}: {dict(sorted(counts.items()))}")
    quiet = quiet_texts()
    if quiet:
        print("\nfindings on bench text where personal data is not expected:")
        for corpus, texts in quiet.items():
            line = []
            for name, find in finders.items():
                counts: dict[str, int] = {}
                for text in texts:
                    for _, _, typ in find(text):
                        counts[typ] = counts.get(typ, 0) + 1
                line.append(f"{name} {dict(sorted(counts.items()))}")
            print(f"- {corpus}: " + "; ".join(line))
    texts = web or [c.text for c in cases] * 20
    what = f"{len(texts)} real web docs" if web else f"{len(texts)} labelled sentences (bench data absent)"
    rates = throughput(finders, texts, args.repeat)
    print(f"\nthroughput on {what}, x{args.repeat}, CPU time per core:")
    for name, rate in rates.items():
        ratio = rate / rates["ours"]
        print(f"- {name}: {rate:,.0f} docs/s ({ratio:.2f}x ours)")


if __name__ == "__main__":
    main()
