"""Measured figures live in `benchmarks/*.md`; code states the decision and links there.

A figure copied into a docstring, a comment, a rule table or a row's `reason` goes stale
with each re-measurement (and, in a reason, forced a select-cache bump for wording). This
scans every docstring and comment under `curate/` and the evidence of auto's `RULES` and
of `CPU_RULES` for measured-figure patterns, and checks that every evidence link names a
heading of its benchmarks page.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from curate.embed.device import CPU_RULES
from curate.selectors.auto import RULES

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "curate"
FIGURE = re.compile(
    r"(?<![\w.])[+-]\d+\.\d+"                    # a signed decimal: +1.3, -0.05
    r"|\d\s*(?:±|\+-)|(?:±|\+-)\s*\.?\d"          # a number with its spread: 9.3 ± 3.0, +-1e4
    r"|\d+(?:\.\d+)?\s*x\s+(?:faster|slower)"     # a speed ratio: 3.5x faster
    r"|\d[\d,]*(?:\.\d+)?\s*(?:texts|glosses|articles|rows)/s")  # a throughput: 1,043 texts/s
LINK = re.compile(r"benchmarks/[\w./-]+\.md#[\w-]+")


def _texts(source: str):
    """(line, text) of each docstring and comment of a module's source."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                yield node.body[0].lineno, doc
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def _figures(text: str, line: int) -> list[tuple[int, str]]:
    return [(line + text.count("\n", 0, m.start()), m.group()) for m in FIGURE.finditer(text)]


def figures_in_code() -> list[str]:
    """`file:line: figure` for each measured figure in curate's docstrings and comments."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for start, text in _texts(path.read_text()):
            found += [f"{path.relative_to(ROOT)}:{line}: {figure}"
                      for line, figure in _figures(text, start)]
    return found


def test_no_measured_figure_in_a_docstring_or_comment():
    found = figures_in_code()
    assert not found, ("measured figures belong in benchmarks/*.md (link the section):\n"
                       + "\n".join(found))


def test_no_measured_figure_in_a_rule():
    rules = [(f"auto {rule.id}", rule.evidence) for rule in RULES]
    rules += [(f"precision {'/'.join(sorted(rule.flags)) or 'any CPU'}", rule.evidence)
              for rule in CPU_RULES]
    found = [f"{name}: {figure}" for name, text in rules for _, figure in _figures(text, 0)]
    assert not found, "\n".join(found)


def github_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of a markdown page (outside code fences)."""
    anchors, seen, fenced = set(), {}, False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not re.match(r"#{1,6} ", line):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _check_link(link: str) -> None:
    page, anchor = link.split("#")
    assert (ROOT / page).exists(), f"no page {page}"
    assert anchor in github_anchors(ROOT / page), f"{page} has no heading #{anchor}"


def test_every_rule_links_a_benchmark_heading():
    for evidence in [rule.evidence for rule in RULES] + [rule.evidence for rule in CPU_RULES]:
        assert LINK.fullmatch(evidence), f"not a benchmarks/<page>.md#<anchor> link: {evidence}"
        _check_link(evidence)


def test_every_benchmark_link_in_the_code_names_a_heading():
    """The pointers that replaced the figures lead somewhere: each page named exists, and
    each `page.md#anchor` is a heading of it."""
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        for page in re.findall(r"benchmarks/[\w./-]+\.md", source):
            assert (ROOT / page).exists(), f"{path.relative_to(ROOT)}: no page {page}"
        for link in LINK.findall(source):
            _check_link(link)


def test_the_scan_finds_figures():
    """The patterns catch the kinds of figure the code used to carry, and not the wording
    of config defaults, algorithm constants or report formats."""
    measured = ['"""at 1 per label +13.0 to +21.0 points over random"""',
                "# dealrec 1.9 +- 1.0 points", '"""cos 0.993 ± 0.001"""',
                '"""bf16 weights ran 3.5x faster"""', "# 1,043 texts/s against 420"]
    for source in measured:
        assert [f for line, text in _texts(source + "\n") for f in _figures(text, line)], source
    plain = ('"""mean ± std over seeds; a budget of 2% or 10 per label; -1 for none; k=512;\n'
             'look 4x deeper; C=10; eps 0.1"""\n# 1 s steps\n')
    assert not [f for line, text in _texts(plain) for f in _figures(text, line)]
