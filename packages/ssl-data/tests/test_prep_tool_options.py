"""``parse_tool_options``: ``key=value`` text of ``ssl data prepare`` read into typed preparer options."""

from __future__ import annotations

import pytest

from ssl_data.prep import parse_tool_options


def test_values_are_python_literals_flags_or_text() -> None:
    got = parse_tool_options("color_bins", ["grid_size=5", "ab_max=100.5", "max_images=None", "seed=3"])
    assert got == {"grid_size": 5, "ab_max": 100.5, "max_images": None, "seed": 3}
    assert parse_tool_options("voc07_low_shot", ["k_values=[1, 2]", "num_samples=2"]) == {"k_values": [1, 2], "num_samples": 2}
    assert parse_tool_options("voc07_low_shot", ["k_values=1,2,4"]) == {"k_values": (1, 2, 4)}  # a tuple literal
    assert parse_tool_options("fgvc_aircraft", ["annotation=family"]) == {"annotation": "family"}  # not a literal: text
    assert parse_tool_options("jigsaw_permutations", []) == {}


@pytest.mark.parametrize(("items", "message"), [
    (["hundred"], "option 'hundred' is not of the form key=value"),
    (["nosuch=1"], "jigsaw_permutations: unknown option(s) ['nosuch']; options are ['num_patches', 'num_permutations', 'seed']"),
    (["progress=1"], "unknown option(s) ['progress']"),  # the caller's callback, never a tool option
    (["num_permutations=many"], "jigsaw_permutations option num_permutations takes a int (default 2000), got 'many'"),
    (["num_permutations=true"], "takes a int"),  # a flag is no number
    (["seed=1.5"], "option seed takes a int"),
])
def test_bad_items_are_one_clear_error(items: list[str], message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_tool_options("jigsaw_permutations", items)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_floats_take_ints_and_unknown_tools_are_refused() -> None:
    assert parse_tool_options("color_bins", ["grid_size=4"]) == {"grid_size": 4}
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        parse_tool_options("nope", [])
