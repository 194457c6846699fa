"""The training step reads nothing back from the device: counted with a dispatch mode over real training steps.

On a GPU every op that brings a device value to the host (`.item()`, `float()`, `bool()` and `int()` of a tensor are
all `aten::_local_scalar_dense`), or whose output size depends on tensor values (`nonzero`, boolean-mask indexing,
`bincount`, `unique`, ...), waits for the device to finish. The test counts those ops while `Run.train_step` runs on
CPU tensors, so a per-step synchronisation that comes back fails here without a GPU. The optimiser's own step is
left out: torch's AdamW keeps its step counter on the host by design (capturable=False), so its reads cost no wait.
"""

from __future__ import annotations

from models_helpers import emt_run_data
from torch.utils._python_dispatch import TorchDispatchMode

from scaling.train import TrainConfig, run_training
from scaling.train.loop import Run

SYNCING = {"_local_scalar_dense", "nonzero", "masked_select", "bincount", "unique", "_unique2", "unique_dim",
           "unique_consecutive", "repeat_interleave", "item", "equal", "is_nonzero"}


class SyncCounter(TorchDispatchMode):
    """Counts the ops that would make the host wait for a GPU (outside the optimiser's step)."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []
        self.paused = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.paused and func.overloadpacket.__name__ in SYNCING:
            self.seen.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_training_step_reads_nothing_back_from_the_device(tmp_path, monkeypatch):
    """The whole step of a twobody run: batch to device, forward, forces, loss, backward, clipping, bookkeeping.
    (The threebody block enumerates triplets with data-dependent sizes, nonzero and bincount: its own syncs.)"""
    counter, steps = SyncCounter(), []
    real_step = Run.train_step

    def counted_step(run, step):
        pause = run.optimizer.register_step_pre_hook(lambda *_: setattr(counter, "paused", True))
        resume = run.optimizer.register_step_post_hook(lambda *_: setattr(counter, "paused", False))
        try:
            with counter:
                real_step(run, step)
        finally:
            pause.remove()
            resume.remove()
        steps.append(run.progress.step)

    monkeypatch.setattr(Run, "train_step", counted_step)
    config = TrainConfig(params=3000, arch="twobody", max_epochs=2, batch_size=4, seed=1, threads=1, device="cpu",
                         warmup_steps=2)
    result = run_training(config, tmp_path, data=emt_run_data())
    assert result["status"] == "done" and len(steps) == 12
    assert counter.seen == []
