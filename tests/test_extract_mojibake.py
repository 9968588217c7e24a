"""Pages whose CJK bytes were decoded as Latin-1/cp1252 upstream are put back (extract/mojibake.py)."""

from jinglian.stages.extract.charset import decode_html
from jinglian.stages.extract.mojibake import looks_latin1_decoded, repair

ARTICLE = ("北京西直门购物中心发生火灾，无人伤亡。记者赶到现场时，火情已被控制，消防人员正在清理现场，"
           "起火原因正在调查之中。商场负责人表示，顾客已经全部安全疏散，周边道路交通恢复正常。"
           "他們說，凱德商場的喆先生最先報警。") * 3  # GBK-only characters: trail or lead bytes in 0x80-0x9f
PAGE = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"><title>火灾</title></head><body><p>{ARTICLE}</p></body></html>'


def windows_1252(data: bytes) -> str:
    """What a browser's "windows-1252" makes of bytes: cp1252, and the C1 control for its five undefined bytes."""
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in data)


def test_gbk_page_decoded_as_latin1_upstream_is_repaired():
    stored = PAGE.encode("gbk").decode("latin-1")  # a scraper's text column ...
    assert "北京" not in stored
    text, codec, how = decode_html(stored.encode("utf-8"), "utf-8")  # ... written out as UTF-8
    assert (text, codec, how) == (PAGE, "gb18030", "repaired")
    # nothing declared outside the page: its UTF-8 bytes also decode under its own <meta> gb2312 (as garble)
    assert decode_html(stored.encode("utf-8")) == (PAGE, "gb18030", "repaired")


def test_cp1252_flavour_and_a_second_layer_are_unwound():
    once = windows_1252(PAGE.encode("gbk"))
    assert any(ord(c) > 0xFF for c in once)  # cp1252 letters for 0x80-0x9f bytes (e.g. U+20AC)
    assert decode_html(once.encode("utf-8"), "utf-8")[0] == PAGE
    twice = once.encode("utf-8").decode("latin-1")
    assert decode_html(twice.encode("utf-8"), "utf-8")[0] == PAGE


def test_correctly_decoded_pages_are_left_alone():
    # a Chinese page served as UTF-8 although its meta still says gb2312: real CJK, nothing to repair
    text, codec, how = decode_html(PAGE.encode("utf-8"), "utf-8")
    assert (text, codec, how) == (PAGE, "utf-8", "http")
    # a French page that declares gb2312 by mistake: its accents sit alone between ASCII letters
    french = ("<html><head><meta charset=gb2312></head><body><p>"
              + "Le musée a été rénové pendant l'été; la célèbre façade reçoit ses premières visites. " * 10
              + "</p></body></html>")
    assert not looks_latin1_decoded(french)
    assert repair(french, "gb18030") is None
    assert decode_html(french.encode("utf-8"), "utf-8")[2] != "repaired"
    # Latin-1 text without a declared CJK charset: no evidence of what the bytes were
    stored = PAGE.replace("gb2312", "iso-8859-1").encode("gbk").decode("latin-1")
    assert decode_html(stored.encode("utf-8"), "utf-8")[2] != "repaired"
