"""Whether run directories given together are the segments of one scenario, all of them.

`latency-report A B C` merges runs losslessly; for segments (`--segment I/N`, or `--segment A:B`
of `--segment-sequence`) a merge is only the scenario's verdict when the runs are of one scenario
(the same scenario hash), split by one sequence, disjoint (no part twice) and complete (every part
of the sequence). Anything else is a reason the merged numbers cannot stand for the scenario — a
missing segment would otherwise pass as a quieter run.

Meta records the segment as I/N or A:B and the sequence as its points ("0,1/4,1/2,1"); a run
written before the sequence was recorded is I/N of the equal sequence.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from evtool.results.runlog import RunMeta

Part = tuple[Fraction, Fraction]


def _placed(meta: RunMeta) -> tuple[Part, tuple[Fraction, ...]]:
    """(start, end) of the run's segment and the points of its sequence; ValueError when unreadable."""
    text = str(meta.segment)
    if ":" in text:
        head, _, tail = text.partition(":")
        part = (Fraction(head), Fraction(tail))
    else:
        index, count = (int(item) for item in text.split("/"))
        part = (Fraction(index, count), Fraction(index + 1, count))
        if meta.segment_sequence is None:
            return part, tuple(Fraction(i, count) for i in range(count + 1))
    if meta.segment_sequence is None:
        raise ValueError("no segment_sequence")
    return part, tuple(Fraction(item) for item in meta.segment_sequence.split(","))


def _name(part: Part, points: tuple[Fraction, ...]) -> str:
    """I/N in an equal sequence (as `--segment I/N` is given), else A:B."""
    count = len(points) - 1
    if points == tuple(Fraction(i, count) for i in range(count + 1)):
        return f"{points.index(part[0])}/{count}"
    return f"{part[0]}:{part[1]}"


def _shown(points: tuple[Fraction, ...]) -> str:
    return ",".join(map(str, points))


def segment_problems(metas: Sequence[RunMeta], paths: Sequence[Path]) -> list[str]:
    placed = [(meta, path) for meta, path in zip(metas, paths, strict=True) if meta.segment is not None]
    if not placed:
        return []
    problems: list[str] = []
    unsegmented = [str(path) for meta, path in zip(metas, paths, strict=True) if meta.segment is None]
    if unsegmented:
        problems.append(f"{', '.join(unsegmented)}: not a segment, merged with segments of a scenario")
    hashes = {meta.scenario_hash for meta, _ in placed}
    if len(hashes) > 1:
        by_hash = "; ".join(
            f"{h}: {', '.join(str(p) for m, p in placed if m.scenario_hash == h)}"
            for h in sorted(map(str, hashes))
        )
        problems.append(f"the segments are of different scenarios (scenario hash {by_hash})")
    sequences: dict[tuple[Fraction, ...], list[tuple[Part, Path]]] = {}
    for meta, path in placed:
        try:
            part, points = _placed(meta)
        except (ValueError, ZeroDivisionError):
            problems.append(f"{path}: segment {meta.segment!r} (sequence {meta.segment_sequence!r}) "
                            "cannot be read: the run cannot be placed in the schedule")
            continue
        sequences.setdefault(points, []).append((part, path))
    if len(sequences) > 1:
        problems.append(
            "the segments split the scenario differently: "
            + "; ".join(f"sequence {_shown(points)} ({', '.join(str(p) for _, p in members)})"
                        for points, members in sorted(sequences.items()))
        )
    for points, members in sorted(sequences.items()):
        parts = list(itertools.pairwise(points))
        seen: dict[Part, Path] = {}
        for part, path in members:
            name = _name(part, points)
            if part not in parts:
                problems.append(f"{path}: segment {name} is not a part of sequence {_shown(points)}")
            elif part in seen:
                problems.append(f"segment {name} given twice: {seen[part]} and {path}")
            seen.setdefault(part, path)
        missing = [_name(part, points) for part in parts if part not in seen]
        if missing:
            equal = ":" not in missing[0]  # I/N names say their sequence; A:B ones are named with it
            problems.append(
                f"segment(s) {', '.join(missing)} missing: the merged run is not the whole schedule"
                + ("" if equal else f" (sequence {_shown(points)})")
            )
    starts = {meta.start_at for meta, _ in placed}
    if len(starts) > 1:
        problems.append(
            "the segments began their schedules at different instants: " + ", ".join(sorted(map(str, starts)))
        )
    return problems
