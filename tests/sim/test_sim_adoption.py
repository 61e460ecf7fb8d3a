"""Bass diffusion: the closed form against the differential equation it solves."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from sim.adoption import bass_cumulative, bass_peak_time


@pytest.mark.parametrize(("p", "q"), [(0.03, 0.38), (0.01, 0.5), (0.2, 0.1)])
def test_closed_form_solves_dF_dt(p: float, q: float) -> None:
    t = np.linspace(0, 20, 41)
    numeric = solve_ivp(lambda _t, f: (p + q * f) * (1 - f), (0, 20), [0.0], t_eval=t, rtol=1e-10, atol=1e-12)
    assert np.allclose(bass_cumulative(t, p, q), numeric.y[0], atol=1e-7)


def test_starts_at_zero_rises_to_one_and_is_zero_before_launch() -> None:
    assert bass_cumulative(0.0, 0.03, 0.38) == 0.0
    assert bass_cumulative(-3.0, 0.03, 0.38) == 0.0
    assert bass_cumulative(200.0, 0.03, 0.38) == pytest.approx(1.0)
    values = bass_cumulative(np.linspace(0, 30, 300), 0.03, 0.38)
    assert np.all(np.diff(values) > 0)


def test_adoption_rate_peaks_at_ln_q_over_p_over_p_plus_q() -> None:
    p, q = 0.03, 0.38
    t = np.linspace(0, 20, 200_001)
    rate = np.gradient(bass_cumulative(t, p, q), t)
    assert t[np.argmax(rate)] == pytest.approx(bass_peak_time(p, q), abs=1e-3)
