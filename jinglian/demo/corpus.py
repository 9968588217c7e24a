"""Deterministic generator of the demo corpus: Chinese and English web documents with
planted defects whose ground truth (``kind``) is known.

Everything is made here from the word lists in :mod:`jinglian.demo.vocab`; nothing
is downloaded. A document is a dict with ``id``, ``text``, ``url``, ``source``,
``lang``, ``kind`` (``clean`` or the planted defect), ``title``, ``origin`` (the id
of the clean document a duplicate / near-duplicate was made from, else ``None``)
and ``pii`` (for ``pii`` documents: the planted values by type plus the decoys
that must survive redaction, else ``None``).

Exact duplicates are equal to their origin after NFKC normalisation and
whitespace collapsing (some are byte-identical, some change whitespace or
punctuation width). Near-duplicates keep a 5-character-shingle Jaccard of at
least ``NEAR_DUP_JACCARD`` (0.85) with their origin.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import unicodedata
import zlib

from jinglian.demo import pii as piigen
from jinglian.demo import vocab as V

KINDS = ["clean", "spam", "boilerplate", "keyword_stuffing", "gibberish", "short", "exact_duplicate", "near_duplicate", "pii", "promo"]
DEFECTS = KINDS[1:]
HOST = "http://demo.jinglian.local"
NEAR_DUP_JACCARD = 0.85  # near-duplicates keep at least this 5-shingle Jaccard with their origin
_SLOT = re.compile(r"\{(\w+)\}")


# ---------------------------------------------------------------- shingles


def normalize(text: str) -> str:
    """NFKC, lower case, whitespace runs collapsed: the form under which exact duplicates are equal."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def shingles(text: str, k: int = 5) -> set[str]:
    t = normalize(text)
    return {t[i : i + k] for i in range(max(1, len(t) - k + 1))}


def jaccard(a: str, b: str, k: int = 5) -> float:
    sa, sb = shingles(a, k), shingles(b, k)
    return len(sa & sb) / len(sa | sb)


# ---------------------------------------------------------------- slot filling


class _Writer:
    """Fills ``{slot}`` templates from the word lists with one random stream."""

    def __init__(self, rng: random.Random, lang: str, nouns: list[str], items: list[str] | None = None):
        self.rng, self.lang, self.nouns, self.items = rng, lang, nouns, items or nouns
        self._own: dict[int, list[str]] = {}
        r = rng
        if lang == "zh":
            self.slots = {
                "person": lambda: self.choice(V.ZH_SURNAMES) + "".join(self.choice(V.ZH_GIVEN) for _ in range(r.choice((1, 2, 2)))),
                "place": lambda: self.choice(V.ZH_PLACES),
                "district": lambda: self.choice(V.ZH_DISTRICTS),
                "org": self._zh_org, "org2": self._zh_org,
                "group": lambda: self.choice(V.ZH_GROUPS),
                "num": lambda: str(r.choice((r.randint(2, 30), r.randint(30, 600), r.randint(600, 9000)))),
                "pct": lambda: f"{r.randint(2, 60)}.{r.randint(0, 9)}%",
                "money": lambda: str(r.randint(3, 400) * 10),
                "money2": lambda: str(r.randint(5, 900) * 10),
                "amount": lambda: f"{r.randint(1, 90)}.{r.randint(1, 9)}",
                "year": lambda: str(r.randint(2018, 2027)),
                "month": lambda: str(r.randint(1, 12)),
                "date": lambda: f"{r.randint(1, 12)}月{r.randint(1, 28)}日",
                "season": lambda: self.choice(V.ZH_SEASONS),
                "connect": lambda: self.choice(V.ZH_CONNECT),
                "adj": lambda: self.choice(V.ZH_ADJ),
                "goal": lambda: self.choice(V.ZH_GOALS),
                "plan": lambda: self.choice(V.ZH_PLANS),
                "problem": lambda: self.choice(V.ZH_PROBLEMS),
                "quote": lambda: self.choice(V.ZH_QUOTES),
                "past": lambda: self.choice(V.ZH_PAST),
                "now": lambda: self.choice(V.ZH_NOW),
                "relative": lambda: self.choice(V.ZH_RELATIVES),
                "tip": lambda: self.choice(V.ZH_TIPS),
                "casino": lambda: self.choice(V.ZH_CASINOS),
            }
        else:
            self.slots = {
                "person": lambda: f"{self.choice(V.EN_FIRST)} {self.choice(V.EN_LAST)}",
                "place": lambda: self.choice(V.EN_PLACES).replace("-", " "),
                "num": lambda: str(r.choice((r.randint(2, 12), r.randint(12, 90), r.randint(90, 2000)))),
                "pct": lambda: f"{r.randint(2, 60)}%",
                "money": lambda: str(r.randint(2, 900) * 5),
                "year": lambda: str(r.randint(2008, 2025)),
                "month": lambda: self.choice(V.EN_MONTHS),
                "weekday": lambda: self.choice(V.EN_WEEKDAYS),
                "connect": lambda: self.choice(V.EN_CONNECT),
                "adj": lambda: self.choice(V.EN_ADJ),
                "relative": lambda: self.choice(V.EN_RELATIVES),
                "quote": lambda: self.choice(V.EN_QUOTE_BODY),
            }
        self.slots["few"] = lambda: str(r.randint(2, 12))
        if lang == "zh":
            self.slots.update(subj=lambda: self.choice(V.ZH_SUBJECTS), subj2=lambda: self.choice(V.ZH_SUBJECTS),
                              zadj=lambda: self.choice(V.ZH_THING_ADJ), when=lambda: self.choice(V.ZH_WHEN),
                              free=lambda: self._free(V.ZH_FREE, V.ZH_DEEDS, "zverb", "thing"))
        else:
            self.slots.update(subj=lambda: self.choice(V.EN_SUBJECTS), eadj=lambda: self.choice(V.EN_ADJS),
                              landmark=lambda: self.choice(V.EN_LANDMARKS).replace("-", " "),
                              adjunct=lambda: self.choice(V.EN_ADJUNCTS),
                              free=lambda: self._free(V.EN_FREE, V.EN_DEEDS, "verb", "enoun"))
        self.slots["noun"] = self.slots["noun2"] = lambda: self.choice(self.nouns).replace("-", " ")
        self.slots["item"] = self.slots["item2"] = lambda: self.choice(self.items)
        self.slots["wx"] = lambda: "".join(r.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(4)) + str(r.randint(100, 99999))
        self.slots["qq"] = lambda: str(r.randint(10_000_000, 2_999_999_999))
        self.slots["phone"] = lambda: piigen.mobile(r)
        self.slots["domain"] = lambda: "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(r.randint(5, 9)))

    def choice(self, options: list[str]) -> str:
        """Pick from this document's own share of a long list: like a real author, a document
        draws on part of the vocabulary, so distinct documents share fewer n-grams."""
        if len(options) < 8:
            return self.rng.choice(options)
        own = self._own.get(id(options))
        if own is None:
            own = self._own[id(options)] = self.rng.sample(options, max(6, len(options) * 2 // 5))
        return self.rng.choice(own)

    def _free(self, templates: list[str], deeds: list[tuple[list[str], list[str]]], verb: str, thing: str) -> str:
        """A free clause whose verb(s) fit their object(s): each pair is drawn from one (verbs, things) group."""
        slots = {}
        for suffix in ("", "2"):
            verbs, things = self.rng.choice(deeds)
            slots[verb + suffix], slots[thing + suffix] = self.choice(verbs), self.choice(things).replace("-", " ")
        return self.fill(self.choice(templates), **slots)

    def _zh_org(self) -> str:
        r = self.rng
        return self.choice(V.ZH_PLACES) + r.choice(("", "市", "县", "区")) + self.choice(V.ZH_ORG_KINDS)

    def fill(self, template: str, **fixed: str) -> str:
        drawn: dict[str, str] = {}

        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name in fixed:
                return fixed[name]
            value = self.slots[name]()
            for _ in range(3):  # "{noun} and {noun2}" should name two different things
                if not name.endswith("2") or value != drawn.get(name[:-1]):
                    break
                value = self.slots[name]()
            drawn[name] = value
            return _SLOT.sub(sub, value) if "{" in value else value

        return _SLOT.sub(sub, template)

    def pick(self, options: list[str], **fixed: str) -> str:
        return self.fill(self.choice(options), **fixed)


# ---------------------------------------------------------------- clean prose


def _zh_news_sentence(w: _Writer) -> str:
    r = w.rng
    roll = r.random()
    if roll < 0.15:
        return w.pick(V.ZH_QUOTE_LEAD)
    s = w.pick(V.ZH_NEWS_OPEN) + w.pick(V.ZH_NEWS_BODY)
    if roll < 0.55:
        s += "，" + w.fill("{free}" if r.random() < 0.6 else "{body}", body=w.pick(V.ZH_NEWS_BODY))
    if roll > 0.35:
        s += "，" + w.pick(V.ZH_NEWS_CLOSE)
    if r.random() < 0.15:
        s += "；" + w.pick(V.ZH_NEWS_BODY)
    return s + "。"


def _zh_forum_sentence(w: _Writer) -> str:
    r = w.rng
    s = w.pick(V.ZH_FORUM_OPEN) + w.pick(V.ZH_FORUM_BODY)
    if r.random() < 0.6:
        s += "，" + w.fill("{free}")
    if r.random() < 0.6:
        s += "，" + w.pick(V.ZH_FORUM_CLOSE)
    return s + r.choice(("。", "。", "。", "！", "……"))


def _en_sentence(w: _Writer) -> str:
    r = w.rng
    if r.random() < 0.12:
        return w.pick(V.EN_QUOTES)
    s = w.pick(V.EN_OPEN) + w.fill("{free}" if r.random() < 0.75 else "{body}", body=w.pick(V.EN_BODY))
    if r.random() < 0.5:
        s += r.choice((", and ", ", while ", ", because ", "; then ")) + w.fill("{free}")
    elif r.random() < 0.4:
        s += ", " + w.pick(V.EN_CLOSE)
    s = s[0].upper() + s[1:]
    return s + r.choice((".", ".", ".", "!"))


def _paragraphs(w: _Writer, sentence, target: int, size, joiner: str) -> list[str]:
    paras: list[str] = []
    while sum(size(p) for p in paras) < target:
        paras.append(joiner.join(sentence(w) for _ in range(w.rng.randint(2, 5))))
    return paras


def _clean_zh(rng: random.Random, source: str) -> dict:
    if source == "zh-forum":
        board, items = V.ZH_BOARDS[rng.choice(sorted(V.ZH_BOARDS))]
        w = _Writer(rng, "zh", items)
        title = w.fill("{item}" + rng.choice(["使用{few}个月的真实感受", "踩坑记录", "经验分享，欢迎讨论", "到底值不值", "求助帖后续"]))
        header = f"演示社区 › {board} › 帖子详情"
        footer = "回复 | 收藏 | 举报　　本帖观点仅代表作者本人。"
        sentence = _zh_forum_sentence
    else:
        section, nouns = V.ZH_TOPICS[rng.choice(sorted(V.ZH_TOPICS))]
        w = _Writer(rng, "zh", nouns)
        title = w.fill(rng.choice(["{place}：{noun}", "{noun}", "{place}{district}{noun}"]) + rng.choice(V.ZH_TITLE_TAILS))
        header = f"演示新闻网 > {section}频道 > 正文"
        footer = w.fill("（责任编辑：{person}）本网站所刊载信息，不代表本站观点。")
        sentence = _zh_news_sentence
    paras = _paragraphs(w, sentence, rng.randint(330, 2300), len, "")
    return {"title": title, "text": "\n".join([header, title, *paras, footer])}


def _clean_en(rng: random.Random, source: str) -> dict:
    section, nouns = V.EN_TOPICS[rng.choice(sorted(V.EN_TOPICS))]
    w = _Writer(rng, "en", nouns)
    title = w.pick(V.EN_TITLES)
    if source == "en-news":
        header, footer = f"Demo Daily News | {section}", "© Demo Daily News. All rights reserved."
    else:
        header = f"The Demo Notebook | notes on {section.lower()}"
        footer = w.fill("Posted by {person} in " + section + ". Comments are closed.")
    paras = _paragraphs(w, _en_sentence, round(170 * 6 ** rng.random()), lambda p: len(p.split()), " ")
    return {"title": title, "text": "\n".join([header, title, *paras, footer])}


def _clean(rng: random.Random, lang: str) -> dict:
    if lang == "zh":
        source = "zh-forum" if rng.random() < 0.3 else "zh-news"
        doc = _clean_zh(rng, source)
    else:
        source = "en-news" if rng.random() < 0.4 else "en-blog"
        doc = _clean_en(rng, source)
    return {**doc, "source": source}


# ---------------------------------------------------------------- defects


def _spam(rng: random.Random, lang: str) -> dict:
    w = _Writer(rng, lang, ["x"])
    w.slots["place"] = lambda: rng.choice(V.ZH_PLACES)
    lines = [w.pick(V.ZH_SPAM_LINES if lang == "zh" else V.EN_SPAM_LINES) for _ in range(rng.randint(4, 14))]
    lines += rng.sample(lines, k=min(len(lines), rng.randint(1, 4)))  # spam repeats itself
    return {"title": lines[0][:30], "text": "\n".join(lines)}


def _boilerplate(rng: random.Random, lang: str) -> dict:
    w = _Writer(rng, lang, ["x"])
    w.slots["title"] = lambda: rng.choice(V.ZH_TITLE_TAILS if lang == "zh" else ["Weekly roundup", "Site update", "Our story"])
    w.slots["section"] = lambda: rng.choice(["新闻", "资讯", "公告", "专题"])
    w.slots["place"] = lambda: rng.choice(V.ZH_PLACES if lang == "zh" else V.EN_PLACES)
    nav = V.ZH_NAV if lang == "zh" else V.EN_NAV
    lines = [w.fill(t) for t in rng.sample(nav, k=rng.randint(6, len(nav)))]
    return {"title": lines[0][:30], "text": "\n".join(lines)}


def _keyword_stuffing(rng: random.Random, lang: str) -> dict:
    kw = rng.choice(V.ZH_STUFF_KEYWORDS if lang == "zh" else V.EN_STUFF_KEYWORDS)
    patterns = V.ZH_STUFF_PATTERNS if lang == "zh" else V.EN_STUFF_PATTERNS
    places = V.ZH_PLACES if lang == "zh" else V.EN_PLACES
    sep = rng.choice(["，", " ", "、", "|"]) if lang == "zh" else rng.choice([" ", ", ", " | "])
    phrases = [rng.choice(patterns).format(kw=kw, place=rng.choice(places)) for _ in range(rng.randint(40, 120))]
    lines = [sep.join(phrases[i : i + 12]) for i in range(0, len(phrases), 12)]
    return {"title": phrases[0], "text": "\n".join(lines)}


def _gibberish(rng: random.Random, lang: str) -> dict:
    if lang == "zh":
        chunks = ["".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(3, 15))) for _ in range(rng.randint(20, 70))]
        text = "".join(c + rng.choice("，。、；！？ ") for c in chunks)
    else:
        letters = "abcdefghijklmnopqrstuvwxyz" * 2 + "0123456789#@%&"
        text = " ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 12))) for _ in range(rng.randint(60, 250)))
    lines = [text[i : i + 160] for i in range(0, len(text), 160)]
    return {"title": text[:20], "text": "\n".join(lines)}


def _promo(rng: random.Random, lang: str) -> dict:
    """A shop page of marketing copy: every sentence well formed and none repeated, so no surface rule
    sees it; a quality classifier trained with such pages as negatives does."""
    if lang == "zh":
        products = V.ZH_PRODUCTS
        header, footer, sentences, titles = "演示商城 › 商品详情", "演示商城承诺正品保障，假一赔十。", V.ZH_PROMO_SENTENCES, V.ZH_PROMO_TITLES
    else:
        products = V.EN_PRODUCTS
        header, footer, sentences, titles = "Demo Shop | Deals", "© Demo Shop. Prices include VAT.", V.EN_PROMO_SENTENCES, V.EN_PROMO_TITLES
    w = _Writer(rng, lang, products)
    product = rng.choice(products)  # one product per page
    picked = [w.fill(t, item=product, noun=product) for t in rng.sample(sentences, rng.randint(8, len(sentences)))]
    cuts = sorted(rng.sample(range(1, len(picked)), rng.randint(3, 5)))
    paras = [("" if lang == "zh" else " ").join(picked[a:b]) for a, b in zip([0, *cuts], [*cuts, len(picked)])]
    title = w.pick(titles, item=product, noun=product)
    return {"title": title, "text": "\n".join([header, title, *paras, footer])}


def _short(rng: random.Random, lang: str) -> dict:
    text = rng.choice(V.ZH_SHORT if lang == "zh" else V.EN_SHORT)
    return {"title": text, "text": text}


_WIDTH_ZH = str.maketrans({"，": ",", "：": ":", "；": ";", "！": "!", "？": "?", **{str(d): chr(0xFF10 + d) for d in range(10)}})
_WIDTH_EN = str.maketrans({",": "，", ":": "：", ";": "；", "!": "！", "?": "？", **{str(d): chr(0xFF10 + d) for d in range(10)}})


def _exact_duplicate(rng: random.Random, origin: dict) -> str:
    text, variant = origin["text"], rng.choice(["same", "same", "whitespace", "width"])
    if variant == "whitespace":
        indent = "\u3000\u3000" if origin["lang"] == "zh" else "  "
        text = "\n\n".join(indent + line + rng.choice(["", " ", "\t"]) for line in text.split("\n"))
    elif variant == "width":
        text = text.translate(_WIDTH_ZH if origin["lang"] == "zh" else _WIDTH_EN)
    return text


def _near_duplicate(rng: random.Random, origin: dict) -> str:
    """Small edits (characters/words changed, a sentence added or dropped), kept only while still near."""
    lang = origin["lang"]
    w = _Writer(rng, lang, ["资料", "方案", "项目"] if lang == "zh" else ["plan", "project", "notes"])
    for _ in range(20):
        lines = origin["text"].split("\n")
        body = list(range(2, len(lines) - 1))  # keep header, title and footer
        for _ in range(rng.randint(1, 3)):
            i = rng.choice(body)
            op = rng.choice(["chars", "chars", "add", "drop"])
            if lang == "zh":
                sents = re.findall(r"[^。！？…]+[。！？…]*", lines[i])
            else:
                sents = re.findall(r"[^.!?]+[.!?]*\s*", lines[i])
            if op == "add":
                extra = _zh_news_sentence(w) if lang == "zh" else " " + _en_sentence(w)
                sents.insert(rng.randint(0, len(sents)), extra)
            elif op == "drop" and len(sents) > 1:
                del sents[rng.randrange(len(sents))]
            else:
                j = rng.randrange(len(sents))
                if lang == "zh":
                    s = list(sents[j])
                    for _ in range(rng.randint(1, 3)):
                        s[rng.randrange(len(s))] = rng.choice("的了在是和有也就都还")
                    sents[j] = "".join(s)
                else:
                    tokens = sents[j].split(" ")
                    tokens[rng.randrange(len(tokens))] = rng.choice(["really", "quite", "also", "the", "just"])
                    sents[j] = " ".join(tokens)
            lines[i] = "".join(sents)
        text = "\n".join(lines)
        if text != origin["text"] and jaccard(text, origin["text"]) >= NEAR_DUP_JACCARD:
            return text
    raise RuntimeError(f"no near-duplicate edit of {origin['id']} stayed near")  # not seen for clean docs of >= 300 chars


def _pii(rng: random.Random, lang: str) -> dict:
    """A fresh clean document with contact details and identifiers woven into its paragraphs."""
    doc = _clean(rng, lang)
    planted = {"email": [piigen.email(rng)], "phone": [piigen.mobile(rng)], "id_card": [piigen.resident_id(rng)],
               "ipv4": [piigen.ipv4(rng)], "bank_card": [piigen.bank_card(rng)]}
    if rng.random() < 0.5:
        planted["phone"].append(piigen.mobile(rng))
    date = f"{rng.randint(2019, 2025)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日" if lang == "zh" else f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    price = f"￥{rng.randint(1, 9)},{rng.randint(100, 999)}.00" if lang == "zh" else f"${rng.randint(10, 999)}.99"
    order, order2 = piigen.order_number(rng), f"SO{rng.randint(2019, 2025)}{rng.randint(10**7, 10**8 - 1)}"
    e, i, ip, card = planted["email"][0], planted["id_card"][0], planted["ipv4"][0], planted["bank_card"][0]
    if lang == "zh":
        extra = [f"如有疑问，可发送邮件至{e}，或拨打联系人手机{'、'.join(planted['phone'])}咨询。",
                 f"报名时请填写身份证号（如{i}）并核对{date}前的缴费记录，费用为{price}。",
                 f"退款将原路返回至尾号对应的银行卡{card}，订单号{order}、{order2}请妥善保存。",
                 f"后台日志显示，该账号最近一次从{ip}登录。"]
    else:
        extra = [f"Questions can go to {e} or by text to {' / '.join(planted['phone'])}.",
                 f"The form asked for a resident ID ({i}) and payment by {date}; the fee was {price}.",
                 f"The refund went back to card {card}; keep order numbers {order} and {order2} for reference.",
                 f"The server log showed the last login from {ip}."]
    lines = doc["text"].split("\n")
    for s in extra:
        k = rng.randint(2, len(lines) - 2)
        lines[k] = lines[k] + ("" if lang == "zh" else " ") + s
    planted["decoy"] = [date, price, order, order2]
    return {**doc, "text": "\n".join(lines), "pii": planted}


# ---------------------------------------------------------------- the corpus


def _kind_plan(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, lang) for each position: 55% clean zh, 20% clean en, the rest spread over the defects."""
    n_zh, n_en = round(n * 0.55), round(n * 0.20)
    rest = n - n_zh - n_en
    plan = [("clean", "zh")] * n_zh + [("clean", "en")] * n_en
    for j in range(rest):
        plan.append((DEFECTS[j % len(DEFECTS)], "zh" if rng.random() < 0.65 else "en"))
    head, tail = plan[:3], plan[3:]  # a few clean documents first, so duplicates always have an origin
    rng.shuffle(tail)
    return head + tail


def _url(lang: str, source: str, i: int) -> str:
    section = source.split("-", 1)[1]
    if section == "forum":
        return f"{HOST}/{lang}/forum/thread-{i}-1-1.html"
    return f"{HOST}/{lang}/{section}/{i}.html"


def generate_documents(n: int = 600, seed: int = 0) -> list[dict]:
    """``n`` documents, the same for the same ``seed``."""
    rng = random.Random(f"jinglian-demo-{seed}")
    docs: list[dict] = []
    clean: dict[str, list[dict]] = {"zh": [], "en": []}
    for i, (kind, lang) in enumerate(_kind_plan(n, rng)):
        origin = None
        if kind in ("exact_duplicate", "near_duplicate"):
            pool = clean[lang] or clean["zh"]
            origin = rng.choice(pool)
            lang, source, title = origin["lang"], origin["source"], origin["title"]
            text = _exact_duplicate(rng, origin) if kind == "exact_duplicate" else _near_duplicate(rng, origin)
            body = {"title": title, "text": text}
        elif kind == "clean":
            body = _clean(rng, lang)
            source = body.pop("source")
        elif kind == "pii":
            body = _pii(rng, lang)
            source = body.pop("source")
        else:
            body = {"spam": _spam, "boilerplate": _boilerplate, "keyword_stuffing": _keyword_stuffing,
                    "gibberish": _gibberish, "short": _short, "promo": _promo}[kind](rng, lang)
            source = f"{lang}-{rng.choice(['forum', 'web']) if lang == 'zh' else rng.choice(['blog', 'web'])}"
        doc = {"id": f"demo-{i:05d}", "text": body["text"], "url": _url(lang, source, 1000 + i), "source": source,
               "lang": lang, "kind": kind, "title": body["title"], "origin": origin["id"] if origin else None,
               "pii": body.get("pii")}
        docs.append(doc)
        if kind == "clean":
            clean[lang].append(doc)
    return docs


def quality_training_sets(n: int = 400, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` clean texts (positives) and ``n`` spam/boilerplate/gibberish/stuffed texts (negatives)
    for training a quality classifier; drawn from a seed space disjoint from :func:`generate_documents`."""
    rng = random.Random(f"jinglian-quality-{seed}")
    bad = [_spam, _boilerplate, _gibberish, _keyword_stuffing, _promo]
    # Without the site header/footer lines, so a classifier cannot learn the demo site's name as "quality".
    positives = ["\n".join(_clean(rng, "zh" if rng.random() < 0.7 else "en")["text"].split("\n")[1:-1]) for _ in range(n)]
    negatives = [bad[j % len(bad)](rng, "zh" if rng.random() < 0.7 else "en")["text"] for j in range(n)]
    return positives, negatives


# ---------------------------------------------------------------- files and pages


def write_jsonl(path: str, docs: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")


def generate_demo_inputs(directory: str, n: int = 600, seed: int = 0, files: int = 8) -> list[str]:
    """Write ``n`` documents round-robin over ``files`` JSONL files ``demo-00000.jsonl`` ...; return the paths.

    ``pii`` is written as counts by type, not the values: the records' other fields travel to the
    curated output as metadata, and planted values there would undo the redaction being shown.
    ``generate_documents(n, seed)`` gives the values back for scoring."""
    os.makedirs(directory, exist_ok=True)
    docs = [{**d, "pii": {k: len(v) for k, v in d["pii"].items()} if d["pii"] else None} for d in generate_documents(n, seed)]
    paths = []
    for f in range(files):
        path = os.path.join(directory, f"demo-{f:05d}.jsonl")
        write_jsonl(path, docs[f::files])
        paths.append(path)
    return paths


_SITE = {
    "zh": {"name": "演示新闻网", "nav": ["首页", "新闻", "财经", "科技", "教育", "健康", "文化", "社区", "更多"],
           "side": "热门文章", "links": ["本周热点回顾", "图说一周", "专题：城市更新", "读者来信", "便民信息汇总", "天气预报"],
           "footer": "版权所有 © 2024 演示新闻网　地址：演示市演示路1号　京ICP备00000000号-1", "html_lang": "zh-CN"},
    "en": {"name": "Demo Daily", "nav": ["Home", "News", "Blog", "Local", "Opinion", "About", "Contact"],
           "side": "Popular posts", "links": ["This week in pictures", "Reader letters", "Archive", "Newsletter", "Events"],
           "footer": "Copyright © 2024 Demo Daily. All rights reserved. Privacy | Terms", "html_lang": "en"},
}


def render_html(doc: dict, charset: str = "utf-8") -> str:
    """A full page around the document: nav menu, sidebar, the text as ``<article>`` paragraphs, footer."""
    site = _SITE["zh" if doc["lang"] == "zh" else "en"]
    esc = html.escape
    title = doc.get("title") or doc["text"][:30]
    nav = "".join(f'<li><a href="{HOST}/{doc["lang"]}/{k}/">{esc(item)}</a></li>' for k, item in enumerate(site["nav"]))
    side = "".join(f'<li><a href="{HOST}/{doc["lang"]}/hot/{k}.html">{esc(item)}</a></li>' for k, item in enumerate(site["links"]))
    paras = "\n".join(f"<p>{esc(line)}</p>" for line in doc["text"].split("\n") if line.strip())
    return (f'<!DOCTYPE html>\n<html lang="{site["html_lang"]}">\n<head>\n<meta charset="{charset}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)} - {esc(site['name'])}</title>\n"
            f'<link rel="canonical" href="{esc(doc["url"])}">\n</head>\n<body>\n'
            f'<header><div class="logo">{esc(site["name"])}</div><nav><ul class="menu">{nav}</ul></nav></header>\n'
            f'<div class="container">\n<aside class="sidebar"><h3>{esc(site["side"])}</h3><ul>{side}</ul></aside>\n'
            f"<main><article>\n<h1>{esc(title)}</h1>\n{paras}\n</article></main>\n</div>\n"
            f'<footer><p>{esc(site["footer"])}</p></footer>\n</body>\n</html>\n')


def encode_page(doc: dict) -> tuple[bytes, str]:
    """The rendered page as bytes and its declared charset: about one Chinese page in four is GBK,
    where characters outside GBK (©, ›) become numeric character references, as on real GBK sites."""
    charset = "gbk" if doc["lang"] == "zh" and zlib.crc32(doc["id"].encode()) % 4 == 0 else "utf-8"
    return render_html(doc, charset).encode(charset, errors="xmlcharrefreplace"), charset
