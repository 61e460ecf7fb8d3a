"""Erlang C, M/M/c and the traffic-for-channels inverse against published table values and exact
small cases (Erlang B and the channel search: tests/msgfleet/test_sizing.py)."""

import csv
from pathlib import Path

import pytest

from msgfleet.sizing import erlang_b
from sim.errors import SimError
from sim.queueing import erlang_c, mmc_mean_wait, mmc_service_level, traffic_for_channels

ERLANG_B_TABLE = [
    (int(row["channels"]), float(row["blocking"]), float(row["traffic"]))
    for row in csv.DictReader(
        line
        for line in (Path(__file__).resolve().parents[1] / "data" / "erlang_b_table.csv").open()
        if not line.startswith("#")
    )
]  # Iversen's Erlang B table (source in the file)


@pytest.mark.parametrize(("channels", "blocking", "traffic"), ERLANG_B_TABLE)
def test_traffic_for_channels_matches_the_table(channels: int, blocking: float, traffic: float) -> None:
    carried = traffic_for_channels(channels, blocking)
    assert carried == pytest.approx(traffic, rel=0.005)
    assert erlang_b(carried, channels) == pytest.approx(blocking, rel=1e-6)


def test_erlang_c_exact_small_case() -> None:
    # C(A=2, c=3) = 4/9 (closed form: (A^c/c!)(c/(c-A)) / (sum_k A^k/k! + (A^c/c!)(c/(c-A)))).
    assert erlang_c(2.0, 3) == pytest.approx(4 / 9)


def test_mm1_wait_is_rho_over_mu_minus_lambda() -> None:
    lam, mu = 0.7, 1.0
    assert mmc_mean_wait(lam, mu, 1) == pytest.approx((lam / mu) / (mu - lam))
    assert mmc_service_level(lam, mu, 1, 0.0) == pytest.approx(1 - lam / mu)


def test_unstable_and_invalid_inputs_are_errors() -> None:
    with pytest.raises(SimError, match="unstable"):
        erlang_c(3.0, 3)
    with pytest.raises(SimError, match="channels"):
        traffic_for_channels(0, 0.01)
