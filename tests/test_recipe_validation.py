"""benchmarks/recipe_validation.py: its held-out images come from the TRAINING split only (memory
and queries disjoint and class-balanced), and bad input is one line with exit status 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import ssl_data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import recipe_validation  # noqa: E402


def test_held_out_sets_are_disjoint_balanced_training_images() -> None:
    memory, queries = recipe_validation.held_out_sets("digits", 8, 200, 100, seed=0)
    train_images, train_labels = ssl_data.load_digits("train")
    mem_idx, qry_idx = np.asarray(memory.dataset.indices), np.asarray(queries.dataset.indices)
    assert len(memory) == 200 and len(queries) == 100 and not set(mem_idx) & set(qry_idx)
    assert (np.bincount(memory.targets.numpy()) == 20).all() and (np.bincount(queries.targets.numpy()) == 10).all()
    # the rows are training images with their own labels: pixels of the training split, as read here
    np.testing.assert_array_equal(memory.targets.numpy(), train_labels.numpy()[mem_idx])
    image, label, _ = queries.dataset[3]
    expected = (train_images[qry_idx[3]].float() / 255.0 - 0.485) / 0.229  # channel 0, 8 px: no resize
    np.testing.assert_allclose(image[0].numpy(), expected.numpy(), atol=1e-5)
    assert label == int(train_labels[qry_idx[3]])


@pytest.mark.parametrize(("argv", "message"), [
    (["no_such_recipe"], "unknown recipe 'no_such_recipe'"),
    (["npid", "--steps", "0"], "--steps, --memory and --queries must be >= 1"),
    (["npid", "--steps", "1", "loss.no_such_key=1"], "recipe_validation: error:"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(capsys, argv: list[str], message: str) -> None:
    before = sorted(recipe_validation.RESULTS.glob("recipe_validation_*.json"))
    stamps = [p.stat().st_mtime_ns for p in before]
    assert recipe_validation.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert [p.stat().st_mtime_ns for p in before] == stamps and sorted(recipe_validation.RESULTS.glob("recipe_validation_*.json")) == before
