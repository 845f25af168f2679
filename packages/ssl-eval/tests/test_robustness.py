"""ImageNet-A / -R evaluation with the 200-class output mask on a generated ImageFolder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_evaluation.robustness import evaluate_ood, mask_logits, ood_class_indices, ood_wnids

# The published 1k indices (Hendrycks et al.'s evaluation code), typed from that source: an
# independent check of the wnid lists in the data file.
IMAGENET_A_INDICES = [
    6, 11, 13, 15, 17, 22, 23, 27, 30, 37, 39, 42, 47, 50, 57, 70, 71, 76, 79, 89, 90, 94, 96, 97, 99, 105, 107,
    108, 110, 113, 124, 125, 130, 132, 143, 144, 150, 151, 207, 234, 235, 254, 277, 283, 287, 291, 295, 298, 301,
    306, 307, 308, 309, 310, 311, 313, 314, 315, 317, 319, 323, 324, 326, 327, 330, 334, 335, 336, 347, 361, 363,
    372, 378, 386, 397, 400, 401, 402, 404, 407, 411, 416, 417, 420, 425, 428, 430, 437, 438, 445, 456, 457, 461,
    462, 470, 472, 483, 486, 488, 492, 496, 514, 516, 528, 530, 539, 542, 543, 549, 552, 557, 561, 562, 569, 572,
    573, 575, 579, 589, 606, 607, 609, 614, 626, 627, 640, 641, 642, 643, 658, 668, 677, 682, 684, 687, 701, 704,
    719, 736, 746, 749, 752, 758, 763, 765, 768, 773, 774, 776, 779, 780, 786, 792, 797, 802, 803, 804, 813, 815,
    820, 823, 831, 833, 835, 839, 845, 847, 850, 859, 862, 870, 879, 880, 888, 890, 897, 900, 907, 913, 924, 932,
    933, 934, 937, 943, 945, 947, 951, 954, 956, 957, 959, 971, 972, 980, 981, 984, 986, 987, 988,
]
IMAGENET_R_INDICES = [
    1, 2, 4, 6, 8, 9, 11, 13, 22, 23, 26, 29, 31, 39, 47, 63, 71, 76, 79, 84, 90, 94, 96, 97, 99, 100, 105, 107,
    113, 122, 125, 130, 132, 144, 145, 147, 148, 150, 151, 155, 160, 161, 162, 163, 171, 172, 178, 187, 195, 199,
    203, 207, 208, 219, 231, 232, 234, 235, 242, 245, 247, 250, 251, 254, 259, 260, 263, 265, 267, 269, 276, 277,
    281, 288, 289, 291, 292, 293, 296, 299, 301, 308, 309, 310, 311, 314, 315, 319, 323, 327, 330, 334, 335, 337,
    338, 340, 341, 344, 347, 353, 355, 361, 362, 365, 366, 367, 368, 372, 388, 390, 393, 397, 401, 407, 413, 414,
    425, 428, 430, 435, 437, 441, 447, 448, 457, 462, 463, 469, 470, 471, 472, 476, 483, 487, 515, 546, 555, 558,
    570, 579, 583, 587, 593, 594, 596, 609, 613, 617, 621, 629, 637, 657, 658, 701, 717, 724, 763, 768, 774, 776,
    779, 780, 787, 805, 812, 815, 820, 824, 833, 847, 852, 866, 875, 883, 889, 895, 907, 928, 931, 932, 933, 934,
    936, 937, 943, 945, 947, 948, 949, 951, 953, 954, 957, 963, 965, 967, 980, 981, 983, 988,
]


def test_class_lists_match_published_indices():
    assert ood_class_indices("imagenet-a") == IMAGENET_A_INDICES
    assert ood_class_indices("imagenet-r") == IMAGENET_R_INDICES
    assert ood_wnids("imagenet-a")[0] == "n01498041"  # stingray, ImageNet class 6
    with pytest.raises(ValueError, match="imagenet-a"):
        ood_class_indices("imagenet-sketch")  # type: ignore[arg-type]


class ColourClassifier(torch.nn.Module):
    """1000 logits: mean red/green/blue of the image on classes 6/11/13 (all ImageNet-A classes)
    and a large constant on class 0, which ImageNet-A does not have."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 1000)
        rgb = x.mean(dim=(2, 3))
        logits[:, 6], logits[:, 11], logits[:, 13] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        logits[:, 0] = 100.0
        return logits


def write_folder(root, layout):
    for wnid, colours in layout.items():
        (root / wnid).mkdir(parents=True)
        for k, c in enumerate(colours):
            Image.fromarray(np.full((20, 24, 3), c, dtype=np.uint8)).save(root / wnid / f"{k}.png")


def test_top1_with_the_output_mask(tmp_path):
    red, green, blue = (250, 5, 5), (5, 250, 5), (5, 5, 250)
    # n01498041 -> masked position 0 (class 6), n01531178 -> 1 (11), n01534433 -> 2 (13)
    layout = {"n01498041": [red, red, green], "n01531178": [green, green], "n01534433": [blue, red]}
    write_folder(tmp_path / "a", layout)
    to_tensor = lambda im: torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)  # noqa: E731
    out = evaluate_ood(ColourClassifier(), tmp_path / "a", "imagenet-a", transform=to_tensor, batch_size=3)
    # by hand: each image is predicted as its dominant colour's class: 5 of 7 right
    assert out["top1"] == pytest.approx(100 * 5 / 7)
    assert out["top5"] == pytest.approx(100.0)  # the true class is always among the 3 positive logits
    assert out["num_images"] == 7 and out["protocol"]["num_classes"] == 200
    # without the mask, class 0 would win everywhere: the mask is what makes the answers right
    logits = ColourClassifier()(torch.rand(2, 3, 4, 4))
    assert logits.argmax(1).tolist() == [0, 0]
    assert mask_logits(logits, ood_class_indices("imagenet-a")).shape == (2, 200)


def test_default_transform_and_bad_inputs(tmp_path):
    write_folder(tmp_path / "r", {"n01443537": [(9, 9, 9)]})
    out = evaluate_ood(ColourClassifier(), tmp_path / "r", "imagenet-r", resize=16, crop=16)
    assert out["num_images"] == 1
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluate_ood(ColourClassifier(), tmp_path / "nowhere", "imagenet-a")
    write_folder(tmp_path / "bad", {"cats": [(1, 2, 3)]})
    with pytest.raises(ValueError, match="cats"):
        evaluate_ood(ColourClassifier(), tmp_path / "bad", "imagenet-a")
    (tmp_path / "empty" / "n01498041").mkdir(parents=True)
    with pytest.raises(ValueError, match="no image files"):
        evaluate_ood(ColourClassifier(), tmp_path / "empty", "imagenet-a")
    with pytest.raises(ValueError, match=r"\[B, 1000\]"):
        evaluate_ood(lambda x: torch.zeros(x.shape[0], 10), tmp_path / "r", "imagenet-r", resize=16, crop=16)
