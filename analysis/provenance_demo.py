"""Mixed reference surfaces, caught and corrected: a Ni/O demonstration built from EMT.

The "true" surface is EMT. The mixed dataset mimics Materials Project's selective Hubbard U: every cell holding Ni
and O is labelled "PBE+U" and its energy raised by a constant SHIFT per Ni atom; the other cells (Ni metal and the O2
reference) stay "PBE". A small paired file holds some Ni+O cells under the plain setting. The script then
1. runs `scaling data check` on the mixture (it must flag the selective-U pattern),
2. runs `scaling data correct` with the paired file (the fitted shift must match SHIFT within 1 meV/atom),
3. trains the same small potential on the mixed and on the corrected data (scaling.train.run_training), and
4. compares both with EMT: energy errors of held-out cells with and without O, and the binding curve of an O atom
   approaching a Ni(111) slab (fcc hollow) relative to the separated slab and atom, which the mixed model turns
   repulsive.
Outputs: results/provenance/{check.json, correct.json, summary.json, provenance_demo.pdf/.png}.

    python analysis/provenance_demo.py [--out results/provenance] [--work /tmp/provenance_demo] [--max-steps 1500]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc111
from ase.calculators.emt import EMT
from ase.io import write

SHIFT = 2.0  # eV per Ni atom in O-containing cells (Materials Project's Ni U correction is about 2.5 eV/Ni)
HEIGHTS = np.round(np.arange(0.8, 5.01, 0.1), 2)  # A, O above the fcc hollow of the top layer


def _labelled(atoms: Atoms, rng: np.random.Generator, rattle: float) -> Atoms:
    atoms = atoms.copy()
    atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
    atoms.calc = EMT()
    atoms.info["true_energy"] = float(atoms.get_potential_energy())
    atoms.arrays["forces"] = atoms.get_forces()
    atoms.calc = None
    return atoms


def _bulk(rng) -> Atoms:
    atoms = bulk("Ni", "fcc", a=rng.uniform(3.45, 3.6), cubic=True).repeat((2, 2, 2))
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + rng.normal(0, 0.01, (3, 3))), scale_atoms=True)
    return atoms


def _slab() -> Atoms:
    return fcc111("Ni", size=(2, 2, 4), vacuum=6.0)


def _slab_with_oxygen(rng) -> Atoms:
    slab = _slab()
    site = rng.choice(["fcc", "hcp", "ontop", "bridge"])
    add_adsorbate(slab, "O", float(rng.uniform(0.9, 4.5)), site, offset=tuple(rng.uniform(0, 1, 2)))
    return slab


def _bulk_with_oxygen(rng) -> Atoms:
    """Ni bulk with 1-3 O in distinct octahedral sites (the body centres of the 8 conventional cells)."""
    atoms = _bulk(rng)
    centres = (np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)]) + 0.5) / 2
    chosen = rng.choice(len(centres), int(rng.integers(1, 4)), replace=False)
    sites = centres[chosen] @ atoms.cell[:] + rng.normal(0, 0.1, (len(chosen), 3))
    return atoms + Atoms(f"O{len(chosen)}", positions=sites)


def _oxygen_molecule(rng) -> Atoms:
    """O2 in a 10 A box: the O reference, computed without U as in Materials Project (no U metal in the cell)."""
    return Atoms("O2", positions=[[5, 5, 5], [5, 5, 5 + rng.uniform(1.0, 1.8)]], cell=[10, 10, 10], pbc=True)


def build_dataset(n_per_kind: int, seed: int) -> list[Atoms]:
    """Ni bulk, Ni(111) slabs, O on the slab at 0.9-4.5 A, Ni bulk with interstitial O, O2; rattled, EMT-labelled."""
    rng = np.random.default_rng(seed)
    makers = [(_bulk, 0.08), (lambda r: _slab(), 0.08), (_slab_with_oxygen, 0.05), (_bulk_with_oxygen, 0.05),
              (_oxygen_molecule, 0.02)]
    frames = []
    for make, rattle in makers:
        frames += [_labelled(make(rng), rng, rattle) for _ in range(n_per_kind)]
    order = rng.permutation(len(frames))
    return [frames[k] for k in order]


def _with_setting(atoms: Atoms, with_u: bool) -> Atoms:
    copy = atoms.copy()
    copy.arrays["forces"] = atoms.arrays["forces"]
    n_ni = int((copy.numbers == 28).sum())
    copy.info = {
        "energy": atoms.info["true_energy"] + (SHIFT * n_ni if with_u else 0.0),
        "functional": "PBE+U" if with_u else "PBE",
        "hubbard_u": "Ni:6.2" if with_u else "none",
        "true_energy": atoms.info["true_energy"],
    }
    return copy


def check_and_correct(mixed: Path, paired: Path, corrected: Path) -> tuple[dict, dict]:
    """What `scaling data check --json` and `scaling data correct --json` print, from the same library calls."""
    from scaling.data.io import read_structures, write_extxyz
    from scaling.data.provenance import (apply_energy_shifts, check_records, fit_energy_shifts, hubbard_u_elements,
                                         record_of)

    source, pairs = read_structures(mixed), read_structures(paired)
    check = {"source": str(mixed), **check_records([record_of(s) for s in source]).to_dict()}
    fit = fit_energy_shifts(source, pairs)
    write_extxyz(apply_energy_shifts(source, fit), corrected)
    n_corrected = sum(bool(hubbard_u_elements(record_of(s))) for s in source)
    correct = {"source": str(mixed), "paired": str(paired), "out": str(corrected), "n_corrected": n_corrected,
               **fit.to_dict()}
    return check, correct


def _train(extxyz: Path, work: Path, name: str, args) -> tuple[Path, object]:
    from scaling.data.store import build_store
    from scaling.data.subsets import load_split
    from scaling.train import TrainConfig, run_training

    store = build_store(extxyz, work / f"{name}_store", cutoff=4.5, force=True)
    config = TrainConfig(
        store=str(store), params=args.params, arch="twobody", seed=0, max_epochs=1000, max_steps=args.max_steps,
        batch_size=8, lr=3e-3, patience=40, warmup_steps=30, device="cpu", threads=args.threads,
        energy_weight=10.0, checkpoint_every_steps=500,
    )
    result = run_training(config, work / f"{name}_run")
    print(f"{name}: {result['status']}, test energy MAE {result['test_energy_mae'] * 1e3:.1f} meV/atom, "
          f"{result['epochs']} epochs, {result['train_seconds']:.0f} s", file=sys.stderr)
    return work / f"{name}_run" / "best.pt", load_split(store).test


def _energies(model: Path, frames: list[Atoms]) -> np.ndarray:
    from scaling.calculator import ScalingCalculator

    calculator = ScalingCalculator(model, device="cpu")
    energies = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
    return np.array(energies)


def binding_curve(model: Path | None) -> np.ndarray:
    """E(slab + O at h) - E(clean slab) - E(O2)/2 above the fcc hollow of Ni(111), in eV (O2 at 1.4 A, in a box).

    From EMT (model None) or a trained potential. The references hold no O next to Ni, so a model that learned the
    U step as an O-Ni interaction shows it here as a shifted, weaker or repulsive adsorption curve.
    """
    oxygen = Atoms("O2", positions=[[5, 5, 5], [5, 5, 6.4]], cell=[10, 10, 10], pbc=True)
    frames = [_slab(), oxygen]
    for height in HEIGHTS:
        slab = _slab()
        add_adsorbate(slab, "O", float(height), "fcc")
        frames.append(slab)
    if model is None:
        energies = []
        for atoms in frames:
            atoms.calc = EMT()
            energies.append(atoms.get_potential_energy())
        energies = np.array(energies)
    else:
        energies = _energies(model, frames)
    return energies[2:] - energies[0] - energies[1] / 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/provenance")
    parser.add_argument("--work", default="/tmp/provenance_demo")
    parser.add_argument("--n-per-kind", type=int, default=120, help="structures per kind (5 kinds)")
    parser.add_argument("--params", type=int, default=5000)
    parser.add_argument("--max-steps", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    frames = build_dataset(args.n_per_kind, args.seed)
    has_oxygen = np.array([(a.numbers == 8).any() and (a.numbers == 28).any() for a in frames])  # the U cells
    mixed = work / "mixed.extxyz"
    write(mixed, [_with_setting(a, bool(o)) for a, o in zip(frames, has_oxygen)], format="extxyz")
    paired_frames = [_with_setting(a, False) for a, o in zip(frames, has_oxygen) if o][:20]
    paired = work / "paired.extxyz"
    write(paired, paired_frames, format="extxyz")

    corrected = work / "corrected.extxyz"
    check, correct = check_and_correct(mixed, paired, corrected)
    (out / "check.json").write_text(json.dumps(check, indent=2) + "\n")
    (out / "correct.json").write_text(json.dumps(correct, indent=2) + "\n")
    shift_error_mev = abs(correct["shifts_eV_per_atom"]["Ni"] - SHIFT) * 1e3

    from scaling.data.io import read_structures

    corrected_energies = np.array([s.energy for s in read_structures(corrected)])
    true_energies = np.array([a.info["true_energy"] for a in frames])
    n_atoms = np.array([len(a) for a in frames])
    residual_mev = float(np.max(np.abs(corrected_energies - true_energies) / n_atoms) * 1e3)

    models, test = {}, None
    for name, path in (("mixed", mixed), ("corrected", corrected)):
        models[name], test = _train(path, work, name, args)
    test_frames = [frames[k] for k in test]
    errors = {
        name: (_energies(model, test_frames) - true_energies[test]) / n_atoms[test] for name, model in models.items()
    }
    curves = {"EMT (reference)": binding_curve(None), **{name: binding_curve(model) for name, model in models.items()}}

    summary = {
        "shift_true_eV_per_Ni": SHIFT,
        "shift_fitted_eV_per_Ni": correct["shifts_eV_per_atom"]["Ni"],
        "shift_error_meV": shift_error_mev,
        "max_abs_residual_after_correction_meV_per_atom": residual_mev,
        "check_findings": [f["kind"] for f in check["findings"]],
        "n_structures": len(frames),
        "n_test": int(len(test)),
        "test_mean_error_vs_EMT_meV_per_atom": {
            name: {
                "Ni_with_O": float(np.mean(e[has_oxygen[test]]) * 1e3),
                "other": float(np.mean(e[~has_oxygen[test]]) * 1e3),
            }
            for name, e in errors.items()
        },
        "adsorption_energy_min_eV": {name: float(curve.min()) for name, curve in curves.items()},
        "adsorption_energy_at_1.5A_eV": {name: float(curve[np.argmin(abs(HEIGHTS - 1.5))]) for name, curve in curves.items()},
        "binding_curve_heights_A": HEIGHTS.tolist(),
        "binding_curves_eV": {name: curve.tolist() for name, curve in curves.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(out / "provenance_demo", curves, errors, has_oxygen[test])
    print(json.dumps({k: v for k, v in summary.items() if not k.startswith("binding_curve")}, indent=2))
    return 0


def _plot(path: Path, curves: dict, errors: dict, with_oxygen: np.ndarray) -> None:
    from scaling.plot.style import categorical_colors, figure, paper_style, save_figure

    colors = dict(zip(["EMT (reference)", "mixed", "corrected"], ["#000000", *categorical_colors(2)]))
    labels = {"mixed": "trained on mixed PBE/PBE+U", "corrected": "trained on corrected data"}
    with paper_style():
        fig, axes = figure("page", aspect=0.38, ncols=2)
        left, right = axes[0]
        for name, curve in curves.items():
            left.plot(HEIGHTS, curve, color=colors[name], label=labels.get(name, name), lw=1.5)
        left.axhline(0.0, color="0.6", lw=0.6)
        left.set_xlabel("O height above the Ni(111) fcc hollow (Å)")
        left.set_ylabel(r"$E_{\mathrm{slab+O}} - E_{\mathrm{slab}} - \frac{1}{2}E_{\mathrm{O_2}}$ (eV)")
        left.legend(frameon=False)
        positions = []
        for k, name in enumerate(errors):
            for j, mask in enumerate((~with_oxygen, with_oxygen)):
                positions.append(k * 3 + j)
                right.boxplot(errors[name][mask] * 1e3, positions=[k * 3 + j], widths=0.7, showfliers=False,
                              patch_artist=True, boxprops={"facecolor": colors[name], "alpha": 0.6},
                              medianprops={"color": "black"})
        right.set_xticks(positions, [f"{n}\n{'no Ni+O' if j == 0 else 'Ni with O'}" for n in errors for j in (0, 1)])
        right.axhline(0.0, color="0.6", lw=0.6)
        right.set_yscale("symlog", linthresh=10)  # mixed-model errors are ~100x the others
        top = max(float(np.max(e)) for e in errors.values()) * 1e3
        right.set_ylim(top=top * 2.5)
        right.set_ylabel(r"$E_{\mathrm{model}} - E_{\mathrm{EMT}}$ (meV/atom)")
        save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
