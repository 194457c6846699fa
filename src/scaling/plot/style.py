"""The one figure style of the project: sizes for a two-column paper, colour-blind-safe colours, labels with units.

Every figure function draws inside `paper_style()` and writes through `save_figure`, so all figures share fonts,
sizes and colours, and each is written as a vector PDF plus a 300 dpi PNG next to it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib.pyplot as plt  # the backend is the caller's: the CLI picks Agg (scaling.outputs.use_file_backend)
import numpy as np
from matplotlib.colors import Colormap, to_hex

from scaling.atomic import atomic_write_bytes

# matplotlib's PDF backend subsets fonts through fontTools, which logs every glyph table at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

# Widths of a two-column paper (inches): one column, and the full text width.
COLUMN_WIDTH = 3.4
PAGE_WIDTH = 7.0
PNG_DPI = 300

# Okabe & Ito (2008), the standard categorical palette for colour-vision deficiencies; used for unordered groups
# (architectures, models). Ordered series (one curve per N or per D) use the perceptually uniform `viridis`.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
SEQUENTIAL_CMAP = "viridis"
# Signed quantities centred on zero (residuals drawn over a viridis surface): ColorBrewer's RdBu, colour-blind safe,
# white at zero, so a well-fitted point reads as a white dot with a dark edge on any background.
DIVERGING_CMAP = "RdBu_r"
# Series told apart by a second, unordered group column (e.g. arch beside n_params): marker and line style, so they
# read in grey print and for colour-vision deficiencies, not by colour alone.
MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)))
BAND_ALPHA = 0.18
REGIME_ALPHA = 0.07

_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 7,
    "legend.frameon": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "errorbar.capsize": 1.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # embed TrueType, so text stays editable and searchable in the PDF
    "ps.fonttype": 42,
    "figure.constrained_layout.use": True,
}

# Axis labels with units for the tidy-table columns (docs/sweeps.md) and the reference tables' columns.
_LABELS = {
    "train_size": "training structures $D$",
    "D_train": "training structures $D$",
    "D": "training set size $D$",
    "D_tokens": "training tokens $D$",
    "n_params": "parameters $N$",
    "N_params": "parameters $N$",
    "N": "parameters $N$",
    "val_loss": "validation loss",
    "loss": "loss",
    "test_energy_mae": "energy MAE (eV/atom)",
    "test_force_mae": "force MAE (eV/Å)",
    "test_stress_mae": "stress MAE (GPa)",
    "C_flop": "compute $C$ (FLOP)",
}


# What a loss column is, written under its label when no unit is given: the training loss of train/losses.py with
# TrainConfig's default weights (energy_weight 1, force_weight 1, stress_weight 0.01), each term a mean squared
# error in the table's units. A sweep that changes the weights labels its figures itself (`y_label`).
_DEFINITIONS = {
    "val_loss": "$\\langle\\Delta E^2\\rangle + \\langle\\Delta F^2\\rangle + 0.01\\,\\langle\\Delta\\sigma^2\\rangle$"
                " (eV/atom, eV/Å, GPa)",
}


def loss_definition(column: str) -> str | None:
    """What a loss column is (weights and units), for a figure's note; None for other columns."""
    return _DEFINITIONS.get(column)


def axis_label(column: str, unit: str | None = None) -> str:
    """A readable axis label for a table column; `unit` (e.g. "eV/atom") overrides or adds the unit. A loss
    column without a unit gets its definition (weights and units) on a second line."""
    label = _LABELS.get(column, column.replace("_", " "))
    if unit:
        return f"{label.split(' (')[0]} ({unit})"
    if column in _DEFINITIONS:
        return f"{label}\n{_DEFINITIONS[column]}"
    return label


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Matplotlib settings for figures printed at their natural size in a two-column paper."""
    with plt.rc_context(_RC):
        yield


def figure(width: str | float = "column", aspect: float = 0.78, ncols: int = 1, nrows: int = 1, **kwargs):
    """A figure `width` wide ("column", "page" or inches) and width*aspect tall, with its axes."""
    inches = {"column": COLUMN_WIDTH, "page": PAGE_WIDTH}.get(width, width) if isinstance(width, str) else width
    return plt.subplots(nrows, ncols, figsize=(inches, inches * aspect), squeeze=False, **kwargs)


def sequential_cmap() -> Colormap:
    """viridis without its palest 15%, so the lightest curves and points stay visible on white."""
    from matplotlib.colors import ListedColormap

    return ListedColormap(plt.get_cmap(SEQUENTIAL_CMAP)(np.linspace(0.0, 0.85, 256)), name="viridis_dark")


def ordered_colors(n: int, cmap: str | Colormap = SEQUENTIAL_CMAP) -> list[str]:
    """`n` colours along a perceptually uniform colormap, stopping before its palest end so lines stay visible."""
    cmap = plt.get_cmap(cmap) if isinstance(cmap, str) else cmap
    if n == 1:
        return [to_hex(cmap(0.35))]
    return [to_hex(cmap(0.05 + 0.8 * i / (n - 1))) for i in range(n)]


def categorical_colors(n: int) -> list[str]:
    """`n` Okabe-Ito colours (cycling past eight)."""
    return [OKABE_ITO[i % len(OKABE_ITO)] for i in range(n)]


def output_paths(out_path: str | os.PathLike) -> tuple[Path, Path]:
    """The PDF and PNG paths of a figure: OUT.pdf and OUT.png, whichever of the two (or neither) OUT names."""
    out = Path(out_path)
    stem = out.with_suffix("") if out.suffix.lower() in (".pdf", ".png") else out
    return stem.with_suffix(".pdf"), stem.with_suffix(".png")


def save_figure(fig, out_path: str | os.PathLike) -> list[Path]:
    """Write `fig` as a vector PDF and a 300 dpi PNG (atomically) and close it; returns both paths."""
    written = []
    for path, fmt in zip(output_paths(out_path), ("pdf", "png")):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata={"Creator": "scaling"} if fmt == "pdf" else None)
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    plt.close(fig)
    return written


def compact_number(value: float) -> str:
    """1.2M, 350k, 2.5B: short labels for N and D in legends."""
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.3g}{suffix}"
    return f"{value:.3g}"


def legend_outside(ax, handles: Sequence | None = None, labels: Sequence[str] | None = None, title: str | None = None):
    """A legend to the right of the axes, so it never hides data."""
    kwargs = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "title": title}
    if handles is not None:
        return ax.legend(handles, labels, **kwargs)
    return ax.legend(**kwargs)
