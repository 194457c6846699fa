"""Figures for papers: one style module (`scaling.plot.style`) and figure functions (`scaling.plot.figures`)
driven by a tidy results table and/or a fit JSON. Matplotlib loads only when this package is imported."""
