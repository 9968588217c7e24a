"""The peer row of benchmarks/genres.py: FineWeb-2's Chinese (``cmn_Hani``) filters through datatrove.

A module of its own, importing nothing of jinglian, so that it also runs in an interpreter that has
datatrove but not our dependencies (the venv of benchmarks/scale.py's datatrove side):

    PYTHON_WITH_DATATROVE benchmarks/genres_peer.py TEXTS.json   # prints one JSON list of reasons
"""

from __future__ import annotations

import json
import sys


def fineweb2_cmn_filters():
    """FineWeb-2's filtering step for Chinese, as its pipeline script builds it from configs/cmn_Hani.yml
    (github.com/huggingface/fineweb-2: fineweb-2-pipeline.py, step 5; values below from the yml)."""
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    stop = ["的", "年", "在", "月", "是", "和", "日", "了", "於", "·", "為", "有", "被", "人", "中", "为", "他", "與",
            "後", "也", "而", "由"]
    return [
        GopherRepetitionFilter(language="cmn_Hani", dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
                               dup_line_frac=0.287, top_n_grams=((2, 0.256), (3, 0.201), (4, 0.171)),
                               dup_n_grams=((5, 0.198), (6, 0.182), (7, 0.167), (8, 0.154), (9, 0.14), (10, 0.127))),
        FineWebQualityFilter(language="cmn_Hani", short_line_thr=999, char_duplicates_ratio=0.1,
                             line_punct_thr=0.106, new_line_ratio=0.178),
        GopherQualityFilter(language="cmn_Hani", max_avg_word_length=5, min_avg_word_length=1, stop_words=stop,
                            max_non_alpha_words_ratio=0.735, min_stop_words=2),
    ]


def peer_keeps(texts: list[str]) -> list[str | None]:
    """For each text: None when FineWeb-2's cmn_Hani filters keep it, else the first failing filter's reason."""
    from datatrove.data import Document

    filters = fineweb2_cmn_filters()
    out = []
    for i, text in enumerate(texts):
        reason = None
        for f in filters:
            verdict = f.filter(Document(text=text, id=str(i)))
            ok, why = verdict if isinstance(verdict, tuple) else (verdict, "")
            if not ok:
                reason = f"{type(f).__name__}:{why}"
                break
        out.append(reason)
    return out


def peer_keeps_in(python: str, texts: list[str]) -> list[str | None]:
    """:func:`peer_keeps` run by another interpreter (one that has datatrove and its Chinese word tokenizer)."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    try:
        out = subprocess.run([python, __file__, f.name], check=True, capture_output=True, text=True).stdout
    finally:
        Path(f.name).unlink()
    return json.loads(out.splitlines()[-1])  # the tokenizer may log to stdout before the result


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as texts_file:
        print(json.dumps(peer_keeps(json.load(texts_file)), ensure_ascii=False))
