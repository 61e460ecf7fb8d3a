"""Erlang B/C and M/M/c formulas against published table values and exact small cases."""

import math

import numpy as np
import pytest

from sim.errors import SimError
from sim.queueing import (
    busy_hour_erlangs,
    channels_for_blocking,
    channels_for_blocking_array,
    erlang_b,
    erlang_c,
    mmc_mean_wait,
    mmc_service_level,
    traffic_for_channels,
)

# Offered traffic (Erlang) that N channels carry at blocking B, from the Erlang B table in
# Iversen, "Teletraffic Engineering and Network Planning" (DTU, 2015), Table/Appendix, as
# reproduced in every Erlang B table (docs/SOURCES.md). Printed to 2-3 significant digits.
ERLANG_B_TABLE = [
    (1, 0.01, 0.0101),
    (5, 0.01, 1.36),
    (10, 0.01, 4.46),
    (20, 0.01, 12.0),
    (50, 0.01, 37.9),
    (100, 0.01, 84.1),
    (10, 0.02, 5.08),
    (10, 0.05, 6.22),
]


@pytest.mark.parametrize(("channels", "blocking", "traffic"), ERLANG_B_TABLE)
def test_erlang_b_matches_the_published_table(channels: int, blocking: float, traffic: float) -> None:
    assert traffic_for_channels(channels, blocking) == pytest.approx(traffic, rel=0.005)
    assert erlang_b(traffic, channels) == pytest.approx(blocking, rel=0.03)
    assert channels_for_blocking(traffic * 0.999, blocking) == channels


def test_erlang_b_exact_small_case_and_stability() -> None:
    # B(A=2, N=3) = (8/6) / (1 + 2 + 2 + 8/6) = 4/19.
    assert erlang_b(2.0, 3) == pytest.approx(4 / 19)
    big = erlang_b(9000.0, 10000)  # the recursion needs no factorials: no overflow
    assert 0 <= big < 1e-6


def test_erlang_c_exact_small_case() -> None:
    # C(A=2, c=3) = 4/9 (closed form: (A^c/c!)(c/(c-A)) / (sum_k A^k/k! + (A^c/c!)(c/(c-A)))).
    assert erlang_c(2.0, 3) == pytest.approx(4 / 9)


def test_mm1_wait_is_rho_over_mu_minus_lambda() -> None:
    lam, mu = 0.7, 1.0
    assert mmc_mean_wait(lam, mu, 1) == pytest.approx((lam / mu) / (mu - lam))
    assert mmc_service_level(lam, mu, 1, 0.0) == pytest.approx(1 - lam / mu)


def test_busy_hour_erlangs() -> None:
    # 1,000 users × 6 min/day, 10% in the busy hour: 600 min in 60 min = 10 Erlang.
    assert busy_hour_erlangs(6000, 0.1) == pytest.approx(10.0)


def test_unstable_and_invalid_inputs_are_errors() -> None:
    with pytest.raises(SimError, match="unstable"):
        erlang_c(3.0, 3)
    with pytest.raises(SimError):
        channels_for_blocking(5.0, 1.5)
    assert math.isclose(erlang_b(0.0, 4), 0.0)


@pytest.mark.parametrize("gos", [0.001, 0.01, 0.05])
def test_vectorised_channel_search_equals_the_recursion(gos: float) -> None:
    traffic = np.concatenate(
        [[0.0, 1e-6, 0.01, 0.5, 4.46, 84.1, 3000.0, 20000.0], np.random.default_rng(2).uniform(0, 5000, 200)]
    )
    expected = [channels_for_blocking(a, gos) for a in traffic]
    assert channels_for_blocking_array(traffic, gos).tolist() == expected
