"""HDR latency histograms filled and read in bulk with numpy.

Why not `HdrHistogram.record_value` per event: one Python call per value costs about 9 s for
10 million events. The bucket layout of an HDR histogram is pure integer arithmetic, so we
compute every value's counts index with numpy, `bincount` them, and add the counts straight
into the `hdrh` histogram's counts array. Reading percentiles works the same way (a cumulative
sum instead of hdrh's per-index Python loop). The `hdrh.HdrHistogram` object stays the source
of truth, so histograms still merge exactly (`add`) and encode to the standard base64 form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour in microseconds; longer values are clamped and counted
SIGNIFICANT_FIGURES = 3  # 0.1 % value resolution


@dataclass(frozen=True, slots=True)
class Layout:
    """The integer layout of an HDR histogram (same formulas as hdrh, vectorised)."""

    unit_magnitude: int
    sub_bucket_half_count_magnitude: int
    sub_bucket_half_count: int
    sub_bucket_mask: int
    counts_len: int

    @classmethod
    def of(cls, histogram: HdrHistogram) -> Layout:
        return cls(
            unit_magnitude=histogram.unit_magnitude,
            sub_bucket_half_count_magnitude=histogram.sub_bucket_half_count_magnitude,
            sub_bucket_half_count=histogram.sub_bucket_half_count,
            sub_bucket_mask=histogram.sub_bucket_mask,
            counts_len=histogram.counts_len,
        )

    def index_of(self, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Counts index of every value (values must be >= 0 and below 2**53).

        The bucket is the value's bit length, read from the exponent bits of its float64
        (exact below 2**53): a handful of passes over the column and no `frexp` pair of arrays.
        """
        magnitude = values | self.sub_bucket_mask
        shift = magnitude.astype(np.float64).view(np.int64)
        del magnitude
        shift >>= 52  # biased exponent: floor(log2(v)) + 1023
        shift -= 1023 + self.sub_bucket_half_count_magnitude  # = bucket + unit_magnitude
        index = values >> shift
        shift <<= self.sub_bucket_half_count_magnitude
        index += shift
        half = self.sub_bucket_half_count_magnitude
        offset = ((1 - self.unit_magnitude) << half) - self.sub_bucket_half_count
        if offset:
            index += offset
        return index

    def lowest_values(self) -> npt.NDArray[np.int64]:
        """The lowest value of every counts index (index + 1 gives the next range)."""
        index = np.arange(self.counts_len + 1, dtype=np.int64)
        bucket = (index >> self.sub_bucket_half_count_magnitude) - 1
        sub_bucket = (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count
        first = bucket < 0
        sub_bucket[first] -= self.sub_bucket_half_count
        bucket[first] = 0
        return sub_bucket << (bucket + self.unit_magnitude)

    def highest_values(self) -> npt.NDArray[np.int64]:
        """The highest value equivalent to every counts index (what hdrh reports for a percentile)."""
        lowest = self.lowest_values()
        return lowest[1:] - 1


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def counts_view(histogram: HdrHistogram) -> npt.NDArray[np.uint64]:
    """The histogram's own counts array as numpy (writes go into the histogram)."""
    return np.ctypeslib.as_array(histogram.counts)


def add_counts(histogram: HdrHistogram, counts: npt.NDArray[Any]) -> None:
    """Add a counts vector (same layout) into `histogram` and fix its total/min/max."""
    view = counts_view(histogram)
    view += counts.astype(np.uint64, copy=False)
    nonzero = np.flatnonzero(view)
    if len(nonzero):
        histogram.set_internal_tacking_values(int(nonzero[0]), int(nonzero[-1]), int(view.sum()))


def clamp_us(values_ns: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int, int]:
    """Nanoseconds to histogram microseconds: (values, how many were negative, how many too large)."""
    us = values_ns // 1000
    negative = int(np.count_nonzero(us < 0))
    too_large = int(np.count_nonzero(us > HIGHEST_US))
    if negative or too_large:
        np.clip(us, 0, HIGHEST_US, out=us)
    return us, negative, too_large


CENSORED_US = -2  # a percentile that falls among censored values (above the histogram's range)


def percentiles_us(
    counts: npt.NDArray[Any], percentiles: tuple[float, ...], highest: npt.NDArray[np.int64],
    censored: npt.NDArray[Any] | int = 0,
) -> npt.NDArray[np.int64]:
    """Percentile values (µs) of one counts vector, or of each row of a 2-D array; -1 where empty.

    Same rule as `HdrHistogram.get_value_at_percentile`: the first index whose cumulative
    count reaches round(p% of total), reported as the highest value equivalent to it.
    `censored` (per row) counts values known only to lie above every recorded one (lost
    events: no result within the timeout); they join the total, and a percentile whose rank
    falls among them is `CENSORED_US`, never the largest recorded value.
    """
    matrix = np.atleast_2d(counts).astype(np.int64, copy=False)
    cumulative = np.cumsum(matrix, axis=1)
    recorded = cumulative[:, -1]
    total = recorded + np.asarray(censored, dtype=np.int64)
    out = np.full((matrix.shape[0], len(percentiles)), -1, dtype=np.int64)
    for column, p in enumerate(percentiles):
        target = np.maximum((np.minimum(p, 100.0) * total / 100 + 0.5).astype(np.int64), 1)
        index = (cumulative < target[:, None]).sum(axis=1)
        index = np.minimum(index, matrix.shape[1] - 1)
        value = np.where(target > recorded, CENSORED_US, highest[index])
        out[:, column] = np.where(total > 0, value, -1)
    return out if counts.ndim == 2 else out[0]


def count_at_or_below_us(counts: npt.NDArray[Any], limit_us: int, layout: Layout) -> int:
    """Recorded values <= limit (to histogram resolution: whole ranges at or below it)."""
    if limit_us < 0:
        return 0
    index = int(layout.index_of(np.array([min(limit_us, HIGHEST_US)], dtype=np.int64))[0])
    return int(counts[: index + 1].sum())


def mean_us(counts: npt.NDArray[Any], highest: npt.NDArray[np.int64]) -> float:
    """Mean as `HdrHistogram.get_mean_value` computes it (each range at its median-equivalent value)."""
    lowest = np.concatenate(([0], highest[:-1] + 1))
    middle = lowest + ((highest - lowest + 1) >> 1)
    total = counts.sum()
    return float((counts.astype(np.float64) * middle).sum() / total) if total else 0.0
