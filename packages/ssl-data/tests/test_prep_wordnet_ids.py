"""WordNet synset names -> ImageNet wnids (how LVIS categories find their ImageNet-21K folders):
on a small ``index.noun`` in WordNet 3.0's published line format, and, where Debian's
``wordnet-base`` is installed, on the real index against wnids ImageNet publishes."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from ssl_data.prep import prepare
from ssl_data.prep.wordnet_ids import DEBIAN_WORDNET_INDEX, category_wnids, synset_wnids

# lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
INDEX_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by
  2 Princeton University under the following license.
apple n 2 3 @ ~ + 2 1 07739125 12633994  
ball n 12 5 @ ~ #m #p %p 12 3 02778669 00485039 13899200 00482298 07419599 04476259 00559102 00470552 00481803 00485261 00485380 00568234  
polar_bear n 1 2 @ ~ 1 0 02134084  
"""


@pytest.fixture
def index_noun(tmp_path):
    path = tmp_path / "index.noun"
    path.write_text(INDEX_NOUN)
    return path


def test_sense_number_picks_the_offset(index_noun) -> None:
    names = ["apple.n.01", "apple.n.02", "ball.n.01", "ball.n.12", "polar_bear.n.01", "ball.n.13", "run.v.01", "nope.n.01"]
    assert synset_wnids(names, index_noun) == {
        "apple.n.01": "n07739125", "apple.n.02": "n12633994", "ball.n.01": "n02778669", "ball.n.12": "n00568234",
        "polar_bear.n.01": "n02134084"}  # fmt: skip


def test_category_wnids_prefer_explicit_ids(index_noun) -> None:
    cats = [{"id": 1, "synset": "apple.n.01"}, {"id": 2, "synset": "ball.n.01", "wnid": "n00000002"},
            {"id": 3, "synset": "cat.n.01"}]
    assert category_wnids(cats, {"3": "n02121620"}, index_noun) == {"n07739125": 1, "n00000002": 2, "n02121620": 3}


def test_bad_index_line_is_one_clear_error(tmp_path) -> None:
    (tmp_path / "index.noun").write_text("apple n two\n")
    with pytest.raises(ValueError, match="index.noun:1: not a WordNet"):
        synset_wnids(["apple.n.01"], tmp_path / "index.noun")


def test_imagenet_lvis_through_wordnet(tmp_path, index_noun) -> None:
    lvis = {"images": [], "annotations": [], "categories": [{"id": 7, "name": "apple", "synset": "apple.n.01"}]}
    (tmp_path / "lvis.json").write_text(json.dumps(lvis))
    (tmp_path / "in21k" / "train" / "n07739125").mkdir(parents=True)
    Image.new("RGB", (5, 3)).save(tmp_path / "in21k" / "train" / "n07739125" / "x.JPEG")
    prepare("imagenet_lvis", tmp_path / "in21k", tmp_path / "o", lvis_path=tmp_path / "lvis.json", wordnet_index=index_noun)
    info = json.loads((tmp_path / "o" / "imagenet_lvis_image_info.json").read_text())
    assert [(i["file_name"], i["pos_category_ids"]) for i in info["images"]] == [("n07739125/x.JPEG", [7])]


@pytest.mark.skipif(not DEBIAN_WORDNET_INDEX.is_file(), reason="Debian's wordnet-base is not installed")
def test_real_wordnet_gives_imagenets_wnids() -> None:
    # ImageNet's published wnids: n02084071 "dog, domestic dog", n02121620 "cat, true cat"
    # (ImageNet-21K), n01440764 "tench" (ImageNet-1k class 0)
    assert synset_wnids(["dog.n.01", "cat.n.01", "tench.n.01"]) == {
        "dog.n.01": "n02084071", "cat.n.01": "n02121620", "tench.n.01": "n01440764"}
