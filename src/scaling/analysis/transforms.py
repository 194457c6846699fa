"""Maps between bounded law parameters and the unbounded variables the optimiser moves.

A "log" parameter moves as its logarithm (amplitudes, breaks and sharpness span decades); a parameter with both
bounds moves through a logistic map onto (lower, upper); with one bound through an exponential; with none as
itself. Bounds of log parameters apply in log space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EDGE = 1e-12


@dataclass(frozen=True)
class ParameterMap:
    """theta (natural) <-> u (unbounded) for the free parameters of a law, with the fixed ones filled in."""

    log_scale: np.ndarray  # bool [F]
    lower: np.ndarray  # [F], in the space the parameter moves in (log for log parameters)
    upper: np.ndarray  # [F]
    free_index: np.ndarray  # int [F], positions of the free parameters in theta
    template: np.ndarray  # [P], theta with the fixed values set

    @classmethod
    def build(cls, scales, lower, upper, fixed_values: dict[int, float]) -> "ParameterMap":
        n = len(scales)
        free = np.array([i for i in range(n) if i not in fixed_values], dtype=int)
        log_scale = np.array([scales[i] == "log" for i in free], dtype=bool)
        lo = np.asarray(lower, dtype=float)[free].copy()
        hi = np.asarray(upper, dtype=float)[free].copy()
        with np.errstate(divide="ignore"):
            lo[log_scale] = np.log(lo[log_scale])
            hi[log_scale] = np.log(hi[log_scale])
        template = np.zeros(n)
        for i, value in fixed_values.items():
            template[i] = value
        return cls(log_scale, lo, hi, free, template)

    @property
    def n_free(self) -> int:
        return len(self.free_index)

    def v_to_u(self, v: np.ndarray) -> np.ndarray:
        """Moving space (log for log-scale parameters) -> unbounded."""
        lo, hi = self.lower, self.upper
        both = np.isfinite(lo) & np.isfinite(hi)
        only_lo = np.isfinite(lo) & ~np.isfinite(hi)
        only_hi = ~np.isfinite(lo) & np.isfinite(hi)
        u = np.array(v, dtype=float, copy=True)
        span = np.where(both, hi - lo, 1.0)
        t = np.clip((v - np.where(both, lo, 0.0)) / span, _EDGE, 1 - _EDGE)
        u = np.where(both, np.log(t) - np.log1p(-t), u)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(only_lo, np.log(np.maximum(v - np.where(only_lo, lo, 0.0), _EDGE)), u)
            u = np.where(only_hi, np.log(np.maximum(np.where(only_hi, hi, 0.0) - v, _EDGE)), u)
        return u

    def u_to_v(self, u: np.ndarray) -> np.ndarray:
        """Unbounded -> moving space (log for log-scale parameters), within the bounds."""
        lo, hi = self.lower, self.upper
        both = np.isfinite(lo) & np.isfinite(hi)
        only_lo = np.isfinite(lo) & ~np.isfinite(hi)
        only_hi = ~np.isfinite(lo) & np.isfinite(hi)
        lo0 = np.where(np.isfinite(lo), lo, 0.0)
        hi0 = np.where(np.isfinite(hi), hi, 0.0)
        sig = 0.5 * (1.0 + np.tanh(0.5 * u))
        e = np.exp(np.clip(u, -700, 700))
        return np.where(both, lo0 + (hi0 - lo0) * sig, np.where(only_lo, lo0 + e, np.where(only_hi, hi0 - e, u)))

    def to_unbounded(self, theta: np.ndarray) -> np.ndarray:
        """theta [..., P] -> u [..., F]."""
        v = np.array(theta[..., self.free_index], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            v[..., self.log_scale] = np.log(np.maximum(v[..., self.log_scale], 1e-300))
        return self.v_to_u(v)

    def interior(self, u: np.ndarray, limit: float = 7.0) -> np.ndarray:
        """u with parameters bounded on both sides pulled off the flat ends of the logistic map (|u| <= limit),
        so that a start on a bound can still move."""
        both = np.isfinite(self.lower) & np.isfinite(self.upper)
        return np.where(both, np.clip(u, -limit, limit), u)

    def to_natural(self, u: np.ndarray) -> np.ndarray:
        """u [..., F] -> theta [..., P] (fixed parameters filled in)."""
        v = self.u_to_v(u)
        v = np.where(self.log_scale, np.exp(np.clip(v, -700, 700)), v)
        theta = np.broadcast_to(self.template, u.shape[:-1] + self.template.shape).copy()
        theta[..., self.free_index] = v
        return theta
