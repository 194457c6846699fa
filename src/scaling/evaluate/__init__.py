"""Use-case evaluation of a trained potential: properties computed with the model and with a reference.

`scaling evaluate` and the sweep's evaluation stage call `run_suite`. The `emt` suite compares the model with EMT
(the surface the embedded dataset is labelled with, so the reference is exact): equations of state, cubic elastic
constants, vacancy and surface energies, forces on hot structures, an MD heating ramp and NVE energy drift. The
`groups` suite reports test errors per group label of a DFT file (mlearn: Ground, Elastic, Surface, ...).

Modules: suite (presets and YAML), models (what is evaluated), structures, statics, defects, dynamics, groups,
runner (`run_suite`), stage (the sweep cell's resumable evaluation stage). This package file imports nothing
heavy, so a sweep spec can validate its `evaluation:` section without ase or torch.
"""
