"""The sweep runner: a grid of training runs (arch x params x train_size x seed) from a YAML spec, run in-process,
in local worker processes or on SLURM (submitit), resumable after any failure; status, collect and cancel."""

from scaling.sweep.collect import COLUMNS, collect, write_table
from scaling.sweep.runfolder import RunFolder
from scaling.sweep.runner import RunReport, cancel, run_sweep
from scaling.sweep.spec import Cell, SweepSpec, load_spec, parse_spec
from scaling.sweep.status import sweep_status

__all__ = ["COLUMNS", "Cell", "RunFolder", "RunReport", "SweepSpec", "cancel", "collect", "load_spec", "parse_spec",
           "run_sweep", "sweep_status", "write_table"]
