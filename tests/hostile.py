"""A hostile input corpus for the reliability tests: broken files of every format, mixed with good documents.

``build(root)`` writes, under ``root``, one directory per reader (jsonl, warc,
html, text). Each good document carries a marker (``good000``, ``good001``,
...) in its text, so a test can find it among the kept documents; each hostile
file is described by a :class:`Planted` entry: what it is and how many records
its reader turns it into (a record is a document or a read error).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import zlib
from dataclasses import dataclass, field

ZH_SENTENCES = [
    "国务院办公厅关于进一步加强城市规划建设管理工作的若干意见，各省、自治区、直辖市人民政府均应认真贯彻执行。",
    "记者从有关部门获悉，今年第一季度全国铁路旅客发送量同比增长百分之十二，创下历史同期新高。",
    "专家指出，城市更新需要兼顾历史文化保护与居民生活改善，不能简单地大拆大建。",
    "这座小城依山傍水，春天的时候满山都是盛开的杜鹃花，吸引了许多外地游客前来观赏。",
    "研究人员在实验室里培育出一种新的水稻品种，它在干旱条件下的产量比传统品种高出三成。",
    "图书馆每周六下午举办读书会，参加的人从小学生到退休老人都有，大家轮流分享自己的心得。",
    "他说自己年轻时在工厂做过学徒，后来自学考上了大学，如今已经是一名经验丰富的工程师。",
    "天气预报显示，未来三天本市将有一次明显的降温过程，请市民注意添加衣物，出行注意安全。",
]
EN_SENTENCES = [
    "The city council met on Tuesday evening to discuss the new budget for public libraries and parks.",
    "Several residents spoke in favour of extending the opening hours, especially during the summer months.",
    "A local teacher explained that many children rely on the library for quiet study space after school.",
    "Others asked whether the money could instead be spent on repairing the old bridge near the river.",
    "The mayor promised that a final decision would be made before the end of the month, after a public survey.",
    "Meanwhile, volunteers have already started planting trees along the main road leading to the station.",
    "They hope the project will make the neighbourhood cooler and more pleasant for people walking to work.",
    "Funding for the trees came from a small grant awarded by a regional environmental foundation last year.",
]
HUGE_LINE_BYTES = 200 << 20
NESTING_LEVELS = 100_000


@dataclass
class Planted:
    """One hostile input: the file holding it, what it is, and the records its reader makes of it."""

    key: str
    path: str
    what: str
    records: int  # records the reader makes of it (documents and read errors), good documents beside it not counted


@dataclass
class Corpus:
    root: str
    inputs: list[dict]  # job `input:` entries
    good: dict[str, str] = field(default_factory=dict)  # marker -> file holding that good document
    planted: dict[str, Planted] = field(default_factory=dict)
    good_files: dict[str, int] = field(default_factory=dict)  # all-good file -> its records

    @property
    def records(self) -> int:
        return sum(p.records for p in self.planted.values()) + sum(self.good_files.values())


class _Builder:
    def __init__(self, root: str):
        self.corpus = Corpus(root=root, inputs=[])
        self.count = 0

    def text(self, lang: str, path: str) -> tuple[str, str]:
        """A fresh good document (marker, text) in ``lang`` that passes the default filter rules."""
        marker = f"good{self.count:03d}"
        self.count += 1
        rng = random.Random(marker)
        if lang == "zh":
            body = "".join(rng.sample(ZH_SENTENCES, 6))
            text = f"编号{marker}。{body}"
        else:
            text = f"Report {marker}. " + " ".join(rng.sample(EN_SENTENCES, 6))
        self.corpus.good[marker] = path
        return marker, text

    def dir(self, name: str, fmt: str) -> str:
        path = os.path.join(self.corpus.root, name)
        os.makedirs(path, exist_ok=True)
        self.corpus.inputs.append({"path": path, "format": fmt, "source": name})
        return path

    def plant(self, key: str, path: str, what: str, records: int) -> None:
        self.corpus.planted[key] = Planted(key, path, what, records)


def html_page(text: str, charset: str = "utf-8", title: str = "page") -> str:
    paragraphs = "".join(f"<p>{s}</p>" for s in text.replace("。", "。\n").replace(". ", ".\n").splitlines())
    return (
        f'<html><head><meta charset="{charset}"><title>{title}</title></head><body>'
        f"<nav><a href='/'>home</a></nav><article>{paragraphs}</article><footer>(c) 2024</footer></body></html>"
    )


def warc_response(url: str, body: bytes, content_type: str = "text/html; charset=utf-8", length_delta: int = 0) -> bytes:
    """One WARC response record; ``length_delta`` makes its Content-Length lie."""
    block = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n".encode() + body
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\nWARC-Record-ID: <urn:uuid:{url.rsplit('/', 1)[-1]}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block) + length_delta}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def _lie(record: bytes, following: bytes, lie: str) -> bytes:
    """``record`` with its Content-Length changed: "+N" more, "=N" exactly N, "next" covering ``following``."""
    head, sep, rest = record.partition(b"\r\n\r\n")
    true = len(rest) - 4  # without the record's own CRLF CRLF trailer
    claim = {"+": lambda: true + int(lie[1:]), "=": lambda: int(lie[1:]), "n": lambda: true + 4 + len(following) - 4}[lie[0]]()
    return head.replace(b"Content-Length: %d" % true, b"Content-Length: %d" % claim) + sep + rest


def complete_lines(data: bytes) -> int:
    """Newline-terminated lines that decode from a gzip prefix (what survives truncation)."""
    return zlib.decompressobj(31).decompress(data).count(b"\n")


def build(root: str) -> Corpus:
    b = _Builder(root)
    c = b.corpus

    # --- JSON Lines ---------------------------------------------------------------------------
    d = b.dir("jsonl", "jsonl")
    mixed = os.path.join(d, "mixed.jsonl")
    docs = [b.text(lang, mixed) for lang in ("zh", "en", "zh", "en")]
    with open(mixed, "w", encoding="utf-8") as f:
        for marker, text in docs[:2]:
            f.write(json.dumps({"id": marker, "text": text}, ensure_ascii=False) + "\n")
        f.write('{"id": "broken", "text": "never closed\n')
        f.write(json.dumps({"id": "controls", "text": "\x00\x01\x02\x07\x08\x1b\x7f\x9b\u200b\ufeff"}) + "\n")
        for marker, text in docs[2:]:
            f.write(json.dumps({"id": marker, "text": text}, ensure_ascii=False) + "\n")
    b.plant("jsonl_not_json", mixed, "a JSONL line that is not JSON", 1)
    b.plant("jsonl_control_only", mixed, "a document of only control/zero-width characters", 1)
    c.good_files[mixed] = len(docs)

    good_gz = os.path.join(d, "good.jsonl.gz")
    docs = [b.text(lang, good_gz) for lang in ("zh", "en")]
    with gzip.open(good_gz, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": m, "text": t}, ensure_ascii=False) + "\n" for m, t in docs)
    c.good_files[good_gz] = len(docs)

    cut = os.path.join(d, "truncated.jsonl.gz")
    docs = [b.text("zh" if i % 2 else "en", cut) for i in range(200)]
    data = gzip.compress("".join(json.dumps({"id": m, "text": t}, ensure_ascii=False) + "\n" for m, t in docs).encode())
    data = data[: len(data) // 2]
    with open(cut, "wb") as f:
        f.write(data)
    survivors = complete_lines(data)
    for marker, _ in docs[survivors:]:  # after the cut: gone with the compressed stream
        del c.good[marker]
    b.plant("jsonl_truncated_gzip", cut, f"gzip cut in half ({survivors} whole lines before the cut)", 1)
    c.good_files[cut] = survivors

    empty = os.path.join(d, "empty.jsonl")
    open(empty, "wb").close()
    b.plant("jsonl_empty", empty, "0-byte .jsonl", 0)

    poison = os.path.join(d, "poison.jsonl")
    docs = [b.text(lang, poison) for lang in ("zh", "en", "zh")]
    with open(poison, "w", encoding="utf-8") as f:
        f.write(json.dumps({"id": docs[0][0], "text": docs[0][1]}, ensure_ascii=False) + "\n")
        f.write('{"id": "deep", "text": "x", "meta": ' + "[" * NESTING_LEVELS + "]" * NESTING_LEVELS + "}\n")
        f.write(json.dumps({"id": docs[1][0], "text": docs[1][1]}, ensure_ascii=False) + "\n")
        f.write('{"id": "s", "text": "abc\\ud800def"}\n')  # a JSON escape of a lone surrogate
        f.write(json.dumps({"id": docs[2][0], "text": docs[2][1]}, ensure_ascii=False) + "\n")
    b.plant("jsonl_nested_100k", poison, f"JSON nested {NESTING_LEVELS} deep", 1)
    b.plant("jsonl_lone_surrogate", poison, "a lone surrogate (\\ud800) in the text", 1)
    c.good_files[poison] = len(docs)

    fake = os.path.join(d, "not-zstd.jsonl.zst")
    with open(fake, "w", encoding="utf-8") as f:
        f.write(json.dumps({"id": "plain", "text": EN_SENTENCES[0]}) + "\n")
    b.plant("jsonl_not_zstd", fake, "a .jsonl.zst file that is not zstd", 1)

    huge = os.path.join(d, "huge.jsonl")
    docs = [b.text(lang, huge) for lang in ("zh", "en")]
    with open(huge, "w", encoding="utf-8") as f:
        f.write(json.dumps({"id": docs[0][0], "text": docs[0][1]}, ensure_ascii=False) + "\n")
        f.write('{"text": "')
        block = "垃圾" * (1 << 16)  # 384 KiB of UTF-8 per write: the line is streamed, never held
        for _ in range(-(-HUGE_LINE_BYTES // len(block.encode()))):
            f.write(block)
        f.write('"}\n')
        f.write(json.dumps({"id": docs[1][0], "text": docs[1][1]}, ensure_ascii=False) + "\n")
    b.plant("jsonl_200mb_line", huge, f"one JSONL line of {HUGE_LINE_BYTES >> 20} MiB", 1)
    c.good_files[huge] = len(docs)

    # --- WARC -------------------------------------------------------------------------------
    d = b.dir("warc", "warc")
    good = os.path.join(d, "good.warc.gz")
    zh, en, gbk = b.text("zh", good), b.text("en", good), b.text("zh", good)
    records = [
        warc_response(f"http://zh.example/{zh[0]}", html_page(zh[1]).encode()),
        warc_response(f"http://en.example/{en[0]}", html_page(en[1]).encode()),
        warc_response(f"http://gbk.example/{gbk[0]}", html_page(gbk[1], "gbk").encode("gbk"), "text/html; charset=GBK"),
    ]
    with open(good, "wb") as f:
        f.write(b"".join(gzip.compress(r) for r in records))  # one gzip member per record, as Common Crawl does
    c.good_files[good] = len(records)

    cut = os.path.join(d, "truncated.warc.gz")
    kept = [b.text(lang, cut) for lang in ("zh", "en")]
    members = [gzip.compress(warc_response(f"http://cut.example/{m}", html_page(t).encode())) for m, t in kept]
    lost = gzip.compress(warc_response("http://cut.example/lost", html_page(ZH_SENTENCES[0] * 20).encode()))
    with open(cut, "wb") as f:
        f.write(b"".join(members) + lost[: len(lost) // 2])
    # the cut member yields its partial record as "truncated", then the stream's end is reported
    b.plant("warc_truncated_gzip", cut, "last gzip member cut in half", 2)
    c.good_files[cut] = len(kept)

    noise = os.path.join(d, "random.warc.gz")
    with open(noise, "wb") as f:
        f.write(random.Random(7).randbytes(64 << 10))
    b.plant("warc_random_bytes", noise, "64 KiB of random bytes named .warc.gz", 1)

    empty = os.path.join(d, "empty.warc.gz")
    open(empty, "wb").close()
    b.plant("warc_empty", empty, "0-byte .warc.gz", 0)

    # a lying Content-Length fails its own record (one error); the records after it are all read
    for key, delta, what in (("warc_length_short", -200, "Content-Length 200 bytes too short"),
                             ("warc_length_long", +150, "Content-Length 150 bytes too long (runs into the next record)")):
        path = os.path.join(d, f"{key}.warc")
        before, liar, after = b.text("en", path), b.text("en", path), b.text("zh", path)
        with open(path, "wb") as f:
            f.write(warc_response(f"http://ok.example/{before[0]}", html_page(before[1]).encode())
                    + warc_response(f"http://liar.example/{liar[0]}", html_page(liar[1]).encode(), length_delta=delta)
                    + warc_response(f"http://ok.example/{after[0]}", html_page(after[1]).encode()))
        b.plant(key, path, what, 1)
        del c.good[liar[0]]
        c.good_files[path] = 2
    for key, lie, what, gz in (
        ("warc_length_1e6", "+1000000", "record 2 of 5: Content-Length 1,000,000 bytes too long", False),
        ("warc_length_1e12", "=1000000000000", "record 2 of 5: Content-Length 10^12 (over max_bytes)", False),
        ("warc_length_covers_next", "next", "record 2 of 5: Content-Length covers exactly the next record", False),
        ("warc_length_1e6_gz", "+1000000", "as warc_length_1e6, one gzip member per record", True),
    ):
        path = os.path.join(d, f"{key}.warc" + (".gz" if gz else ""))
        docs = [b.text("zh" if i % 2 else "en", path) for i in range(5)]
        records = [warc_response(f"http://five.example/{m}", html_page(t).encode()) for m, t in docs]
        records[1] = _lie(records[1], records[2], lie)
        with open(path, "wb") as f:
            f.write(b"".join(gzip.compress(r) if gz else r for r in records))
        b.plant(key, path, what, 1)
        del c.good[docs[1][0]]
        c.good_files[path] = 4

    path = os.path.join(d, "damaged-member.warc.gz")
    docs = [b.text("zh" if i % 2 else "en", path) for i in range(4)]
    members = [gzip.compress(warc_response(f"http://five.example/{m}", html_page(t).encode())) for m, t in docs]
    noise = random.Random(11).randbytes(4096)  # incompressible, so the damage lands in the record's own bytes
    damaged = bytearray(gzip.compress(warc_response("http://five.example/damaged", noise, "application/octet-stream")))
    damaged[len(damaged) // 2 : len(damaged) // 2 + 16] = bytes(16)
    with open(path, "wb") as f:
        f.write(b"".join(members[:1] + [bytes(damaged)] + members[1:]))
    b.plant("warc_damaged_gzip_member", path, "record 2 of 5: its gzip member damaged (16 bytes zeroed)", 1)
    c.good_files[path] = 4

    # --- HTML files -------------------------------------------------------------------------
    d = b.dir("html", "html")
    for name, lang, charset in (("zh.html", "zh", "utf-8"), ("en.html", "en", "utf-8"), ("gbk.html", "zh", "gbk")):
        path = os.path.join(d, name)
        marker, text = b.text(lang, path)
        with open(path, "wb") as f:
            f.write(html_page(text, charset).encode(charset))
        c.good_files[path] = 1

    path = os.path.join(d, "invalid-utf8.html")
    rng = random.Random(3)
    junk = bytes(rng.choice(range(0x80, 0x100)) for _ in range(3000))  # continuation/lead bytes out of order
    with open(path, "wb") as f:
        f.write(b'<html><head><meta charset="utf-8"></head><body><article><p>' + junk + b"</p></article></body></html>")
    b.plant("html_invalid_utf8", path, "UTF-8 declared page whose text is invalid UTF-8", 1)

    path = os.path.join(d, "mixed-encoding.html")
    parts = [s.encode("gbk") if i % 2 else s.encode("utf-8") for i, s in enumerate(ZH_SENTENCES)]
    with open(path, "wb") as f:
        f.write(b'<html><head><meta charset="utf-8"></head><body><article>'
                + b"".join(b"<p>" + p + b"</p>" for p in parts) + b"</article></body></html>")
    b.plant("html_mixed_encoding", path, "UTF-8 declared page with GBK paragraphs inside", 1)

    path = os.path.join(d, "nested.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write("<html><body>" + "<div>" * NESTING_LEVELS + "深层嵌套的文字。" + "</div>" * NESTING_LEVELS + "</body></html>")
    b.plant("html_nested", path, f"{NESTING_LEVELS} nested <div> levels", 1)

    path = os.path.join(d, "empty.html")
    open(path, "wb").close()
    b.plant("html_empty", path, "0-byte .html", 1)

    # --- plain text -------------------------------------------------------------------------
    d = b.dir("text", "text")
    for name, lang in (("zh.txt", "zh"), ("en.txt", "en")):
        path = os.path.join(d, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(b.text(lang, path)[1])
        c.good_files[path] = 1
    path = os.path.join(d, "controls.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\x01\x02\x03\x1f\x7f\r\n\t\x0b\x0c\u200b\u2028")
    b.plant("text_control_only", path, "a text file of only control characters", 1)
    path = os.path.join(d, "gbk.txt")
    with open(path, "wb") as f:
        f.write(ZH_SENTENCES[0].encode("gbk"))
    b.plant("text_not_utf8", path, "a GBK text file read as UTF-8", 1)
    path = os.path.join(d, "empty.txt")
    open(path, "wb").close()
    b.plant("text_empty", path, "0-byte .txt", 1)
    return c
