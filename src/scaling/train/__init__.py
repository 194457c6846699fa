"""One training run: config, loop, losses, checkpoints with exact resume, metrics. See docs/models.md."""

from scaling.train.config import TrainConfig
from scaling.train.loop import run_training

__all__ = ["TrainConfig", "run_training"]
