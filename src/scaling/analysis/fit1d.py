"""One-axis fits y(x) per group of a results table, as a library pipeline: `fit_table(...) -> document`.

The pipeline behind `scaling fit` (the command only parses flags and prints): read the table (rows a `--where` filter
keeps; of a collected sweep, the rows whose status is "done"), collect seeds per (group, x), check each curve, split
off the held-out largest x, fit the law (or every `--select` candidate), score each candidate's extrapolation by
rolling-origin hold-out, rank, bootstrap, and build the JSON through `scaling.analysis.record`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from scaling.analysis.checks import check_curve
from scaling.analysis.fitting import FitResult, fit
from scaling.analysis.laws import law_names
from scaling.analysis.record import document, fit_record, rmsle
from scaling.analysis.selection import build_law, candidate_laws, rank_key
from scaling.analysis.table import Curve, curves, read_fit_table
from scaling.analysis.uncertainty import bootstrap, check_replicates
from scaling.errors import InputError

SELECT_BY = ("aicc", "holdout")


@dataclass(frozen=True)
class FitSettings:
    """How `scaling fit` fits (its flags): law and breaks, fixed values, residual space, weights, loss, bootstrap,
    hold-out, selection (`select`: fit every candidate; `select_by`: rank them by AICc or by the rolling-origin
    hold-out score over `holdout_folds` origins) and optimiser. `seed_column` labels the seeds: a seed present at
    every x of a curve is one run's seed across x, and the bootstrap pairs it ("" treats seeds as independent)."""

    law: str = "broken"
    breaks: int = 1
    fixed: dict[str, float] = field(default_factory=dict)
    space: str = "log"
    weights: str = "none"
    loss: str = "lsq"
    huber_delta: float = 1e-3
    bootstrap: int = 0
    bootstrap_method: str = "auto"
    seed_column: str = "seed"
    seed: int = 0
    holdout_last: int = 0
    select: bool = False
    select_by: str = "aicc"
    holdout_folds: int = 3
    optimizer: str = "lm"

    def check(self) -> None:
        """Every setting on its own, before any file is read (InputError naming the flag and value)."""
        laws = law_names(n_inputs=1)
        if self.law not in laws:
            raise InputError(f"--law {self.law!r}: unknown law (known: {', '.join(laws)})")
        for flag, value, minimum in (("--breaks", self.breaks, 1), ("--holdout-last", self.holdout_last, 0),
                                     ("--holdout-folds", self.holdout_folds, 1)):
            if value < minimum:
                raise InputError(f"{flag} must be >= {minimum}, got {value}")
        if self.breaks != 1 and not self.law.startswith("broken") and not self.select:
            raise InputError(f"--breaks {self.breaks}: law {self.law!r} has no breaks (use --law broken)")
        check_replicates(self.bootstrap)
        if not self.huber_delta > 0:
            raise InputError(f"--huber-delta must be positive, got {self.huber_delta}")
        if self.select_by not in SELECT_BY:
            raise InputError(f"--select-by {self.select_by!r}: choose from {', '.join(SELECT_BY)}")
        for flag, value, choices in (("--space", self.space, ("log", "linear")), ("--loss", self.loss, ("lsq", "huber")),
                                     ("--weights", self.weights, ("none", "seed-std")),
                                     ("--optimizer", self.optimizer, ("lm", "lmfit"))):
            if value not in choices:
                raise InputError(f"{flag} {value!r}: choose from {', '.join(choices)}")


@dataclass
class _Job:
    """One law to fit to one group: the fitted points, the held-out ones, the law, its fixed values, weights."""

    fitted: Curve
    held: Curve
    law: object
    fixed: dict[str, float]
    sigma: np.ndarray | None
    result: FitResult | None = None


def fit_table(
    table: str,
    x: str,
    y: str,
    group: Sequence[str] = (),
    where: str | None = None,
    settings: FitSettings = FitSettings(),
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Read `table`, fit every group and return the whole `scaling fit` JSON document (see `record.document`);
    every input is checked before anything is fitted. `progress(k)` hears of each k bootstrap replicates done."""
    settings.check()
    select = settings.select or settings.select_by == "holdout"
    data, left_out = read_fit_table(table, where)
    seed_column = settings.seed_column if settings.seed_column not in ("", x, *group) else None
    groups = curves(data, x, y, list(group), seed_column=seed_column)
    jobs = []
    for curve in groups:
        check_curve(data.path, curve, [x], y, settings.space, settings.weights, distinct_x=True)
        fitted, held = _split(data.path, curve, x, settings.holdout_last)
        sigma = fitted.y_std if settings.weights == "seed-std" else None
        if select:  # candidates with more free parameters than points cannot be fitted: they are left out
            laws = [(law, fixed) for law, fixed in candidate_laws(settings.breaks, settings.fixed)
                    if free_count(law, fixed) <= len(fitted.x)]
        else:
            laws = [(build_law(settings.law, settings.breaks, settings.fixed), settings.fixed)]
        jobs += [_Job(fitted, held, law, law_fixed, sigma) for law, law_fixed in laws]

    for job in jobs:
        try:
            job.result = _fit(job, job.fitted, job.sigma, settings)
        except InputError as error:
            raise InputError(f"{data.path}: {job.fitted.label}: {error}") from None
    records = []
    for job in jobs:
        boot = None
        if settings.bootstrap:
            boot = bootstrap(job.result, job.fitted, n_boot=settings.bootstrap, seed=settings.seed, sigma=job.sigma,
                             progress=progress, method=settings.bootstrap_method)
        record = fit_record(job.fitted, job.result, boot, rmsle(job.result, job.held.x, job.held.y))
        if select:
            origins = holdout_origins(len(job.fitted.x), [j.result.k for j in jobs if j.fitted is job.fitted],
                                      settings.holdout_folds)
            record["holdout_origins"] = origins
            record["holdout_score"] = holdout_score(job, origins, settings)
        records.append(record)
    if select:
        records = _ranked(records, settings.select_by)
    columns = {"x": x, "y": y, "group": list(group)}
    return document("fit1d", str(table), columns, where, settings_record(settings), left_out, records)


def free_count(law, fixed: dict[str, float]) -> int:
    """Free parameters of `law` with `fixed` held (a tied amplitude is not a parameter)."""
    return len(law.param_names) - sum(1 for name in fixed if name in law.param_names)


def settings_record(settings: FitSettings) -> dict:
    """The settings as the JSON carries them."""
    out = asdict(settings)
    out["fixed"] = dict(settings.fixed)
    return out


def _split(path: str, curve: Curve, x: str, holdout_last: int) -> tuple[Curve, Curve]:
    """(fitted points, held-out points): the `holdout_last` largest x are held out."""
    keep = np.ones(len(curve.x), dtype=bool)
    if holdout_last:
        if holdout_last >= len(curve.x):
            raise InputError(f"{path}: {curve.label}: --holdout-last {holdout_last} leaves no points to fit "
                             f"({len(curve.x)} {x} values)")
        keep[-holdout_last:] = False
    return curve.subset(keep), curve.subset(~keep)


def _fit(job: _Job, curve: Curve, sigma: np.ndarray | None, settings: FitSettings) -> FitResult:
    return fit(job.law, curve.x, curve.y, sigma=sigma, space=settings.space, loss=settings.loss,
               huber_delta=settings.huber_delta, fixed=job.fixed, optimizer=settings.optimizer)


def holdout_origins(n_points: int, free: list[int], folds: int) -> int:
    """Origins K of the rolling-origin score of one group, the same for every candidate so their scores compare:
    at most `folds`, and small enough that the candidate with the most free parameters still has as many points
    as parameters when the K largest x are held out (at least 1)."""
    return max(1, min(folds, n_points - max(free)))


def holdout_score(job: _Job, origins: int, settings: FitSettings) -> float | None:
    """Rolling-origin extrapolation score: for k = 1..origins, fit on all but the k largest x and predict those k;
    the RMSLE over every prediction (pooled). None where the law has more free parameters than the points left
    (n - origins) or a fold's fit fails."""
    curve = job.fitted
    if len(curve.x) - origins < job.result.k:
        return None
    errors = []
    for k in range(1, origins + 1):
        keep = np.arange(len(curve.x)) < len(curve.x) - k
        train = curve.subset(keep)
        try:
            result = _fit(job, train, None if job.sigma is None else job.sigma[keep], settings)
        except InputError:
            return None
        with np.errstate(all="ignore"):
            predicted = job.law.log_evaluate(curve.x[~keep], result.theta)
        errors.append(predicted - np.log(curve.y[~keep]))
    value = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    return value if np.isfinite(value) else None


def _ranked(records: list[dict], select_by: str) -> list[dict]:
    """Each group's candidates in rank order (groups in order of first appearance): by AICc (BIC breaking ties),
    or by the hold-out score (AICc breaking ties); undefined criteria last."""
    order: dict[str, list[dict]] = {}
    for record in records:
        order.setdefault(repr(record["group"]), []).append(record)

    def key(record):
        aicc = rank_key(record["aicc"], record["bic"])
        if select_by == "aicc":
            return aicc
        score = record.get("holdout_score")
        return (float("inf") if score is None else score, *aicc)

    return [record for group in order.values() for record in sorted(group, key=key)]
