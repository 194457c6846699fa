"""How many cells of a run folder trained at once, read from the run folder alone (attempt start to finish)."""

from __future__ import annotations

from scaling.sweep.runfolder import RunFolder


def cell_intervals(folder: RunFolder) -> dict[str, tuple[float, float]]:
    """{cell_id: (start of its last attempt, finished_at)} for every done cell."""
    intervals = {}
    for cell_id in folder.cell_ids():
        starts = [a["time"] for a in folder.read_attempts(cell_id) if "event" not in a]
        state = folder.read_state(cell_id)
        if starts and state.get("finished_at"):
            intervals[cell_id] = (starts[-1], state["finished_at"])
    return intervals


def peak_overlap(intervals: dict[str, tuple[float, float]], weights: dict[str, float] | None = None) -> float:
    """The largest number (or sum of `weights`) of intervals open at one instant (an end before a start at a tie)."""
    events = sorted([(start, 1, cell) for cell, (start, _) in intervals.items()]
                    + [(end, 0, cell) for cell, (_, end) in intervals.items()])
    now = peak = 0.0
    for _, opening, cell in events:
        weight = (weights or {}).get(cell, 1.0)
        now += weight if opening else -weight
        peak = max(peak, now)
    return peak
