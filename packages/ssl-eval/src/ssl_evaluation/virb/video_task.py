"""ViRB's Kinetics action prediction: a frozen trunk encodes every frame of a clip, an LSTM
reads the per-frame encodings in order and a linear layer classifies its last hidden state.

ViRB encodes 6 frames per clip (``ssl data prepare kinetics_frames``) and trains the head with
Adam at lr 1e-4, batch 32; the metric is top-1 (top-5 too here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.validation import resolve_num_classes

__all__ = ["ClipLSTM", "encode_clips", "video_task"]


class ClipLSTM(nn.Module):
    """LSTM over per-frame encodings ``[B, T, D]`` -> logits ``[B, C]`` from the last step."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 512, layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def encode_clips(trunk: nn.Module, clips: Tensor, batch_size: int = 64, device: str | torch.device = "cpu",
                 progress: ProgressFn | None = None) -> Tensor:
    """Encode every frame with the frozen ``trunk`` (``[B, 3, H, W] -> [B, D]``, or maps that are
    averaged over space): clips ``[N, T, 3, H, W]`` -> encodings ``[N, T, D]`` (CPU, float32);
    ``progress("frames", frames done, N * T)`` after every batch."""
    if not isinstance(clips, Tensor) or clips.ndim != 5:
        raise ValueError(f"clips must be a float tensor [N, T, 3, H, W], got {tuple(getattr(clips, 'shape', ()))}")
    n, t = clips.shape[:2]
    frames = clips.reshape(n * t, *clips.shape[2:]).float()
    was_training = trunk.training
    trunk.eval()
    out = []
    ticker = Ticker(progress, "frames", n * t)
    try:
        with torch.no_grad():
            for start in range(0, n * t, batch_size):
                y = trunk(frames[start : start + batch_size].to(device))
                y = y.flatten(2).mean(dim=2) if y.ndim == 4 else y
                out.append(y.float().cpu())
                ticker.advance(y.shape[0])
    finally:
        trunk.train(was_training)
    encoded = torch.cat(out)
    return encoded.reshape(n, t, -1)


def _check(encodings: Tensor, labels: Tensor, name: str) -> tuple[Tensor, Tensor]:
    if not isinstance(encodings, Tensor) or encodings.ndim != 3:
        raise ValueError(f"{name} encodings must be [N, T, D], got {tuple(getattr(encodings, 'shape', ()))}")
    labels = torch.as_tensor(labels).long().reshape(-1)
    if labels.shape[0] != encodings.shape[0]:
        raise ValueError(f"{name}: {encodings.shape[0]} clips but {labels.shape[0]} labels")
    if encodings.shape[0] == 0:
        raise ValueError(f"{name} has no clips")
    return encodings.float(), labels


def video_task(
    train_encodings: Tensor,
    train_labels: Tensor,
    test_encodings: Tensor,
    test_labels: Tensor,
    num_classes: int | None = None,
    hidden: int = 512,
    epochs: int = 100,
    batch_size: int = 32,
    lr: float = 1e-4,
    return_predictions: bool = False,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Train a :class:`ClipLSTM` on per-frame encodings ``[N, T, D]`` with class ids ``[N]``
    (Adam, cross-entropy, shuffled batches) and score it on ``[M, T, D]`` / ``[M]``.

    Returns ``{"top1": %, "top5": %, "train_loss": [per epoch], "protocol": {...}}`` (plus
    ``"predictions"`` ``[M]`` when asked); ``progress("video LSTM", iterations done, total)``.
    """
    train_x, train_y = _check(train_encodings, train_labels, "train")
    test_x, test_y = _check(test_encodings, test_labels, "test")
    if train_x.shape[2] != test_x.shape[2]:
        raise ValueError(f"train encodings have {train_x.shape[2]} features but test has {test_x.shape[2]}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    classes = resolve_num_classes([train_y, test_y], num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = ClipLSTM(train_x.shape[2], classes, hidden)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    head.train()
    ticker = Ticker(progress, "video LSTM", epochs * -(-train_x.shape[0] // batch_size))
    for _ in range(epochs):
        order = torch.randperm(train_x.shape[0], generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            loss = F.cross_entropy(head(train_x[rows]), train_y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
            ticker.advance()
        history.append(total / batches)
    head.eval()
    with torch.no_grad():
        logits = head(test_x)
    result: dict[str, object] = {**topk_accuracy(logits, test_y), "train_loss": history, "protocol": {
        "head": "lstm", "hidden": hidden, "frames": int(train_x.shape[1]), "optimizer": "adam", "lr": lr,
        "epochs": epochs, "batch_size": batch_size, "num_classes": classes, "seed": seed,
    }}  # fmt: skip
    if return_predictions:
        result["predictions"] = logits.argmax(dim=1)
    return result
