"""Every benchmark of ``ssl_evaluation.suites.BENCHMARKS`` has a protocol dataclass whose defaults
are the published ones (VISSL's configs, ViRB's, the papers'), written here as the published
numbers, not read from the code; and the CLI help and suite files read that same dataclass."""

from __future__ import annotations

import dataclasses

import pytest

from ssl_evaluation import suites


def test_svm_defaults_are_vissl_svm_config() -> None:
    # VISSL SVM: costs_list [0.1, 0.01], cross_val_folds 3, max_iter 2000, on res5avg for VOC07
    p = suites.SvmProtocol()
    assert (p.costs, p.cross_val_folds, p.max_iter, p.layer) == ([0.1, 0.01], 3, 2000, "res5avg")


def test_low_shot_defaults_are_vissl_low_shot() -> None:
    # VISSL SVM.low_shot: k_values 1..96, sample_inds [1..5]
    p = suites.LowShotProtocol()
    assert (p.ks, p.num_samples, p.costs) == ([1, 2, 4, 8, 16, 32, 64, 96], 5, [0.1, 0.01])


def test_multi_layer_linear_defaults_are_vissl_in1k_linear() -> None:
    # VISSL eval_resnet_8gpu_transfer_in1k_linear: 28 epochs, lr 0.01, steps 8/16/24, wd 5e-4, batch 256
    p = suites.MultiLayerLinearProtocol()
    assert (p.epochs, p.lr, p.milestones, p.weight_decay, p.linear_batch_size) == (28, 0.01, [8, 16, 24], 5e-4, 256)
    assert p.layers == ["conv1", "res2", "res3", "res4", "res5", "res5avg"]


def test_finetune_family_defaults() -> None:
    # SGD momentum 0.9, wd 1e-4 (VISSL fulltune); SimCLR 1 % subset; VISSL DATA_LIMIT 1000, not balanced
    assert (suites.FinetuneProtocol().weight_decay, suites.FinetuneProtocol().lr) == (1e-4, 0.01)
    assert suites.SemiSupervisedProtocol().fraction == 0.01
    p = suites.LowShotTransferProtocol()
    assert (p.data_limit, p.balanced) == (1000, False)


def test_robustness_retrieval_detection_defaults() -> None:
    # VISSL OOD: resize 256, crop 224; IMG_RETRIEVAL: res5, GeM p 4, R-MAC 3 levels, 1024 px, 512 PCA dims
    r = suites.RobustnessProtocol()
    assert (r.resize, r.crop) == (256, 224)
    q = suites.RetrievalProtocol()
    assert (q.layer, q.pooling.value, q.gem_p, q.rmac_levels, q.resize_max, q.num_pca) == ("res5", "gem", 4.0, 3, 1024, 512)
    # VISSL voc0712 detectron2 recipe: 24k iterations, steps 18k/22k, lr 0.02, warmup 1000, test size 800
    d = suites.DetectionProtocol()
    assert (d.max_iters, d.steps, d.lr, d.warmup_iters, d.min_size) == (24000, [18000, 22000], 0.02, 1000, 800)


def test_virb_defaults() -> None:
    # ViRB: segmentation Adam 3e-4, poly 0.9, batch 16, 100 epochs; depth 50 epochs constant; heads Adam 1e-4, batch 32
    s = suites.SegmentationProtocol()
    assert (s.lr, s.scheduler.value, s.poly_power, s.batch_size, s.epochs, s.ignore_index) == (3e-4, "poly", 0.9, 16, 100, 255)
    d = suites.DepthProtocol()
    assert (d.epochs, d.scheduler.value) == (50, "constant")
    v = suites.VirbImageProtocol()
    assert (v.lr, v.head_batch_size, v.epochs) == (1e-4, 32, 100)
    assert suites.VirbGridProtocol().epochs == 30
    t = suites.TransferHeadProtocol()  # ViRB's ImageNet-v2 reuse trains the same image head
    assert (t.lr, t.head_batch_size, t.epochs, t.layer) == (1e-4, 32, 100, "res5avg")


@pytest.mark.parametrize("name", sorted(suites.BENCHMARKS))
def test_every_benchmark_loads_its_defaults_and_rejects_unknown_keys(name: str) -> None:
    bench = suites.BENCHMARKS[name]
    defaults = bench.protocol()
    assert dataclasses.is_dataclass(defaults)
    assert suites.load_protocol(bench.protocol(), []) == defaults
    with pytest.raises(suites.ProtocolError, match="no_such_key"):
        suites.load_protocol(bench.protocol(), ["no_such_key=1"])


def test_suite_file_reads_the_same_dataclass(tmp_path) -> None:
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"x")  # existence is all load_suite checks before running
    (tmp_path / "s.yaml").write_text(
        "runs:\n  - {benchmark: svm, checkpoint: c.pt, options: ['costs=[0.5]']}\n"
        "  - {benchmark: finetune, checkpoint: c.pt, options: {schedule: step, milestones: [1]}}\n")
    svm, finetune = suites.load_suite(tmp_path / "s.yaml")
    assert svm.protocol == dataclasses.replace(suites.SvmProtocol(), costs=[0.5])
    assert finetune.protocol.schedule.value == "step" and finetune.protocol.milestones == [1]
    assert finetune.protocol.epochs == suites.FinetuneProtocol().epochs
