from __future__ import annotations

import numpy as np
import pytest

from evtool import units
from evtool.errors import UsageError
from evtool.load import arrivals
from evtool.load.arrivals import Stage


@pytest.mark.parametrize(
    ("text", "per_s"), [("500/s", 500.0), ("30/m", 0.5), ("360/h", 0.1), ("250", 250.0), ("2.5/s", 2.5)]
)
def test_parse_rate(text: str, per_s: float) -> None:
    assert units.parse_rate(text) == pytest.approx(per_s)


@pytest.mark.parametrize("text", ["fast", "500/d", "-1/s", "/s", ""])
def test_parse_rate_rejects_with_one_line(text: str) -> None:
    with pytest.raises(UsageError, match="--rate") as info:
        units.parse_rate(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1h", 3600), ("500ms", 0.5), ("1m30s", 90)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert units.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "30x", "1m30"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="duration"):
        units.parse_duration(text)


def test_parse_stages() -> None:
    assert arrivals.parse_stages("30s:50/s,2m:500/s,30s:0/s") == [
        Stage(30, 50),
        Stage(120, 500),
        Stage(30, 0),
    ]
    with pytest.raises(UsageError, match="stage 2"):
        arrivals.parse_stages("30s:50/s,2m")


def test_constant_offsets_are_exact_and_bounded() -> None:
    offsets = list(arrivals.constant_offsets(200, duration_s=2))
    assert len(offsets) == 400
    assert offsets[0] == 0
    assert set(np.diff(offsets).tolist()) == {5_000_000}
    assert len(list(arrivals.constant_offsets(3, count=7))) == 7
    with pytest.raises(UsageError, match="bounded"):
        arrivals.constant_offsets(10)


def test_poisson_mean_rate_and_seed() -> None:
    offsets = np.array(list(arrivals.poisson_offsets(1000, seed=7, count=20_000)))
    gaps = np.diff(offsets) / 1e9
    assert gaps.mean() == pytest.approx(1 / 1000, rel=0.03)
    assert gaps.std() == pytest.approx(1 / 1000, rel=0.05)  # exponential: std == mean
    again = list(arrivals.poisson_offsets(1000, seed=7, count=100))
    assert again == offsets[:100].tolist()
    assert again != list(arrivals.poisson_offsets(1000, seed=8, count=100))


def test_stages_integrate_to_the_right_count() -> None:
    stages = [Stage(1, 100), Stage(1, 100), Stage(2, 0)]  # 50 + 100 + 100
    offsets = np.array(list(arrivals.staged_offsets(stages)))
    assert len(offsets) == arrivals.stages_count(stages) == 250
    assert offsets.max() < 4e9
    ramp_up = offsets[offsets < 1e9]
    assert len(ramp_up) == 50
    # linear ramp 0→100/s: arrivals in the second half of the first second are 3x the first half
    first_half = (ramp_up < 0.5e9).sum()
    assert 3 * first_half == pytest.approx(len(ramp_up) - first_half, abs=3)
    steady = np.diff(offsets[(offsets >= 1e9) & (offsets < 2e9)])
    assert np.allclose(steady, 10_000_000, atol=2)
    assert (np.diff(offsets) >= 0).all()


def test_k6_style_stages_count() -> None:
    stages = arrivals.parse_stages("30s:50/s,2m:500/s,30s:0/s")
    expected = 0.5 * 50 * 30 + (50 + 500) / 2 * 120 + 0.5 * 500 * 30
    assert sum(1 for _ in arrivals.staged_offsets(stages)) == round(expected)


def test_shards_interleave_into_the_global_schedule() -> None:
    whole = list(arrivals.constant_offsets(100, count=10))
    parts = [list(arrivals.shard(arrivals.constant_offsets(100, count=10), i, 3)) for i in range(3)]
    assert sorted(parts[0] + parts[1] + parts[2]) == whole
    assert parts[1] == whole[1::3]
