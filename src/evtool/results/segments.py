"""Whether run directories given together are the segments of one scenario, all of them.

`latency-report A B C` merges runs losslessly; for segments (`--segment I/N`) a merge is only
the scenario's verdict when the runs are of one scenario (the same scenario hash), disjoint
(no segment twice) and complete (every index 0..N-1). Anything else is a reason the merged
numbers cannot stand for the scenario — a missing segment would otherwise pass as a quieter run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evtool.results.runlog import RunMeta


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
    counts: dict[int, list[tuple[int, Path]]] = {}
    for meta, path in placed:
        index, count = (int(part) for part in str(meta.segment).split("/"))
        counts.setdefault(count, []).append((index, path))
    if len(counts) > 1:
        problems.append(
            "the segments split the scenario differently: "
            + ", ".join(f"{n} segments" for n in sorted(counts))
        )
    for count, members in sorted(counts.items()):
        seen: dict[int, Path] = {}
        for index, path in members:
            if index in seen:
                problems.append(f"segment {index}/{count} given twice: {seen[index]} and {path}")
            seen[index] = path
        missing = [f"{i}/{count}" for i in range(count) if i not in seen]
        if missing:
            problems.append(
                f"segment(s) {', '.join(missing)} missing: the merged run is not the whole schedule"
            )
    starts = {meta.start_at for meta, _ in placed}
    if len(starts) > 1:
        problems.append(
            "the segments began their schedules at different instants: " + ", ".join(sorted(map(str, starts)))
        )
    return problems
