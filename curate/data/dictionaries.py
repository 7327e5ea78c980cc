"""`builtin:dictionaries`: define-this-term prompt/response pairs from offline dictionaries.

The five dictd dictionaries Debian ships (dict-gcide, dict-foldoc, dict-jargon, dict-vera,
dict-devil) and WordNet (wordnet-base). A dictd dictionary is `NAME.index`, lines
`headword<TAB>offset<TAB>length` (numbers in dictd's base64), and `NAME.dict.dz`, the bodies
concatenated and dictzipped (gzip-compatible). Several headwords may point at one body; each
body becomes one row, headed by the headword it names itself.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from curate.data.debian import debian_dir, iter_wordnet
from curate.data.pool import Schema

DICTD_DIR = Path("/usr/share/dictd")
B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {digit: value for value, digit in enumerate(B64_DIGITS)}
# Longer responses are essays, not definitions (FOLDOC's and the Jargon File's longest
# articles, GCIDE's notes on Buddha or the Declaration of Independence run to 5-22k
# characters); train.lora.max_length (256 tokens, ~1000 characters) would see only their
# opening. Rows over it are dropped: 19 GCIDE, 46 FOLDOC, 16 Jargon File entries.
MAX_RESPONSE_CHARS = 3000
# GCIDE gives common words dozens of senses ("set", "take"); the leading ones are the
# primary meanings. Keeping 3 keeps 28 such entries under the cap (all senses: 47 dropped,
# not 19) and 1324 -> 491 entries over ~1000 characters.
GCIDE_MAX_SENSES = 3

PROMPTS = {
    "gcide": "What does the word '{}' mean?",
    "foldoc": "What does the computing term '{}' mean?",
    "jargon": "What does the hacker slang '{}' mean?",
    "vera": "Expand the acronym {}.",
    "devil": "Give the Devil's Dictionary's cynical definition of '{}'.",
    "wordnet": "Define the {} '{}'.",
}
WORDNET_POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}

_BRACES = re.compile(r"\{([^{}]*)\}")  # dictd cross-references: {term} -> term
_PARAGRAPHS = re.compile(r"\n\s*\n")  # keeps the next line's indent
# GCIDE's provenance tags ("[1913 Webster]", "[WordNet 1.5 +PJC]") and editors' comments.
_PROVENANCE = re.compile(r"\[[^][]*(?:Webster|WordNet|PJC|Century Dict|RDH)[^][]*\]|\[AS\]")
_COMMENT = re.compile(r"<--.*?-->", re.S)
_GCIDE_HEAD_GOES_ON = re.compile(r" *(?:[{[]|\([^)\n]*[*\"`][^)\n]*\))")
_GCIDE_HEAD_MARKS = re.compile(r"[\\\[\]()\n]")
_PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")  # \Pro*nun`ci*a"tion\
# GCIDE's ASCII for other letters: [ae], ['e] (é), [=a] (ā), [a^] (ă), [aum] (ä), [imac] (ī).
_GCIDE_ENTITY = re.compile(r"\[([=`'~\"^.,]?[A-Za-z]+\^?)\]")
_ACCENTS = {"'": "\u0301", "`": "\u0300", "=": "\u0304", "~": "\u0303", '"': "\u0308",
            "^": "\u0302", ".": "\u0307", ",": "\u0327"}
_GCIDE_NAMED = {"ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "eth": "ð", "thorn": "þ",
                "deg": "°", "sect": "§", "root": "√", "yogh": "ȝ", "alpha": "α", "beta": "β",
                "imac": "ī", "ng": "ŋ", "phi": "φ", "pi": "π", "pounds": "£"}
_DEVIL_HEAD = re.compile(r"(?P<head>[^\n]*?),\s+(?:[a-z]+\.)(?:\s?,?\s?[a-z]+\.)*(?=\s|$)")


def decode_b64(digits: str) -> int:
    """A dictd index number: base64 digits, most significant first."""
    value = 0
    for digit in digits:
        value = value * 64 + _B64_VALUE[digit]
    return value


def index_entries(name: str) -> list[tuple[int, int, list[str]]]:
    """(offset, length, headwords) of each distinct body in file order; meta entries left out."""
    path = debian_dir(DICTD_DIR / f"{name}.index", f"dict-{name}")
    bodies: dict[tuple[int, int], list[str]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        headword, offset, length = line.split("\t")[:3]
        if not headword.startswith(("00-database-", "00database")):
            bodies.setdefault((decode_b64(offset), decode_b64(length)), []).append(headword)
    return [(offset, length, words) for (offset, length), words in sorted(bodies.items())]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # a few GCIDE bodies carry stray Windows-1252 quotes
        return raw.decode("cp1252", errors="replace")


def dictd_bodies(name: str, headwords: set[str] | None = None) -> Iterator[str]:
    """The raw bodies of dictionary `name` (only those under `headwords` when given)."""
    entries = index_entries(name)
    with gzip.open(DICTD_DIR / f"{name}.dict.dz", "rb") as dz:
        data = dz.read()
    for offset, length, words in entries:
        if headwords is None or not headwords.isdisjoint(words):
            yield _decode(data[offset:offset + length])


def _squash(text: str) -> str:
    """Cross-references unbraced; whitespace collapsed within paragraphs, which stay one per
    line (senses and paragraphs keep their breaks; line wrapping does not)."""
    text = _BRACES.sub(r"\1", _BRACES.sub(r"\1", text))  # twice: GCIDE nests some, {{Clupea}}
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPHS.split(text))
    return "\n".join(p for p in paragraphs if p)


def _split_head(body: str) -> tuple[str, str]:
    """FOLDOC, Jargon File: the first paragraph names the entry (FOLDOC lists its synonyms
    one a line, the Jargon File adds pronunciation and part of speech); its first line is
    the headword as written."""
    head, *rest = _PARAGRAPHS.split(body.strip("\n"), maxsplit=1)
    return head.partition("\n")[0].strip(), rest[0] if rest else ""


def parse_foldoc(body: str) -> tuple[str, str]:
    head, rest = _split_head(body)
    rest = re.sub(r"^\s*<[^>\n]*>\s*", "", rest)  # the subject tag, e.g. <language>
    rest = re.sub(r"\n\s*\(\d{4}-\d\d-\d\d\)\s*$", "", rest)  # last-edited date
    return head, _squash(rest)


def parse_jargon(body: str) -> tuple[str, str]:
    head, rest = _split_head(body)
    return head, _squash(rest)


def parse_vera(body: str) -> tuple[str, str]:
    head, _, rest = body.strip("\n").partition("\n")  # the expansion, indented, follows
    return head.strip(), " ".join(rest.split())


def parse_devil(body: str) -> tuple[str, str]:
    """'ABASEMENT, n.  Definition...' then, often, verse or an anecdote, indented: the
    definition is the first lines up to that (the whole text when the verse is all)."""
    body = body.strip("\n")
    match = _DEVIL_HEAD.match(body)
    if match:
        head, rest = match["head"], body[match.end():]
    else:  # no part of speech: "CUI BONO?  [Latin]  What good..."
        head, _, rest = re.split(r"(  +|\n|$)", body, maxsplit=1)
    first = re.split(r"\n\s*\n|\n[ \t]", rest.lstrip(" "), maxsplit=1)[0]
    rest = re.sub(r"_([^_\n]+)_", r"\1", first if first.strip() else rest)  # _italics_
    return head.strip().rstrip(".").lower(), _squash(rest)


def _gcide_entity(match: re.Match) -> str:
    code = match[1]
    if code in _GCIDE_NAMED:
        return _GCIDE_NAMED[code]
    if len(code) == 2 and code[0] in _ACCENTS:
        letter, mark = code[1], _ACCENTS[code[0]]
    elif len(code) == 2 and code[1] == "^":
        letter, mark = code[0], "\u0306"  # breve
    elif len(code) == 3 and code.endswith("um"):
        letter, mark = code[0], "\u0308"
    else:
        return match[0]  # a usage label such as [Slang], or unknown: left as written
    return unicodedata.normalize("NFC", letter + mark)


def _gcide_header_end(body: str) -> int:
    """Where the headword line(s) end: the first line break outside brackets, parentheses
    and \\pronunciation\\, after the pronunciation, not after a comma (variant forms) nor
    before a line that opens with a {form}, [etymology] or (pro*nun"ci*a`tion)."""
    depth = {"[": 0, "(": 0}  # counted apart: a stray ")" must not close an etymology's "["
    in_pron, seen_pron = False, False
    for found in _GCIDE_HEAD_MARKS.finditer(body):  # only these characters matter
        i, char = found.start(), found[0]
        if char == "\\":
            in_pron, seen_pron = not in_pron, True
        elif char in "[(" and not in_pron:
            depth[char] += 1
        elif char in "])" and not in_pron:
            opener = "[" if char == "]" else "("
            depth[opener] = max(depth[opener] - 1, 0)
        elif char == "\n" and seen_pron and not (any(depth.values()) or in_pron) \
                and not body[:i].rstrip().endswith(",") \
                and not _GCIDE_HEAD_GOES_ON.match(body, i + 1):
            return i
    return len(body)


def parse_gcide(body: str) -> tuple[str, str]:
    """'Word \\Pro*nun"ci*a`tion\\, n. [Etymology.]' then senses, quotations and run-in
    compounds ('{Apple tree}, a tree...', which define other phrases): the first
    GCIDE_MAX_SENSES senses with their notes are kept; quotations and compounds are not."""
    body = body.strip("\n")
    if "\\" not in body.partition("\n")[0]:
        return "", ""  # a fragment split off another entry, not an entry of its own
    head = body[:body.index("\\")].strip().rstrip(",")
    text = _COMMENT.sub("", _PROVENANCE.sub("", body[_gcide_header_end(body):]))
    kept, senses = [], 0
    for paragraph in _PARAGRAPHS.split(text):
        stripped = paragraph.strip()
        if not stripped or stripped.startswith("{") or paragraph.startswith(" " * 8):
            continue  # a run-in compound, or an indented quotation
        if re.match(r"\d+\.", stripped):
            senses += 1
            if senses > GCIDE_MAX_SENSES:
                break
        kept.append(paragraph)
    text = _PRONUNCIATION.sub("", "\n\n".join(kept))
    return _GCIDE_ENTITY.sub(_gcide_entity, head), _squash(_GCIDE_ENTITY.sub(_gcide_entity, text))


PARSERS: dict[str, Callable[[str], tuple[str, str]]] = {
    "gcide": parse_gcide, "foldoc": parse_foldoc, "jargon": parse_jargon,
    "vera": parse_vera, "devil": parse_devil,
}


def wordnet_pairs() -> Iterator[tuple[str, str, str]]:
    """(synset id, prompt, gloss) per synset; the headword is the synset's first lemma."""
    for fields, gloss in iter_wordnet():
        offset, ss_type, lemma = fields[0], fields[2], fields[4]
        lemma = re.sub(r"\([a-z]+\)$", "", lemma).replace("_", " ")  # adjective markers: (a)
        yield f"{ss_type}{offset}", PROMPTS["wordnet"].format(WORDNET_POS[ss_type], lemma), gloss


def _keep(response: str) -> bool:
    return 0 < len(response) <= MAX_RESPONSE_CHARS


def load_dictionaries() -> tuple[pl.DataFrame, Schema]:
    missing = [name for name in PARSERS if not (DICTD_DIR / f"{name}.index").exists()]
    if missing:  # one error naming every package to install
        debian_dir(DICTD_DIR / f"{missing[0]}.index", " ".join(f"dict-{n}" for n in missing))
    rows = []
    for name, parse in PARSERS.items():
        seen: dict[str, int] = {}
        for body in dictd_bodies(name):
            head, response = parse(body)
            if not head or not _keep(response):
                continue
            # One id per body, stable while the package is: repeats of a headword (GCIDE's
            # noun and verb entries, VERA's many ACEs) are numbered in file order.
            seen[head] = count = seen.get(head, 0) + 1
            suffix = f"#{count}" if count > 1 else ""
            rows.append((f"{name}:{head}{suffix}", PROMPTS[name].format(head), response, name))
    rows += [(f"wordnet:{synset}", prompt, gloss, "wordnet")
             for synset, prompt, gloss in wordnet_pairs() if _keep(gloss)]
    frame = pl.DataFrame(rows, schema=["id", "prompt", "response", "label"], orient="row")
    return frame.sort("id"), Schema(prompt="prompt", response="response", label="label")
