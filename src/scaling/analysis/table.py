"""Read a results table and turn it into curves: one per group, seeds (rows sharing group and x) collected.

CSV goes through the stdlib reader so that `scaling fit` needs no pandas (importing it costs a third of a second)
and paths stay strings (os.path, not pathlib: the fast path avoids even that import);
Parquet and JSON lines go through pandas, imported only then; a `--where` filter is evaluated here
(`scaling.analysis.where`), never by pandas.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.errors import InputError


@dataclass
class Table:
    """Columns by name, each a list of values (strings from CSV, typed values from pandas)."""

    path: str
    columns: dict[str, list[Any]]

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def take(self, keep: np.ndarray) -> "Table":
        """The rows where `keep` (bool [rows]) is true."""
        return Table(self.path, {name: [v for v, k in zip(values, keep) if k] for name, values in self.columns.items()})

    def require(self, name: str, flag: str) -> list[Any]:
        if name not in self.columns:
            raise InputError(f"{self.path}: {flag} column {name!r} not found (columns: {', '.join(self.columns)})")
        return self.columns[name]


@dataclass
class Curve:
    """One group's points: x [n] or [n, 2], seed mean y [n], population std y_std [n] (ddof=0), seeds per x, and
    the seeds' labels per x (`seed_ids`, when the table names them: a label shared across x is one run's seed)."""

    group: dict[str, Any]
    x: np.ndarray
    y: np.ndarray
    y_std: np.ndarray
    n_seeds: np.ndarray
    seeds: list[np.ndarray] = field(default_factory=list)
    seed_ids: list[tuple] | None = None

    def paired_seeds(self) -> np.ndarray | None:
        """The seeds as a matrix [n, m] whose column j holds one seed label's value at every x, when every x has
        the same m >= 2 distinct labels (a balanced design); else None."""
        if self.seed_ids is None or len(self.seed_ids) < 2:
            return None
        labels = sorted(self.seed_ids[0], key=str)
        if len(labels) < 2 or len(set(labels)) != len(labels):
            return None
        matrix = []
        for ids, values in zip(self.seed_ids, self.seeds):
            if len(ids) != len(labels) or sorted(ids, key=str) != labels:
                return None
            by_label = dict(zip(ids, values))
            matrix.append([by_label[label] for label in labels])
        return np.array(matrix, dtype=float)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.group.items()) or "all rows"

    def subset(self, keep: np.ndarray) -> "Curve":
        """The points where `keep` (bool [n]) is true."""
        return Curve(self.group, self.x[keep], self.y[keep], self.y_std[keep], self.n_seeds[keep],
                     [s for s, k in zip(self.seeds, keep) if k],
                     None if self.seed_ids is None else [s for s, k in zip(self.seed_ids, keep) if k])


_PANDAS_SUFFIXES = {".parquet", ".pq", ".jsonl", ".ndjson", ".json"}


def read_table(path: str | os.PathLike, where: str | None = None) -> Table:
    """A table from CSV, Parquet or JSON lines (by extension), keeping the rows a `--where` filter selects
    (`scaling.analysis.where`; checked before the file is read)."""
    path = os.fspath(path)
    row_filter = None
    if where:
        from scaling.analysis.where import Filter

        row_filter = Filter(where)
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    suffix = os.path.splitext(path)[1].lower()
    table = _read_with_pandas(path, suffix) if suffix in _PANDAS_SUFFIXES else _read_csv(path)
    if row_filter is None:
        return table
    table = table.take(row_filter.mask(table.columns, path))
    if table.n_rows == 0:
        raise InputError(f"{path}: --where {where!r} selects no rows")
    return table


def read_fit_table(path: str | os.PathLike, where: str | None = None) -> tuple[Table, dict[str, int]]:
    """The rows a fit uses: those `where` keeps and, unless `where` itself names the status column, only the
    rows of a collected sweep whose status is "done" (with the count left out per other status)."""
    table = read_table(path, where)
    if where:
        from scaling.analysis.where import Filter

        if "status" in Filter(where).names:
            return table, {}
    return done_rows(table)


def done_rows(table: Table) -> tuple[Table, dict[str, int]]:
    """The rows of a collected sweep table whose `status` is "done", and the count left out per other status
    ({} when the table has no status column or every row is done): failed or pending cells have no loss to fit."""
    status = table.columns.get("status")
    if status is None:
        return table, {}
    keep = np.array([str(s) == "done" for s in status], dtype=bool)
    left_out: dict[str, int] = {}
    for value, kept in zip(status, keep):
        if not kept:
            name = "missing" if value is None or str(value) in ("", "nan", "None") else str(value)
            left_out[name] = left_out.get(name, 0) + 1
    if not keep.any():
        raise InputError(f"{table.path}: no row has status 'done' ({', '.join(f'{k}: {v}' for k, v in left_out.items())})")
    return (table.take(keep) if left_out else table), left_out


def _read_csv(path: str) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise InputError(f"{path}: empty file (no header row)")
            rows = [row for row in reader if row]
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a UTF-8 CSV file ({error.reason})") from None
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise InputError(f"{path}: line {number} has {len(row)} fields, the header has {len(header)}")
    return Table(path, {name: [row[i] for row in rows] for i, name in enumerate(header)})


def _read_with_pandas(path: str, suffix: str) -> Table:
    import pandas as pd

    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=True)
    except Exception as error:  # pandas/pyarrow raise many types for unreadable files
        raise InputError(f"{path}: cannot read as {suffix} table ({type(error).__name__}: {error})".splitlines()[0]) from None
    return Table(path, {str(name): frame[name].tolist() for name in frame.columns})


def _plain(value: Any) -> Any:
    """A group value as int, float or str (numbers stay numbers in the JSON)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str):
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
    return value


def numeric_column(table: Table, name: str, flag: str) -> np.ndarray:
    """A column as floats; a non-numeric, NaN or infinite value is an InputError naming the row."""
    values = table.require(name, flag)
    out = np.empty(len(values))
    for i, value in enumerate(values):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{table.path}: column {name!r} row {i + 1}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise InputError(f"{table.path}: column {name!r} row {i + 1}: {value!r} is not finite")
        out[i] = number
    return out


def curves(table: Table, x: str | list[str], y: str, group: list[str] | tuple[str, ...] = (),
           x_flags: list[str] | None = None, seed_column: str | None = None) -> list[Curve]:
    """One Curve per distinct group value (in order of first appearance); rows sharing (group, x) are seeds.
    `x_flags` names the flag of each x column in errors (default --x; fit2d's are --n and --d). `seed_column`, when
    the table has it, labels each seed (Curve.seed_ids), so a seed's rows can be paired across x."""
    if table.n_rows == 0:
        raise InputError(f"{table.path}: the table has no rows")
    x_names = [x] if isinstance(x, str) else list(x)
    x_flags = x_flags or ["--x"] * len(x_names)
    xs = np.stack([numeric_column(table, name, flag) for name, flag in zip(x_names, x_flags)], axis=1)
    ys = numeric_column(table, y, "--y")
    keys = list(zip(*(table.require(name, "--group") for name in group))) if group else [()] * len(ys)
    labelled = seed_column is not None and seed_column in table.columns
    labels = table.columns[seed_column] if labelled else [None] * len(ys)
    by_group: dict[tuple, dict[tuple, list[float]]] = {}
    ids: dict[tuple, dict[tuple, list]] = {}
    for key, x_row, y_value, label in zip(keys, map(tuple, xs), ys, labels):
        by_group.setdefault(key, {}).setdefault(x_row, []).append(float(y_value))
        ids.setdefault(key, {}).setdefault(x_row, []).append(label)
    result = []
    for key, points in by_group.items():
        x_sorted = sorted(points)
        seeds = [np.array(points[p]) for p in x_sorted]
        x_arr = np.array(x_sorted)
        result.append(Curve(
            group={name: _plain(value) for name, value in zip(group, key)},
            x=x_arr[:, 0] if len(x_names) == 1 else x_arr,
            y=np.array([s.mean() for s in seeds]),
            y_std=np.array([s.std() for s in seeds]),
            n_seeds=np.array([len(s) for s in seeds]),
            seeds=seeds,
            seed_ids=[tuple(ids[key][p]) for p in x_sorted] if labelled else None,
        ))
    return result
