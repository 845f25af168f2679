"""Protocol dataclasses hold the published defaults; the loader takes YAML and dotted overrides and
rejects unknown keys, wrong types and malformed items with one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssl_evaluation.suites import (
    ClusteringProtocol,
    KnnProtocol,
    LinearProtocol,
    ProbeSuite,
    ProtocolError,
    load_protocol,
    split_overrides,
)


def test_knn_defaults_are_vissl_nearest_neighbor() -> None:
    # VISSL NEAREST_NEIGHBOR: TOPK 200, SIGMA 0.1
    assert (KnnProtocol().k, KnnProtocol().temperature) == (200, 0.1)


def test_linear_defaults_are_dino_eval_linear() -> None:
    # DINO eval_linear.py: 100 epochs, SGD momentum 0.9, weight decay 0
    p = LinearProtocol()
    assert (p.epochs, p.momentum, p.weight_decay) == (100, 0.9, 0.0)


def test_clustering_defaults_are_vissl_clusterfit() -> None:
    # VISSL ClusterFit: 50 k-means iterations; one cluster per class
    p = ClusteringProtocol()
    assert (p.n_iter, p.num_clusters, p.l2_normalize) == (50, 0, True)


def test_library_default_matches_protocol() -> None:
    import inspect

    import ssl_evaluation

    params = inspect.signature(ssl_evaluation.linear_probe).parameters
    p = LinearProtocol()
    assert (params["epochs"].default, params["lr"].default, params["batch_size"].default) == (p.epochs, p.lr, p.batch_size)
    knn = inspect.signature(ssl_evaluation.knn_classify).parameters
    assert (knn["k"].default, knn["temperature"].default) == (KnnProtocol().k, KnnProtocol().temperature)


def test_overrides_and_yaml_file(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("knn:\n  k: 20\nlinear:\n  epochs: 3\n")
    suite = load_protocol(ProbeSuite(), ["linear.epochs=5", "extraction.batch_size=64"], f)
    assert isinstance(suite, ProbeSuite)
    assert (suite.knn.k, suite.linear.epochs, suite.extraction.batch_size) == (20, 5, 64)
    assert ProbeSuite().knn.k == 200  # defaults untouched


@pytest.mark.parametrize(
    ("items", "message"),
    [(["knn.z=3"], "Key 'z' not in"), (["knn.k=many"], "could not be converted"), (["knn.k"], "not key=value")],
)
def test_bad_overrides_are_one_line_errors(items: list[str], message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        load_protocol(ProbeSuite(), items)
    assert "\n" not in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        load_protocol(ProbeSuite(), [], "/nonexistent/p.yaml")


def test_split_overrides() -> None:
    ours, rest = split_overrides(["benchmark.knn.k=20", "optim.lr=0.1", "benchmark.bn_batches=2"])
    assert ours == ["knn.k=20", "bn_batches=2"]
    assert rest == ["optim.lr=0.1"]


@pytest.mark.parametrize("name", ["knn", "svm", "virb-image", "detection"])
def test_protocol_yaml_loads_back_as_the_defaults(tmp_path: Path, name: str) -> None:
    import yaml

    from ssl_evaluation.suites import BENCHMARKS, protocol_yaml

    defaults = BENCHMARKS[name].protocol()
    text = protocol_yaml(defaults)
    assert isinstance(yaml.safe_load(text), dict)  # plain YAML, as `ssl benchmark protocol` prints it
    (tmp_path / "p.yaml").write_text(text)
    assert load_protocol(BENCHMARKS[name].protocol(), [], tmp_path / "p.yaml") == defaults
    changed = text.replace("seed: 0", "seed: 7", 1)
    (tmp_path / "p.yaml").write_text(changed)
    assert load_protocol(BENCHMARKS[name].protocol(), [], tmp_path / "p.yaml") != defaults
