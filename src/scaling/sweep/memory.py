"""The local executor's memory budget: cells start only while the planner's estimates of the running cells fit.

`executor.local.memory_budget_mb` is the memory of the device the cells share (host RAM with device cpu, the GPU's
memory with cuda). Each cell's estimate is the planner's (`scaling sweep plan`: the probe's peak resident memory on
CPU, torch's peak allocation on CUDA). A cell whose estimate alone exceeds the budget is refused before anything is
written; while the sweep runs, a cell is handed to a worker only if its estimate plus those of the running cells
stays within the budget. RUN_DIR/memory.json records the budget and the estimates used.
"""

from __future__ import annotations

from scaling.atomic import atomic_write_json
from scaling.errors import InputError
from scaling.sweep.runfolder import RunFolder

MEMORY_FILE = "memory.json"


def cell_estimates(plan) -> tuple[str, dict[str, float]]:
    """(device, {cell_id: MB}) of the cells left to train, from a `scaling.sweep.plan.Plan`."""
    cuda = plan.device == "cuda"
    return plan.device, {cell.cell_id: float((cell.peak_cuda_mb if cuda else None) or cell.peak_rss_mb)
                         for cell in plan.cells if cell.status == "todo"}


def check_budget(estimates: dict[str, float], budget_mb: float, device: str, source: str) -> None:
    """Refuse (one line) a cell that could never start: its estimate alone is above the budget."""
    over = {cell: mb for cell, mb in estimates.items() if mb > budget_mb}
    if over:
        cell, mb = max(over.items(), key=lambda item: item[1])
        more = f" (and {len(over) - 1} more)" if len(over) > 1 else ""
        raise InputError(f"{source}: field `executor.local.memory_budget_mb` = {budget_mb:g}: cell {cell} needs "
                         f"about {mb:.0f} MB of {device} memory{more}, more than the whole budget")


class MemoryBudget:
    """The running cells' estimates against the budget (the local pool asks `fits` before it starts a cell)."""

    def __init__(self, budget_mb: float, estimates: dict[str, float], device: str):
        self.budget_mb, self.estimates, self.device = budget_mb, estimates, device
        self.running: set[str] = set()

    def used(self) -> float:
        return sum(self.estimates.get(cell, 0.0) for cell in self.running)

    def fits(self, cell_id: str) -> bool:
        return self.used() + self.estimates.get(cell_id, 0.0) <= self.budget_mb

    def start(self, cell_id: str) -> None:
        self.running.add(cell_id)

    def end(self, cell_id: str) -> None:
        self.running.discard(cell_id)

    def record(self, folder: RunFolder) -> None:
        atomic_write_json(folder.path / MEMORY_FILE, {"device": self.device, "budget_mb": self.budget_mb,
                                                      "estimates_mb": self.estimates})
