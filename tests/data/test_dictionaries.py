"""builtin:dictionaries: dictd index numbers, each source's parser on real and made-up entries,
prompts per source, stable unique ids, and the error when a package is missing."""

import gzip
import re

import pytest

from curate.data import dictionaries as dicts
from curate.data.debian import WORDNET_DIR
from curate.errors import CurateError

MARKUP = re.compile(r"[{}\\]|\[1913 Webster\]|\[PJC\]|\[WordNet|<--|^\s|\s$|  ")


def entries(name: str, *headwords: str) -> list[tuple[str, str]]:
    """The parsed (headword, response) of every body the index lists under `headwords`."""
    if not (dicts.DICTD_DIR / f"{name}.index").exists():
        pytest.skip(f"dict-{name} not installed (make data installs it)")
    parsed = [dicts.PARSERS[name](body) for body in dicts.dictd_bodies(name, set(headwords))]
    assert parsed, f"{headwords} not in {name}"
    for _, response in parsed:
        assert not MARKUP.search(response), response
    return parsed


@pytest.fixture(scope="module")
def loaded():
    if not WORDNET_DIR.is_dir() or any(not (dicts.DICTD_DIR / f"{name}.index").exists()
                                       for name in dicts.PARSERS):
        pytest.skip("dict-* or wordnet-base not installed (make data installs them)")
    return dicts.load_dictionaries()


def test_decode_b64_by_hand():
    # Digits A-Z a-z 0-9 + / are 0..63, most significant first.
    assert dicts.decode_b64("A") == 0 and dicts.decode_b64("/") == 63
    assert dicts.decode_b64("BA") == 64
    assert dicts.decode_b64("Kj") == 10 * 64 + 35
    assert dicts.decode_b64("BdqM") == 1 * 64**3 + 29 * 64**2 + 42 * 64 + 12 == 383_628


def test_index_offsets_point_at_the_entry():
    if not (dicts.DICTD_DIR / "devil.index").exists():
        pytest.skip("dict-devil not installed")
    index = dicts.index_entries("devil")
    offset, length, _ = next(entry for entry in index if "abasement" in entry[2])
    with gzip.open(dicts.DICTD_DIR / "devil.dict.dz") as dz:  # dictzip reads as gzip
        dz.seek(offset)
        raw = dz.read(length)
    assert raw.startswith(b"ABASEMENT, n.") and raw.rstrip().endswith(b"an employer.")
    assert not any(word.startswith("00") for _, _, words in index for word in words)  # meta


def test_foldoc_ada():
    [(head, response)] = entries("foldoc", "ada")
    assert head == "Ada" and response.startswith("(After Ada Lovelace) A Pascal-descended")
    assert "<language>" not in response and "(2000-08-12)" not in response


def test_jargon_hacker():
    [(head, response)] = entries("jargon", "hacker")
    assert head == "hacker" and "programmable systems" in response
    assert response.startswith("[originally, someone who makes furniture with an axe]")


def test_vera_ace_has_one_row_per_expansion():
    parsed = entries("vera", "ace")
    assert {head for head, _ in parsed} == {"ACE"} and len(parsed) >= 2
    assert "Access Control Entry (AD, ACL)" in {response for _, response in parsed}


def test_devil_keeps_the_definition_not_the_anecdote():
    assert entries("devil", "abasement") == [("abasement", (
        "A decent and customary mental attitude in the presence of wealth of power. "
        "Peculiarly appropriate in an employee when addressing an employer."))]
    assert entries("devil", "callous") == [
        ("callous", "Gifted with great fortitude to bear the evils afflicting another.")]


def test_gcide_lighthouse_and_apple():
    parsed = entries("gcide", "Lighthouse", "Apple")  # one read of the 40 MB dictionary
    assert [response for head, response in parsed if head == "Lighthouse"] == [(
        "A tower or other building with a powerful light at top, erected at the entrance of a "
        "port, or at some important point on a coast, to serve as a guide to mariners at "
        "night; a pharos.")]
    noun = next(response for head, response in parsed if head == "Apple")
    assert noun.startswith("1. The fleshy pome or fruit of a rosaceous tree (Pyrus malus)")
    assert "3. Any fruit" in noun and "4. " not in noun  # GCIDE_MAX_SENSES
    assert "Apple blight" not in noun  # run-in compounds define other phrases


def test_gcide_parser_on_a_made_up_entry():
    body = ('Word \\Wo*rd"\\ (w[=o]rd), n.; pl. {Words}. [AS. word; akin to\n'
            '   G. wort (a [ae]lt form).]\n'
            "   1. A sign; a caf['e] [Obs.] See {Token}.\n"
            "      [1913 Webster]\n\n"
            "            A quotation.                 --Shak.\n"
            "      [1913 Webster]\n\n"
            "   2. Second, with a <-- editor's note --> comment.\n      [PJC]\n\n"
            "   {Word play}, a compound.\n\n   3. Third.\n\n   4. Fourth.\n")
    assert dicts.parse_gcide(body) == (
        "Word", "1. A sign; a café [Obs.] See Token.\n2. Second, with a comment.\n3. Third.")


def test_wordnet_first_lemma_and_gloss():
    if not WORDNET_DIR.is_dir():
        pytest.skip("wordnet-base not installed")
    pairs = {synset: (prompt, gloss) for synset, prompt, gloss in dicts.wordnet_pairs()}
    prompt, gloss = pairs["n00001740"]
    assert prompt == "Define the noun 'entity'." and gloss.startswith("that which is perceived")
    assert pairs["s00024619"][0] == "Define the adjective 'used to'."  # used_to(p)


def test_prompts_and_labels_per_source(loaded):
    frame, schema = loaded
    assert (schema.prompt, schema.response, schema.label) == ("prompt", "response", "label")
    row = {r["id"]: r for r in frame.filter(frame["id"].is_in([
        "gcide:Lighthouse", "foldoc:Celeron", "jargon:hacker", "vera:ACE", "devil:abasement",
        "wordnet:n00001740"])).iter_rows(named=True)}
    assert row["gcide:Lighthouse"]["prompt"] == "What does the word 'Lighthouse' mean?"
    assert row["foldoc:Celeron"]["prompt"] == "What does the computing term 'Celeron' mean?"
    assert row["jargon:hacker"]["prompt"] == "What does the hacker slang 'hacker' mean?"
    assert row["vera:ACE"]["prompt"] == "Expand the acronym ACE."
    assert row["devil:abasement"]["prompt"] == (
        "Give the Devil's Dictionary's cynical definition of 'abasement'.")
    assert row["wordnet:n00001740"]["prompt"] == "Define the noun 'entity'."
    assert {r["label"] for r in row.values()} == {
        "gcide", "foldoc", "jargon", "vera", "devil", "wordnet"}
    lengths = frame["response"].str.len_chars()
    assert lengths.min() > 0 and lengths.max() <= dicts.MAX_RESPONSE_CHARS


def test_ids_unique_sorted_and_stable(loaded):
    frame, _ = loaded
    assert frame["id"].n_unique() == frame.height and frame["id"].is_sorted()
    assert {"vera:ACE", "vera:ACE#2", "gcide:Apple#2"} <= set(frame["id"])
    again, _ = dicts.load_dictionaries()
    assert again.equals(frame)


def test_missing_package_names_the_install(tmp_path, monkeypatch):
    monkeypatch.setattr(dicts, "DICTD_DIR", tmp_path)
    (tmp_path / "devil.index").write_text("")
    with pytest.raises(CurateError, match="apt-get install dict-gcide dict-foldoc dict-jargon "
                                          "dict-vera`"):
        dicts.load_dictionaries()
