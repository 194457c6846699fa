"""`scaling demo` end to end on a reduced grid (the full demo.yaml takes minutes): sweep, table, fits, figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scaling.sweep.runfolder import read_jsonl

REPO = Path(__file__).resolve().parents[1]


def reduced_demo_spec(path: Path) -> Path:
    spec = yaml.safe_load((REPO / "experiments" / "demo.yaml").read_text())
    spec["dataset"]["emt"]["n"] = 120
    spec["dataset"]["cutoff"] = 4.0
    spec["axes"] = {"train_size": [8, 16, 24, 32, 48], "params": [560, 1300], "arch": ["twobody"], "seed": [0, 1]}
    spec["training"].update(max_epochs=10, max_steps=40, batch_size=4, warmup_steps=5, checkpoint_every_steps=20)
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
def test_demo_writes_table_fits_and_figures(tmp_path):
    spec = reduced_demo_spec(tmp_path / "demo_small.yaml")
    out = tmp_path / "scaling-demo"  # the default folder, in the directory the demo is run from
    run = subprocess.run([sys.executable, "-m", "scaling.cli", "demo", "--spec", str(spec), "--bootstrap", "40"],
                         capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count(f"{out}/") >= 2  # the folder is named at the start and at the end
    plan = json.loads((out / ".work" / "run" / "plan.json").read_text())  # for bench_planner.py --run-dir
    assert len(plan["cells"]) == 20 and "scaling demo: plan: 20 cells to train" in run.stderr
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 20 and (table["status"] == "done").all()
    fits = json.loads((out / "fit_data.json").read_text())["fits"]
    assert {(f["group"]["arch"], f["group"]["n_params"]) for f in fits} == set(
        zip(table["arch"], table["n_params"]))
    assert all(len(f["exponents"]) == 2 and len(f["breaks"]) == 1 for f in fits)
    surface = json.loads((out / "fit2d.json").read_text())["fits"]
    assert len(surface) == 1 and surface[0]["law"] == "hoffmann-broken"
    for name in ("fit_data.pdf", "fit_data.png", "fit2d.pdf", "fit2d.png"):
        assert (out / name).stat().st_size > 1000, name
    summary = json.loads((out / "demo.json").read_text())
    assert summary["counts"]["done"] == 20 and summary["failed_steps"] == []
    usecase = json.loads((out / "usecase.json").read_text())  # the light suite on the largest cell
    assert usecase["n_params"] == table["n_params"].max() and usecase["train_size"] == table["train_size"].max()
    assert usecase["metrics"]["hot_force_mae_ev_a"] > 0 and usecase["metrics"]["md_failure_temperature_k"] > 0
    starts = cell_starts(out)
    assert len(starts) == 20 and set(starts.values()) == {1}
    again = subprocess.run([sys.executable, "-m", "scaling.cli", "-q", "demo", "--spec", str(spec), "--out", str(out),
                            "--bootstrap", "40"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert cell_starts(out) == starts  # a second run resumes: no cell is started (trained) again


def cell_starts(out: Path) -> dict[str, int]:
    """Training starts per cell: the lines of each cell's attempts.jsonl that record a start (not an event)."""
    return {path.parent.name: sum("event" not in attempt for attempt in read_jsonl(path))
            for path in out.rglob("attempts.jsonl")}


def test_demo_writes_to_a_git_ignored_folder_of_its_own():
    """The default output folder is not results/demo (the committed reference) and git ignores all it writes."""
    from scaling.cli import build_parser

    args = build_parser("demo").parse_args(["demo"])
    assert Path(args.out) == Path("scaling-demo")
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    written = ["scaling-demo/results.csv", "scaling-demo/fit2d.png", "scaling-demo/.work/run/cells/x/best.pt"]
    check = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=REPO, capture_output=True, text=True)
    assert check.stdout.split() == written
