"""The revisited-Oxford/Paris ground truth is untrusted input: a gnd_*.pkl whose ``__reduce__``
would write a marker file is refused in one line and the payload does not run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ssl_evaluation.retrieval import load_revisited


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_ground_truth_does_not_run(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "marker"
    gnd = tmp_path / "gnd_roxford5k.pkl"
    gnd.write_bytes(pickle.dumps({"imlist": ["a"], "qimlist": ["q"], "gnd": [_Payload(marker)]}, protocol=protocol))
    with pytest.raises(ValueError) as err:
        load_revisited(tmp_path, "roxford5k")
    assert not marker.exists(), "the payload ran"
    message = str(err.value)
    assert "\n" not in message and str(gnd) in message and "exec, which is not an allowed data type" in message


def test_truncated_ground_truth_is_one_line(tmp_path: Path) -> None:
    data = pickle.dumps({"imlist": ["a"] * 50, "qimlist": ["q"], "gnd": []})
    (tmp_path / "gnd_rparis6k.pkl").write_bytes(data[:30])
    with pytest.raises(ValueError, match=r"^not a revisited ground-truth file: .*gnd_rparis6k\.pkl is truncated"):
        load_revisited(tmp_path, "rparis6k")
