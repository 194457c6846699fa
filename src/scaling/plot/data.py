"""What the figures draw: seed-averaged points, and fitted laws rebuilt from a fit JSON (schema in docs/analysis.md);
the one reader of a fit JSON (`read_fit`, `fit_kind`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scaling.analysis.laws import Law, get_law


def read_fit(path: str) -> dict:
    """A `scaling fit` or `scaling fit2d` JSON document; InputError (one line naming the file) when it is not one."""
    import json

    from scaling.errors import InputError

    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a fit JSON") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a JSON file ({error})") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    fits = document.get("fits") if isinstance(document, dict) else None
    if not isinstance(fits, list) or not fits or not all(isinstance(f, dict) and "law" in f for f in fits):
        raise InputError(f"{path}: field 'fits' must be a non-empty list of fits with a 'law'")
    return document


def fit_kind(document: dict) -> str:
    """"fit1d" or "fit2d", as the document says (documents written before the field existed: a two-axis fit is the
    one whose entries carry their points)."""
    kind = document.get("kind")
    if kind in ("fit1d", "fit2d"):
        return kind
    return "fit2d" if "points" in document["fits"][0] else "fit1d"


def as_frame(table, where: str | None = None, status_filter: bool = False) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a `scaling.analysis.table.Table` (columns as lists, CSV values as strings) or a
    path to a table, keeping the rows the `--where` filter selects (and with `status_filter`, as a fit does, only
    the rows whose status is "done"); numeric-looking columns become numbers."""
    from scaling.analysis.table import Table, done_rows, read_fit_table, read_table

    if isinstance(table, pd.DataFrame):
        table = Table("table", {str(name): table[name].tolist() for name in table.columns})
    elif not (hasattr(table, "columns") and isinstance(table.columns, dict)):
        table = read_fit_table(table, where)[0] if status_filter else read_table(table, where)
        where, status_filter = None, False
    if where:
        from scaling.analysis.where import Filter

        row_filter = Filter(where)
        table = table.take(row_filter.mask(table.columns, table.path))
        status_filter = status_filter and "status" not in row_filter.names
    if status_filter:
        table, _ = done_rows(table)
    return pd.DataFrame(table.columns).apply(_numeric_if_possible)


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column):
        return column
    try:
        return pd.to_numeric(column)
    except (TypeError, ValueError):
        return column


def seed_summary(table: pd.DataFrame, keys: Sequence[str], y: str) -> pd.DataFrame:
    """One row per distinct `keys` (group columns and x columns): mean of y, population std (ddof=0), seed count."""
    grouped = table.groupby(list(keys), sort=True, dropna=False)[y]
    out = grouped.agg(mean="mean", std=lambda s: float(np.std(s.to_numpy(), ddof=0)), n_seeds="count").reset_index()
    return out


def select_group(table: pd.DataFrame, group: dict | None) -> pd.DataFrame:
    """Rows of `table` whose columns equal the fit's group values (all rows when the fit has no group)."""
    mask = np.ones(len(table), dtype=bool)
    for column, value in (group or {}).items():
        mask &= (table[column] == value).to_numpy() | (table[column].astype(str) == str(value)).to_numpy()
    return table[mask]


def group_label(group: dict | None, keys: bool = True) -> str:
    """"2B (TC)" for one group column, "arch=twobody, n_params=1e6" for several ("twobody, 1e6" with keys=False,
    where a legend title already names the columns), "" for none."""
    if not group:
        return ""
    if len(group) == 1 or not keys:
        return ", ".join(_short(v) for v in group.values())
    return ", ".join(f"{k}={_short(v)}" for k, v in group.items())


def _short(value) -> str:
    if isinstance(value, str):
        return value.replace("OptiMetal", "")
    from scaling.plot.style import compact_number

    return compact_number(float(value))


def law_of_fit(fit: dict) -> Law:
    """The law a fit JSON entry was fitted with (`broken` with as many breaks as it has d_i parameters)."""
    name = fit["law"]
    if name.startswith("broken"):
        breaks = sum(1 for key in fit["params"] if re.fullmatch(r"d\d+", key))
        return get_law(name, breaks=max(breaks, 1))
    return get_law(name)


def theta_of_fit(law: Law, fit: dict) -> np.ndarray:
    """The parameter vector of a fit JSON entry, in the law's order."""
    return np.array([float(fit["params"][name]) for name in law.param_names])


def evaluate_fit(fit: dict, x: np.ndarray) -> np.ndarray:
    """The fitted law of a JSON entry at x ([n] for one-axis fits, [n, 2] columns N, D for two-axis fits)."""
    law = law_of_fit(fit)
    return law.evaluate(np.asarray(x, dtype=float), theta_of_fit(law, fit))


def numeric_group_value(group: dict | None) -> float | None:
    """The group's value as a number when the fit is grouped by exactly one numeric column (e.g. n_params)."""
    if not group or len(group) != 1:
        return None
    value = next(iter(group.values()))
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
