"""One training run: config, loop, losses, checkpoints with exact resume, metrics. See docs/models.md.

`TrainConfig` and `run_training` are imported on first use (PEP 562), so code that only validates settings
(`scaling.train.config`, sweep specs) does not import torch."""

__all__ = ["TrainConfig", "run_training"]


def __getattr__(name: str):
    if name == "TrainConfig":
        from scaling.train.config import TrainConfig

        return TrainConfig
    if name == "run_training":
        from scaling.train.loop import run_training

        return run_training
    raise AttributeError(f"module 'scaling.train' has no attribute {name!r}")
