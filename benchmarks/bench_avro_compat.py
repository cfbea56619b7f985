"""Avro FULL_TRANSITIVE throughput: evtool's engine beside Apache's ``avro.compatibility``.

Builds N subjects x V versions of a realistic ~15-field record (nested record, array of
records, map, enums, nullable unions, logical types) evolving one change per version,
about one change in six breaking. Every ordered pair (i < j) is checked both ways, as
FULL_TRANSITIVE does. evtool's figure includes counterexamples for failing pairs; Apache's
checker (verdicts only) runs on the same pairs in the same process as the baseline.

    /work/venv/bin/python benchmarks/bench_avro_compat.py --subjects 1000 --versions 10
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import time
from typing import Any

from evtool.formats.avro import compat as avro


def base_schema(k: int) -> dict[str, Any]:
    line = {
        "type": "record",
        "name": "Line",
        "fields": [
            {"name": "sku", "type": "string"},
            {"name": "quantity", "type": "int"},
            {"name": "unitPriceCents", "type": "long"},
        ],
    }
    return {
        "type": "record",
        "name": f"Event{k}",
        "namespace": f"com.acme.s{k}",
        "fields": [
            {"name": "eventId", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "customerId", "type": "string"},
            {"name": "totalCents", "type": "long"},
            {"name": "ratio", "type": "float"},
            {"name": "count", "type": "int"},
            {
                "name": "status",
                "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]},
            },
            {"name": "channel", "type": ["null", "string"], "default": None},
            {"name": "note", "type": ["null", "string"], "default": None},
            {"name": "lines", "type": {"type": "array", "items": line}},
            {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}},
            {
                "name": "address",
                "type": {
                    "type": "record",
                    "name": "Address",
                    "fields": [
                        {"name": "street", "type": "string"},
                        {"name": "city", "type": "string"},
                        {"name": "zip", "type": ["null", "string"], "default": None},
                    ],
                },
            },
            {"name": "priority", "type": "int", "default": 0},
            {"name": "flag", "type": "boolean", "default": False},
            {"name": "score", "type": "double", "default": 0.0},
        ],
    }


def evolve(prev: dict[str, Any], v: int, rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(prev)
    fields = doc["fields"]
    roll = rng.random()
    if roll < 0.55:
        fields.append({"name": f"extra{v}", "type": ["null", "string"], "default": None})
    elif roll < 0.70:
        fields.append({"name": f"opt{v}", "type": "int", "default": v})
    elif roll < 0.80:
        fields[11]["type"]["fields"].append({"name": f"a{v}", "type": ["null", "long"], "default": None})
    elif roll < 0.85:
        fields[5]["type"] = "long"  # int -> long: forward-breaking
    elif roll < 0.90:
        fields.append({"name": f"req{v}", "type": "string"})  # no default: backward-breaking
    elif roll < 0.95:
        fields[6]["type"]["symbols"].append(f"S{v}")  # new enum symbol: forward-breaking
    else:
        fields[9]["type"]["items"]["fields"].append({"name": f"x{v}", "type": "double", "default": 0})
    return doc


def corpus(subjects: int, versions: int, seed: int) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for k in range(subjects):
        docs = [base_schema(k)]
        for v in range(1, versions):
            docs.append(evolve(docs[-1], v, rng))
        out.append(docs)
    return out


def run_evtool(docs: list[list[dict[str, Any]]]) -> tuple[float, int, int, int]:
    start = time.perf_counter()
    pairs = failing = proved = 0
    for versions in docs:
        parsed = [avro.parse(d, source=f"v{i}") for i, d in enumerate(versions)]
        for j in range(1, len(parsed)):
            for i in range(j):
                for reader, writer in ((parsed[j], parsed[i]), (parsed[i], parsed[j])):
                    found = avro.incompatibilities(reader, writer)
                    pairs += 1
                    if found:
                        failing += 1
                        proved += sum(1 for x in found if x.counterexample is not None)
    return time.perf_counter() - start, pairs, failing, proved


def run_apache(docs: list[list[dict[str, Any]]]) -> tuple[float, int, int]:
    import avro.schema as apache_schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    start = time.perf_counter()
    pairs = failing = 0
    for versions in docs:
        parsed = [apache_schema.parse(json.dumps(d)) for d in versions]
        for j in range(1, len(parsed)):
            for i in range(j):
                for reader, writer in ((parsed[j], parsed[i]), (parsed[i], parsed[j])):
                    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)  # type: ignore[no-untyped-call]
                    pairs += 1
                    if result.compatibility is not SchemaCompatibilityType.compatible:
                        failing += 1
    return time.perf_counter() - start, pairs, failing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--apache-subjects", type=int, default=100, help="Apache baseline subset size")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    docs = corpus(args.subjects, args.versions, args.seed)
    ours = [run_evtool(docs) for _ in range(args.runs)]
    t_ours = statistics.median(r[0] for r in ours)
    _, pairs, failing, proved = ours[0]
    print(
        f"evtool  : {pairs} checks ({failing} failing, {proved} counterexamples proved) "
        f"median {t_ours:.2f}s over {args.runs} runs = {pairs / t_ours:,.0f} checks/s (parse included)"
    )

    sub = docs[: args.apache_subjects]
    ours_sub = statistics.median(run_evtool(sub)[0] for _ in range(args.runs))
    theirs = [run_apache(sub) for _ in range(args.runs)]
    t_theirs = statistics.median(r[0] for r in theirs)
    a_pairs, a_failing = theirs[0][1], theirs[0][2]
    e_failing = run_evtool(sub)[2]
    print(
        f"apache  : {a_pairs} checks ({a_failing} failing) median {t_theirs:.2f}s = "
        f"{a_pairs / t_theirs:,.0f} checks/s (verdicts only, parse included)"
    )
    print(
        f"same {len(sub)} subjects: evtool {ours_sub:.2f}s vs apache {t_theirs:.2f}s -> "
        f"evtool is {t_theirs / ours_sub:.1f}x faster; failing checks evtool={e_failing} apache={a_failing}"
    )


if __name__ == "__main__":
    main()
