from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evtool.catalog import Catalog, SchemaFile, load_catalog
from evtool.catalog.bundled import bundled_settings
from evtool.errors import SchemaError, UsageError
from evtool.events import (
    EventStream,
    GenerateOptions,
    InvalidEventError,
    MixEntry,
    default_mix,
    parse_count,
    parse_flow,
    parse_mix,
    parse_version_mix,
    resolve_subject,
    write_jsonl,
)
from evtool.events.envelope import parse_dataschema
from evtool.events.validate import EventValidator
from evtool.values.pools import COUPON_PERCENT

Check = Callable[[SchemaFile], Callable[[Any], None]]
Write = Callable[[str, int, str, str], Path]

BUNDLED = [
    ("commerce.order.placed", 1),
    ("commerce.order.placed", 2),
    ("commerce.order.placed", 3),
    ("inventory.stock.low", 1),
    ("inventory.stock.low", 2),
    ("support.complaint.filed", 1),
    ("support.complaint.filed", 2),
    ("support.complaint.filed", 3),
]


@pytest.mark.parametrize(("subject", "version"), BUNDLED)
@pytest.mark.parametrize("schema_driven", [False, True], ids=["domain", "schema-driven"])
def test_every_bundled_version_generates_valid_data(
    catalog: Catalog, reference_check: Check, subject: str, version: int, schema_driven: bool
) -> None:
    options = GenerateOptions(
        mix=(MixEntry(subject, 1.0, version),), count=2000, seed=version, schema_driven=schema_driven
    )
    check = reference_check(catalog.subject(subject).version(version))
    ours = EventValidator(catalog)
    for event in EventStream(catalog, options):
        assert event.type == subject
        assert parse_dataschema(event.dataschema) == (subject, version)
        check(event.data)
        assert ours.check(event) is None


def test_domain_orders_add_up_and_use_catalogue_prices(catalog: Catalog) -> None:
    prices: dict[str, int] = {}
    last_time = ""
    for event in EventStream(catalog, GenerateOptions(mix=parse_mix("order"), count=3000, seed=9)):
        data = event.data
        lines_sum = sum(line["quantity"] * line["unit_price_minor"] for line in data["lines"])
        percent = COUPON_PERCENT[data["coupon_code"]] if data["coupon_code"] else 0
        assert data["total_minor"] == lines_sum - lines_sum * percent // 100  # coupons take their share
        for line in data["lines"]:
            assert prices.setdefault(line["sku"], line["unit_price_minor"]) == line["unit_price_minor"]
        assert data["currency"] == "USD"
        assert data["customer"]["email"].count("@") == 1
        assert event.time is not None
        assert event.time >= last_time  # timestamps move forward
        last_time = event.time
        assert data["placed_at"] == _ms(event.time)


def _ms(rfc3339: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def test_locale_sets_currency_and_country(catalog: Catalog) -> None:
    events = list(EventStream(catalog, GenerateOptions(mix=parse_mix("order"), count=50, locale="de_DE")))
    assert {e.data["currency"] for e in events} == {"EUR"}
    countries = Counter(e.data["customer"]["country"] for e in events)
    assert countries.most_common(1)[0][0] == "DE"  # the shop's country, with some customers abroad
    assert countries["DE"] >= 0.7 * len(events)
    japan = list(EventStream(catalog, GenerateOptions(mix=parse_mix("order"), count=50, locale="ja_JP")))
    assert {e.data["currency"] for e in japan} == {"JPY"}


def test_default_mix_follows_weights(catalog: Catalog) -> None:
    # the bundled catalogue's evtool.toml weighs orders 70, stock alerts 20, complaints 10
    mix = default_mix(catalog, bundled_settings())
    counts = Counter(e.type for e in EventStream(catalog, GenerateOptions(mix=mix, count=10000)))
    assert 6500 < counts["commerce.order.placed"] < 7500
    assert 1500 < counts["inventory.stock.low"] < 2500
    assert 700 < counts["support.complaint.filed"] < 1300


def test_version_mix_and_single_version(catalog: Catalog) -> None:
    options = GenerateOptions(
        mix=parse_mix("order,complaint"), version_mix=parse_version_mix("1:30,2:70"), count=4000
    )
    versions = Counter(parse_dataschema(e.dataschema) for e in EventStream(catalog, options))
    ones = versions[("commerce.order.placed", 1)] + versions[("support.complaint.filed", 1)]
    twos = versions[("commerce.order.placed", 2)] + versions[("support.complaint.filed", 2)]
    assert 0.25 < ones / 4000 < 0.35
    assert ones + twos == 4000
    pinned = GenerateOptions(schema_version=1, count=200, validate=True)
    assert {parse_dataschema(e.dataschema)[1] for e in EventStream(catalog, pinned)} == {1}  # type: ignore[index]


def test_missing_version_is_a_usage_error(catalog: Catalog) -> None:
    with pytest.raises(UsageError, match="no version 3"):
        EventStream(catalog, GenerateOptions(schema_version=3))  # inventory has only 1..2


def test_same_seed_same_bytes_other_seed_other_bytes(catalog: Catalog) -> None:
    def render(seed: int, **kwargs: object) -> bytes:
        out = io.BytesIO()
        write_jsonl(EventStream(catalog, GenerateOptions(count=500, seed=seed, **kwargs)), out)  # type: ignore[arg-type]
        return out.getvalue()

    assert render(7) == render(7)
    assert render(7) != render(8)
    flow = parse_flow("order-lifecycle")
    assert render(7, flow=flow) == render(7, flow=flow)
    stream = EventStream(catalog, GenerateOptions(count=100, seed=4))
    assert [e.id for e in stream] == [e.id for e in stream]  # iterating again starts afresh


def test_stream_is_lazy_and_endless_without_count(catalog: Catalog) -> None:
    stream = iter(EventStream(catalog, GenerateOptions(seed=1)))
    ids = {next(stream).id for _ in range(20000)}
    assert len(ids) == 20000


def test_user_schema_with_bundled_name_but_other_shape_falls_back_to_schema(write_schema: Write) -> None:
    root = write_schema(
        "commerce.order.placed",
        1,
        '{"type":"object","properties":{"ref":{"type":"string","pattern":"^R[0-9]{3}$"}},'
        '"required":["ref"],"additionalProperties":false}',
        ".json",
    )
    custom = load_catalog(root)
    events = list(EventStream(custom, GenerateOptions(mix=parse_mix("order"), count=50, validate=True)))
    assert all(set(e.data) == {"ref"} for e in events)


def test_unsatisfiable_generation_is_reported_before_the_first_event(write_schema: Write) -> None:
    root = write_schema("x.y", 1, '{"type":"string","not":{"type":"string"}}', ".json")
    with pytest.raises(SchemaError, match="cannot generate valid data"):
        EventStream(load_catalog(root), GenerateOptions(mix=parse_mix("x.y")))


def test_validate_option_raises_on_invalid_data(catalog: Catalog) -> None:
    stream = EventStream(catalog, GenerateOptions(mix=parse_mix("inventory"), count=10, validate=True))
    version = stream.choices[0].versions[0]
    version.generate = lambda ctx: {"sku": "bad"}
    with pytest.raises(InvalidEventError, match=r"inventory.stock.low v2\) at /"):
        list(stream)


# ------------------------------------------------------------------------------ option parsing


def test_parse_mix_accepts_short_full_and_pinned_names(catalog: Catalog) -> None:
    assert parse_mix("order=70,inventory=20,complaint=10") == (
        MixEntry("order", 70.0),
        MixEntry("inventory", 20.0),
        MixEntry("complaint", 10.0),
    )
    assert parse_mix("commerce.order.placed@2=1.5, stock") == (
        MixEntry("commerce.order.placed", 1.5, 2),
        MixEntry("stock", 1.0),
    )
    assert resolve_subject(catalog, "order") == "commerce.order.placed"
    assert resolve_subject(catalog, "support.complaint.filed") == "support.complaint.filed"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("order=abc", "not a number"),
        ("order=-1", "positive"),
        ("order=0", "positive"),
        ("order=inf", "positive"),
        ("=5", "no event type"),
        ("", "empty"),
        ("order@x=1", "not a positive integer"),
    ],
)
def test_parse_mix_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as info:
        parse_mix(text)
    assert "\n" not in str(info.value)


def test_unknown_event_type_names_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(UsageError, match="unknown event type 'refund'") as info:
        EventStream(catalog, GenerateOptions(mix=parse_mix("order=1,refund=2")))
    assert "commerce.order.placed" in str(info.value)


@pytest.mark.parametrize(("text", "expected"), [("1:30,2:70", ((1, 30.0), (2, 70.0))), ("3", ((3, 1.0),))])
def test_parse_version_mix(text: str, expected: tuple[tuple[int, float], ...]) -> None:
    assert parse_version_mix(text) == expected


@pytest.mark.parametrize("text", ["a:1", "0:5", "1:x", "1:-2", ",", "-1"])
def test_parse_version_mix_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_version_mix(text)


@pytest.mark.parametrize(("value", "expected"), [("10", 10), (5, 5), ("1_000", 1000)])
def test_parse_count(value: str | int, expected: int) -> None:
    assert parse_count(value) == expected


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5", 0, ""])
def test_parse_count_errors(value: str | int) -> None:
    with pytest.raises(UsageError, match="count"):
        parse_count(value)


def test_parse_flow() -> None:
    spec = parse_flow("order-lifecycle:complaint_rate=0.25, restock_delay_s=5")
    assert spec.complaint_rate == 0.25
    assert spec.restock_delay_s == 5.0
    for bad, fragment in [
        ("refunds", "unknown flow"),
        ("order-lifecycle:complaint_rate=2", "out of range"),
        ("order-lifecycle:colour=red", "known key"),
        ("order-lifecycle:stock_orders=many", "not an integer"),
    ]:
        with pytest.raises(UsageError, match=fragment):
            parse_flow(bad)


def test_setup_is_quick(catalog: Catalog) -> None:
    started = time.perf_counter()
    next(iter(EventStream(catalog, GenerateOptions(seed=5))))
    assert time.perf_counter() - started < 5.0


def test_shorter_count_is_a_prefix_of_a_longer_one(catalog: Catalog) -> None:
    """Block draws do not depend on the count: --count 300 is the start of --count 3000."""
    variants: list[dict[str, Any]] = [
        {},
        {"flow": parse_flow("order-lifecycle")},
        {"mix": parse_mix("order"), "schema_driven": True},
    ]
    for extra in variants:
        short = EventStream(catalog, GenerateOptions(count=300, seed=2, **extra))
        long = EventStream(catalog, GenerateOptions(count=3000, seed=2, **extra))
        assert [e.to_json_bytes() for e in long][:300] == [e.to_json_bytes() for e in short]


def test_orders_have_distinct_skus_and_first_orders_mark_new_customers(catalog: Catalog) -> None:
    seen: set[str] = set()
    sizes: Counter[int] = Counter()
    for event in EventStream(catalog, GenerateOptions(mix=parse_mix("order"), count=5000, seed=3)):
        data = event.data
        skus = [line["sku"] for line in data["lines"]]
        assert len(skus) == len(set(skus))
        sizes[len(skus)] += 1
        customer = data["customer"]["customer_id"]
        assert data["customer"]["is_new_customer"] == (customer not in seen)
        seen.add(customer)
        assert (data["shipping_address"] is None) == (data["channel"] == "STORE")
    assert set(sizes) == {1, 2, 3, 4, 5}
    assert sizes[1] > sizes[5]


def test_mix_complaints_name_orders_of_the_stream_with_their_customer(catalog: Catalog) -> None:
    orders: dict[str, dict[str, Any]] = {}
    complaints = 0
    for event in EventStream(catalog, GenerateOptions(count=6000, seed=4)):
        data = event.data
        if event.type == "commerce.order.placed":
            orders[data["order_id"]] = data
        elif event.type == "support.complaint.filed" and data["order_id"] in orders:
            complaints += 1  # the others are about orders placed before the stream began
            order = orders[data["order_id"]]
            assert data["customer"]["email"] == order["customer"]["email"]
    assert complaints > 150
