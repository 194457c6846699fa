"""`ScalingCalculator`: a trained potential (best.pt or checkpoint.pt) as an ASE calculator.

Energy (eV), forces (eV/A) and stress (eV/A^3, ASE's unit and sign; the model works in GPa) of any periodic or
finite structure whose elements the model knows, so a trained potential can relax structures and run MD. The model
is rebuilt from the checkpoint's model_config (architecture name and complete options) through the registry, so
any architecture loads, a plugin too (its module must be importable, or its entry point installed, here as well).
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from scaling.models.potential import EV_PER_A3_TO_GPA


class ScalingCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, path, device: str = "cpu", dtype: str = "float32", **kwargs):
        """`path`: best.pt or checkpoint.pt of a run; dtype "float64" gives energies smooth to finite differences."""
        import torch

        from scaling.errors import CheckpointError
        from scaling.models.potential import ModelConfig, Potential
        from scaling.train.checkpoint import load

        super().__init__(**kwargs)
        saved = load(path, device, require=("model", "model_config"))  # weights_only: no code in the file runs
        self.dtype = getattr(torch, dtype)
        try:
            self.model = Potential(ModelConfig.from_dict(saved["model_config"])).to(device=device, dtype=self.dtype)
            self.model.load_state_dict(saved["model"])
        except (TypeError, ValueError, KeyError, RuntimeError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise CheckpointError(f"{path}: not a model this version can build: {reason}") from None
        self.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.device = torch.device(device)
        self.cutoff = self.model.config.cutoff

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        import torch

        from scaling.models.graph import atoms_to_data

        super().calculate(atoms, properties, system_changes)
        data = atoms_to_data(self.atoms, self.cutoff).to(self.device)
        data.pos = torch.as_tensor(self.atoms.positions, dtype=self.dtype, device=self.device)
        data.cell = torch.as_tensor(self.atoms.cell.array, dtype=self.dtype, device=self.device).view(1, 3, 3)
        data.cell_shift = data.cell_shift.to(self.dtype)
        periodic = bool(self.atoms.pbc.all()) and self.atoms.get_volume() > 0
        prediction = self.model(data, forces=True, stress=periodic)
        energy = float(prediction.energy.detach().sum())
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = prediction.forces.detach().cpu().double().numpy()
        if periodic:
            stress = prediction.stress[0].detach().cpu().double().numpy() / EV_PER_A3_TO_GPA
            self.results["stress"] = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
