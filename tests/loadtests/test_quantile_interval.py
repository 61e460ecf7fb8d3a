"""The distribution-free interval of a step's p95 (``loadtests.stats.quantile_interval``)."""

from __future__ import annotations

import numpy as np

from loadtests.stats import percentile, quantile_interval


def test_interval_is_the_order_statistics_around_the_quantile() -> None:
    histogram = {ms: 1 for ms in range(1, 1001)}  # 1..1000 ms, once each
    # n·q = 950, half-width 1.96·√(1000·0.95·0.05) = 13.5: ranks 936.5 and 963.5
    assert quantile_interval(histogram, 0.95) == (937.0, 964.0)
    assert percentile(histogram, 0.95) == 950.0
    assert quantile_interval({10: 19}, 0.95) is None  # too few samples to say anything


def test_interval_covers_the_true_p95_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_p95 = -100 * np.log(0.05)  # exponential, mean 100 ms
    covered = 0
    trials = 400
    for _ in range(trials):
        samples = np.rint(rng.exponential(100, 300)).astype(int)  # Locust keeps whole milliseconds
        values, counts = np.unique(samples, return_counts=True)
        interval = quantile_interval(dict(zip(values.tolist(), counts.tolist(), strict=True)), 0.95)
        assert interval is not None
        covered += interval[0] <= true_p95 <= interval[1]
    assert 0.91 <= covered / trials <= 0.99
