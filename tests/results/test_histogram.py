"""The vectorised HDR fill and read give exactly what hdrh's own per-value calls give."""

from __future__ import annotations

import numpy as np

from evtool.results import histogram as hdr


def test_bulk_fill_equals_record_value() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([
        rng.integers(0, 3000, 2000), rng.lognormal(12, 2, 3000).astype(np.int64),
        [0, 1, 2047, 2048, 4095, 4096],
        [hdr.HIGHEST_US],
    ]).astype(np.int64)
    values = np.clip(values, 0, hdr.HIGHEST_US)
    reference = hdr.new_histogram()
    for v in values.tolist():
        reference.record_value(v)
    bulk = hdr.new_histogram()
    layout = hdr.Layout.of(bulk)
    hdr.add_counts(bulk, np.bincount(layout.index_of(values), minlength=layout.counts_len))
    assert np.array_equal(hdr.counts_view(bulk), hdr.counts_view(reference))
    assert bulk.get_total_count() == reference.get_total_count()
    assert bulk.get_max_value() == reference.get_max_value()
    assert bulk.get_min_value() == reference.get_min_value()
    highest = layout.highest_values()
    percentiles = (1.0, 50.0, 90.0, 99.0, 99.9, 100.0)
    ours = hdr.percentiles_us(hdr.counts_view(bulk), percentiles, highest)
    assert ours.tolist() == [reference.get_value_at_percentile(p) for p in percentiles]
    assert hdr.mean_us(hdr.counts_view(bulk), highest) == reference.get_mean_value()


def test_highest_values_match_hdrh() -> None:
    histogram = hdr.new_histogram()
    highest = hdr.Layout.of(histogram).highest_values()
    for index in list(range(0, 5000, 7)) + list(range(histogram.counts_len - 3000, histogram.counts_len, 11)):
        value = histogram.get_value_from_index(index)
        assert highest[index] == histogram.get_highest_equivalent_value(value), index


def test_rows_of_a_2d_counts_array_and_empty_rows() -> None:
    histogram = hdr.new_histogram()
    layout = hdr.Layout.of(histogram)
    rows = np.zeros((2, layout.counts_len), dtype=np.int64)
    rows[1] = np.bincount(layout.index_of(np.arange(1000, 2001, dtype=np.int64)), minlength=layout.counts_len)
    out = hdr.percentiles_us(rows, (50.0, 100.0), layout.highest_values())
    assert out[0].tolist() == [-1, -1]
    assert abs(out[1][0] - 1500) <= 1
    assert abs(out[1][1] - 2000) <= 2


def test_clamp_counts_negative_and_huge() -> None:
    us, negative, huge = hdr.clamp_us(np.array([-5_000, 1_000, 10**16], dtype=np.int64))
    assert us.tolist() == [0, 1, hdr.HIGHEST_US]
    assert (negative, huge) == (1, 1)
