"""Bass diffusion: the share of a live state's eventual adopters who have adopted by time t.

F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p)·e^{-(p+q)t}), t in years since the state went live
(Bass, "A New Product Growth for Model Consumer Durables", Management Science 15(5), 1969).
Defaults p = 0.03, q = 0.38 per year: Sultan, Farley & Lehmann (1990), see docs/SOURCES.md.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bass_cumulative", "bass_peak_time"]


def bass_cumulative(t_years: np.ndarray | float, p: float, q: float) -> np.ndarray:
    """Cumulative adoption share F(t); 0 for t <= 0 (the state is not live yet)."""
    t = np.maximum(np.asarray(t_years, dtype=float), 0.0)
    decay = np.exp(-(p + q) * t)
    return (1 - decay) / (1 + (q / p) * decay)


def bass_peak_time(p: float, q: float) -> float:
    """Time (years) of the adoption rate's peak, ln(q/p)/(p+q); 0 when q <= p."""
    return float(np.log(q / p) / (p + q)) if q > p else 0.0
