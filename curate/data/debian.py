"""Files that Debian packages install, read by the builtin datasets: the folder or file a
package provides (or the error naming it), and WordNet's synsets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curate.errors import CurateError

WORDNET_DIR = Path("/usr/share/wordnet")

# WordNet 3.0 lexicographer files, indexed by the lex_filenum field of data.* lines
# (lexnames(5WN)); Debian's wordnet-base ships the data files but not this table.
WORDNET_LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)


def debian_dir(path: Path, package: str) -> Path:
    """`path` (a folder or file a Debian package installs), or the error naming the package."""
    if not path.exists():
        raise CurateError(f"{path} is missing (Debian package {package})",
                          f"run `sudo apt-get install {package}` or `make data`")
    return path


def iter_wordnet() -> Iterator[tuple[list[str], str]]:
    """Each synset of wordnet-base's data.* files: the fields of its line before the gloss
    (synset_offset lex_filenum ss_type w_cnt word lex_id ..., wndb(5WN)) and the gloss."""
    root = debian_dir(WORDNET_DIR, "wordnet-base")
    for pos in ("noun", "verb", "adj", "adv"):
        with open(root / f"data.{pos}", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("  "):  # licence header
                    continue
                head, _, gloss = line.partition(" | ")
                yield head.split(" "), gloss.strip()
