"""Time a FULL_TRANSITIVE `schema check` of a synthetic catalogue, beside a baseline.

The catalogue: SUBJECTS subjects x VERSIONS versions, a third each Avro, JSON Schema and
Protobuf, each schema about 15 fields with nested records/objects, arrays, enums, evolving the way teams
evolve them (mostly compatible additions, a few breaking edits, so counterexamples are built).
FULL_TRANSITIVE compares each version with every earlier one in both directions:
SUBJECTS * 45 * 2 reader/writer checks.

Baseline, measured in the same run: Apache avro's Python `ReaderWriterCompatibilityChecker`
on the Avro half, parsing included (the figure the issue quotes as ~3,500 pairs/s).

    python benchmarks/bench_schema_check.py [--subjects 1000] [--versions 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from evtool.catalog import load_catalog
from evtool.compat.check import check_catalog
from evtool.config import Settings
from evtool.modes import CompatibilityMode


def _avro_versions(rng: random.Random, index: int, versions: int) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = [
        {"name": "event_id", "type": "string"},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "amount_minor", "type": "long"},
        {"name": "currency", "type": "string"},
        {"name": "status", "type": {"type": "enum", "name": f"Status{index}",
                                    "symbols": ["NEW", "OPEN", "CLOSED"], "default": "NEW"}},
        {"name": "customer", "type": {"type": "record", "name": f"Customer{index}", "fields": [
            {"name": "id", "type": "string"}, {"name": "email", "type": "string"},
            {"name": "country", "type": "string"}]}},
        {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": f"Line{index}",
            "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"},
                       {"name": "price_minor", "type": "long"}]}}},
        {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}},
        {"name": "note", "type": ["null", "string"], "default": None},
    ]
    for extra in range(6):
        fields.append({"name": f"attr_{extra}", "type": "string", "default": ""})
    schema = {"type": "record", "name": f"Event{index}", "namespace": "bench", "fields": fields}
    out = [copy.deepcopy(schema)]
    for version in range(2, versions + 1):
        schema = copy.deepcopy(schema)
        roll = rng.random()
        if roll < 0.9:  # the common case: an optional field with a default
            schema["fields"].append({"name": f"added_v{version}", "type": ["null", "long"], "default": None})
        elif roll < 0.95:  # breaking: a required field without a default
            schema["fields"].append({"name": f"required_v{version}", "type": "string"})
        else:  # breaking one way: an enum symbol without changing the default
            schema["fields"][4]["type"]["symbols"].append(f"S{version}")
        out.append(schema)
    return out


def _json_versions(rng: random.Random, index: int, versions: int) -> list[dict[str, Any]]:
    properties: dict[str, Any] = {
        "event_id": {"type": "string", "format": "uuid"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "amount_minor": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "status": {"type": "string", "enum": ["new", "open", "closed"]},
        "customer": {"type": "object", "properties": {
            "id": {"type": "string", "maxLength": 64}, "email": {"type": "string", "format": "email"},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"}},
            "required": ["id"], "additionalProperties": False},
        "lines": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1},
            "price_minor": {"type": "integer"}}, "required": ["sku", "qty"]}},
        "note": {"type": ["string", "null"], "maxLength": 500},
    }
    for extra in range(7):
        properties[f"attr_{extra}"] = {"type": "string", "maxLength": 200}
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": f"Event{index}",
              "type": "object", "properties": properties,
              "required": ["event_id", "occurred_at", "amount_minor"], "additionalProperties": False}
    out = [copy.deepcopy(schema)]
    for version in range(2, versions + 1):
        schema = copy.deepcopy(schema)
        roll = rng.random()
        if roll < 0.6:  # description-only edit: compatible both ways
            schema["description"] = f"revision {version}"
        elif roll < 0.8:  # optional property in a closed model: backward only
            schema["properties"][f"added_v{version}"] = {"type": "integer"}
        else:  # a longer limit: backward only
            schema["properties"]["note"]["maxLength"] += 100
        out.append(schema)
    return out


def _proto_versions(rng: random.Random, index: int, versions: int) -> list[str]:
    """A payment-like message with nested types, an enum, a oneof and a map, evolving by fields."""
    fields = [
        "string event_id = 1;", "google.protobuf.Timestamp occurred_at = 2;", "int64 amount_minor = 3;",
        "string currency = 4;", "Status status = 5;", "Customer customer = 6;", "repeated Line lines = 7;",
        "map<string, string> tags = 8;", "optional string note = 9;",
        "oneof method {\n    string card_token = 10;\n    string iban = 11;\n  }",
        *(f"string attr_{extra} = {12 + extra};" for extra in range(5)),
    ]
    nested = (
        "  enum Status {\n    STATUS_UNSPECIFIED = 0;\n    NEW = 1;\n    OPEN = 2;\n    CLOSED = 3;\n  }\n"
        "  message Customer {\n    string id = 1;\n    string email = 2;\n    string country = 3;\n  }\n"
        "  message Line {\n    string sku = 1;\n    int32 qty = 2;\n    int64 price_minor = 3;\n  }\n"
    )

    def text(body: list[str]) -> str:
        lines = "".join(f"  {line}\n" for line in body)
        return (f'syntax = "proto3";\npackage bench.s{index};\nimport "google/protobuf/timestamp.proto";\n'
                f"message Event{index} {{\n{nested}{lines}}}\n")

    out = [text(fields)]
    for version in range(2, versions + 1):
        roll = rng.random()
        if roll < 0.85:  # the common case: a field added
            fields = [*fields, f"int64 added_v{version} = {100 + version};"]
        elif roll < 0.9:  # breaking: a scalar type changed across groups
            fields = [line.replace("string attr_0 =", "int64 attr_0 =") for line in fields]
        elif roll < 0.95:  # breaking one way: a oneof field removed
            fields = [line.replace("\n    string iban = 11;", "") for line in fields]
        else:  # accepted but lossy: int64 -> int32 (a warning with its proof)
            fields = [line.replace("int64 amount_minor", "int32 amount_minor") for line in fields]
        out.append(text(fields))
    return out


def build_catalogue(root: Path, subjects: int, versions: int, seed: int = 7, *, protobuf: bool = True) -> int:
    rng = random.Random(seed)
    avro_pairs = 0
    kinds = 3 if protobuf else 2
    for index in range(subjects):
        kind = index % kinds
        folder = root / f"bench.subject{index:04d}"
        folder.mkdir(parents=True)
        if kind == 2:
            for number, proto in enumerate(_proto_versions(rng, index, versions), start=1):
                (folder / f"{number}.proto").write_text(proto)
            continue
        is_avro = kind == 0
        docs = _avro_versions(rng, index, versions) if is_avro else _json_versions(rng, index, versions)
        for number, doc in enumerate(docs, start=1):
            (folder / f"{number}.{'avsc' if is_avro else 'json'}").write_text(json.dumps(doc, indent=2))
        avro_pairs += is_avro
    return avro_pairs


def time_evtool(root: Path) -> tuple[float, int, int]:
    """CPU seconds of this process (protoc runs in it): the box may be shared, wall time is not
    the check's cost then; `wall` is printed beside it."""
    start = time.process_time()
    wall = time.perf_counter()
    catalog = load_catalog(root)
    settings = Settings(schema_dir=root, default_mode=CompatibilityMode.FULL_TRANSITIVE)
    report = check_catalog(catalog, settings)
    elapsed = time.process_time() - start
    print(f"  evtool run: {elapsed:.2f} s CPU, {time.perf_counter() - wall:.2f} s wall")
    with_example = sum(1 for f in [*report.findings, *report.warnings] if f.counterexample is not None)
    return elapsed, report.pairs_checked, with_example


def time_apache_avro(root: Path) -> tuple[float, int]:
    from avro.compatibility import ReaderWriterCompatibilityChecker
    from avro.schema import parse

    documents = [
        [p.read_text() for p in sorted(folder.glob("*.avsc"), key=lambda p: int(p.stem))]
        for folder in sorted(root.iterdir())
    ]
    documents = [d for d in documents if d]
    start = time.process_time()
    pairs = 0
    for texts in documents:
        for new_index in range(1, len(texts)):
            for old_index in range(new_index):
                # parsing included, as each pair in a registry request would be
                new, old = parse(texts[new_index]), parse(texts[old_index])
                checker = ReaderWriterCompatibilityChecker()
                checker.get_compatibility(new, old)
                checker.get_compatibility(old, new)
                pairs += 2
    return time.process_time() - start, pairs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-subjects", type=int, default=100,
                        help="Avro subjects the (slow) baseline runs over")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "schemas"
        build_catalogue(root, args.subjects, args.versions)
        base_root = Path(tmp) / "baseline"
        build_catalogue(base_root, args.baseline_subjects * 2, args.versions, protobuf=False)
        ours, theirs = [], []
        pairs = examples = base_pairs = 0
        for _ in range(args.repeat):
            elapsed, pairs, examples = time_evtool(root)
            ours.append(elapsed)
            base_elapsed, base_pairs = time_apache_avro(base_root)
            theirs.append(base_elapsed)
        our_median = statistics.median(ours)
        our_rate = pairs / our_median
        base_rate = base_pairs / statistics.median(theirs)
        print(f"catalogue: {args.subjects} subjects x {args.versions} versions, FULL_TRANSITIVE")
        print(f"evtool: {pairs // 2} version pairs, {pairs} reader/writer checks in {our_median:.2f} s CPU "
              f"(median of {args.repeat}: "
              f"{', '.join(f'{t:.2f}' for t in ours)}) = {our_rate:,.0f} checks/s; "
              f"{examples} findings and lossy-change warnings with a proven counterexample")
        print(f"baseline apache avro (parse + check, Avro only): {base_rate:,.0f} checks/s "
              f"over {base_pairs} checks")
        print(f"ratio evtool / baseline: {our_rate / base_rate:.1f}x")


if __name__ == "__main__":
    main()
