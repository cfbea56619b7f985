from __future__ import annotations

import random
import uuid
from collections import Counter

import numpy as np

from evtool.values.context import FastRandom, GenContext, uuid4_block
from evtool.values.pools import build_pools


def test_uuid_blocks_are_distinct_version4_uuids_in_canonical_form() -> None:
    ids = uuid4_block(np.random.Generator(np.random.PCG64(3)), 4000)
    assert len(set(ids)) == 4000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    # every hex digit position outside the fixed nibbles varies
    assert len({text[0] for text in ids}) == 16
    assert {text[19] for text in ids} == set("89ab")


def test_context_uuids_follow_the_seed_and_refill_across_blocks() -> None:
    pools = build_pools(1, customers=5, products=5)
    first = GenContext(FastRandom(9), pools, 0)
    second = GenContext(FastRandom(9), pools, 0)
    a = [first.uuid() for _ in range(1500)]  # crosses block boundaries
    assert a == [second.uuid() for _ in range(1500)]
    assert len(set(a)) == 1500
    assert a != [GenContext(FastRandom(10), pools, 0).uuid() for _ in range(1500)]


def test_fast_random_choice_and_randint_stay_in_range_and_are_uniform() -> None:
    rng = FastRandom(5)
    counts = Counter(rng.randint(3, 7) for _ in range(50_000))
    assert set(counts) == {3, 4, 5, 6, 7}
    assert all(9000 < c < 11000 for c in counts.values())
    picks = Counter(rng.choice("abcd") for _ in range(40_000))
    assert set(picks) == set("abcd")
    assert all(9000 < c < 11000 for c in picks.values())
    assert rng.randint(4, 4) == 4
    wide = [rng.randint(-(2**63), 2**63 - 1) for _ in range(2000)]  # beyond 2**53: the stdlib way
    assert all(-(2**63) <= v <= 2**63 - 1 for v in wide)
    assert len(set(wide)) == 2000
    assert isinstance(rng, random.Random)


def test_time_format_is_rfc3339_with_millis_and_cached_per_instant() -> None:
    ctx = GenContext(FastRandom(1), build_pools(1, customers=5, products=5), 1_736_154_000_278)
    text = ctx.now_rfc3339()
    assert text == "2025-01-06T09:00:00.278Z"
    assert ctx.now_rfc3339() is text
    ctx.now_ms += 1_001
    assert ctx.now_rfc3339() == "2025-01-06T09:00:01.279Z"


def test_time_format_matches_datetime_across_seconds_days_and_years() -> None:
    from datetime import UTC, datetime

    from evtool.values.context import Rfc3339

    stamp = Rfc3339()
    moments = [0, 999, 1_000, 59_999, 60_000, 1_735_689_599_999, 1_735_689_600_000, 1_736_154_000_278]
    moments += [1_736_154_000_000 + i * 37 for i in range(3_000)]  # a run of events, seconds shared
    for ms in moments:
        expected = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
        assert stamp(ms) == expected, ms
