"""The restricted unpickler: plain data and NumPy load; a pickle that would run code does not run."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from ssl_models import UnsafePickleError, restricted_load, restricted_loads


class _Payload:
    """Unpickling this with plain pickle writes ``marker``: what an attacker's file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_plain_data_and_numpy_load(tmp_path: Path) -> None:
    obj = {"imlist": ["a", "b"], "gnd": [{"bbx": np.arange(4.0), "easy": np.array([1], np.int64)}],
           "od": OrderedDict(x=np.float32(2.5)), "raw": b"\x00\x01"}
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        with path.open("rb") as f:
            back = restricted_load(f, path)
        assert back["imlist"] == ["a", "b"] and back["raw"] == b"\x00\x01"
        np.testing.assert_array_equal(back["gnd"][0]["bbx"], np.arange(4.0))
        assert back["od"]["x"] == np.float32(2.5)


def test_malicious_pickle_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    data = pickle.dumps({"weights": _Payload(marker)}, protocol=4)
    with pytest.raises(UnsafePickleError) as err:
        restricted_loads(data, tmp_path / "gnd.pkl")
    assert not marker.exists()
    assert str(err.value) == (
        f"{tmp_path / 'gnd.pkl'} pickles builtins.exec, which is not an allowed data type "
        "(unpickling it could run code); refused"
    )
    assert err.value.global_name == "builtins.exec"
    pickle.loads(data)  # the same bytes through plain pickle do run the payload: the test can fail
    assert marker.read_text() == "pwned"


def test_broken_pickles_are_one_line(tmp_path: Path) -> None:
    data = pickle.dumps({"a": list(range(100))})
    with pytest.raises(pickle.UnpicklingError, match=r"^x\.pkl is truncated \(the pickle ends early\)$"):
        restricted_loads(data[: len(data) // 2], "x.pkl")
    with pytest.raises(pickle.UnpicklingError, match=r"^notes\.txt is not a readable pickle \(.+\)$") as err:
        restricted_loads(b"hello, this is text\n", "notes.txt")
    assert "\n" not in str(err.value)


def test_extra_globals_are_opt_in() -> None:
    data = pickle.dumps(Path("a/b"))
    kind = type(Path("a/b"))
    with pytest.raises(UnsafePickleError, match=f"pathlib.{kind.__name__}"):
        restricted_loads(data)
    assert restricted_loads(data, allowed={("pathlib", kind.__name__)}) == Path("a/b")
