"""ImageNet wnids of WordNet synset names: how LVIS categories (``"synset": "aerosol.n.02"``) and
Visual Genome objects are matched to ImageNet-21K class folders (``n02682922``).

A synset name ``LEMMA.n.NN`` is the NN-th noun sense of LEMMA; its wnid is ``"n"`` + the 8-digit
offset of that sense in WordNet 3.0's ``index.noun`` (the NN-th offset on LEMMA's line, senses
being listed in order). ``index.noun`` ships with WordNet 3.0: Debian's ``wordnet-base``
(``/usr/share/wordnet/index.noun``) or NLTK's ``nltk_data/corpora/wordnet/index.noun``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ssl_data.prep.outputs import require_file

__all__ = ["DEBIAN_WORDNET_INDEX", "category_wnids", "synset_wnids"]

#: Where Debian's ``wordnet-base`` puts the noun index.
DEBIAN_WORDNET_INDEX = Path("/usr/share/wordnet/index.noun")


def _noun_senses(index_noun: Path) -> dict[str, list[str]]:
    """``{lemma: [offset of sense 1, sense 2, ...]}`` from a WordNet ``index.noun``."""
    path = require_file(Path(index_noun), "WordNet index.noun")
    senses: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith(" ") or not line.strip():
                continue  # the licence header
            fields = line.split()
            try:
                count = int(fields[2])
                offsets = fields[-count:]
            except (IndexError, ValueError):
                raise ValueError(f"{path}:{number}: not a WordNet index line: {line.strip()[:60]!r}") from None
            if len(fields) < 4 + count or fields[1] != "n" or not all(o.isdigit() and len(o) == 8 for o in offsets):
                raise ValueError(f"{path}:{number}: not a WordNet noun index line: {line.strip()[:60]!r}")
            senses[fields[0]] = offsets
    if not senses:
        raise ValueError(f"{path} lists no nouns: is it WordNet's index.noun?")
    return senses


def synset_wnids(names: Iterable[str], index_noun: Path = DEBIAN_WORDNET_INDEX) -> dict[str, str]:
    """``{synset name: wnid}`` for the noun synset names (``"dog.n.01"`` -> ``"n02084071"``)
    found in ``index_noun``; names that are not nouns or not in the index are left out."""
    senses = _noun_senses(index_noun)
    out = {}
    for name in names:
        lemma, _, rest = str(name).lower().rpartition(".n.")
        if not lemma or not rest.isdigit():
            continue
        offsets = senses.get(lemma.replace(" ", "_"), [])
        if 1 <= int(rest) <= len(offsets):
            out[str(name)] = "n" + offsets[int(rest) - 1]
    return out


def category_wnids(categories: Iterable[Mapping[str, Any]], wnid_map: Mapping[str, str] | None = None,
                   wordnet_index: Path | None = None) -> dict[str, int]:
    """``{wnid: category id}`` of LVIS categories: a category's ``"wnid"`` field, else
    ``wnid_map[synset name or str(id)]``, else its ``"synset"`` looked up in ``wordnet_index``."""
    cats = list(categories)
    mapping = dict(wnid_map or {})
    looked_up = synset_wnids([c["synset"] for c in cats if c.get("synset")], wordnet_index) if wordnet_index else {}
    out: dict[str, int] = {}
    for c in cats:
        synset = c.get("synset", "")
        wnid = c.get("wnid") or mapping.get(synset) or mapping.get(str(c["id"])) or looked_up.get(synset)
        if wnid:
            out[str(wnid)] = int(c["id"])
    return out
