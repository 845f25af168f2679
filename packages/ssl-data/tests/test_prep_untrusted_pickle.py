"""``ssl data prepare roxford5k`` reads an untrusted gnd_*.pkl: a pickle whose ``__reduce__`` would
write a marker file is refused in one line, nothing runs and nothing is written."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ssl_data.prep.retrieval import revisited_retrieval


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_ground_truth_does_not_run(tmp_path: Path, protocol: int) -> None:
    root = tmp_path / "roxford5k"
    (root / "jpg").mkdir(parents=True)
    marker = tmp_path / "marker"
    gnd = {"imlist": ["a"], "qimlist": ["q"], "gnd": [{"bbx": [0, 0, 1, 1]}], "extra": _Payload(marker)}
    (root / "gnd_roxford5k.pkl").write_bytes(pickle.dumps(gnd, protocol=protocol))
    with pytest.raises(ValueError) as err:
        revisited_retrieval(tmp_path, tmp_path / "out", "roxford5k")
    assert not marker.exists(), "the payload ran"
    message = str(err.value)
    assert "\n" not in message and "gnd_roxford5k.pkl" in message and "exec" in message
    assert not (tmp_path / "out").exists()
