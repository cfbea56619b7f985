"""Properties of the bundled business events over many generated events and seeds: the numbers
add up (coupons included), customers come from more than one country and do not always ship to
themselves, no real mail domain is ever used, and every event tells one story in time."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import run_evtool

from evtool.catalog import Catalog
from evtool.events import CloudEvent, EventStream, GenerateOptions, parse_flow, parse_mix
from evtool.events.retime import retime
from evtool.values.pools import COUPON_PERCENT, EXAMPLE_DOMAINS, complaint_texts

ORDER, COMPLAINT = "commerce.order.placed", "support.complaint.filed"
SEEDS = (1, 2, 3, 5, 8)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _events(catalog: Catalog, seed: int, count: int = 3000, **kw: Any) -> list[CloudEvent]:
    return list(EventStream(catalog, GenerateOptions(count=count, seed=seed, **kw)))


@pytest.mark.parametrize("seed", SEEDS)
def test_coupons_reduce_totals_by_their_percentage(catalog: Catalog, seed: int) -> None:
    with_coupon = 0
    for event in _events(catalog, seed, mix=parse_mix("order")):
        data = event.data
        lines = sum(line["quantity"] * line["unit_price_minor"] for line in data["lines"])
        coupon = data["coupon_code"]
        if coupon is None:
            assert data["total_minor"] == lines
            continue
        with_coupon += 1
        assert data["total_minor"] == lines - lines * COUPON_PERCENT[coupon] // 100
        assert data["total_minor"] < lines  # every coupon is worth something on a real order
    assert with_coupon > 200  # ~15 % of 3000


@pytest.mark.parametrize("seed", SEEDS)
def test_customers_come_from_several_countries_and_some_ship_elsewhere(catalog: Catalog, seed: int) -> None:
    countries: Counter[str] = Counter()
    shipped = abroad_shipping = 0
    for event in _events(catalog, seed, mix=parse_mix("order")):
        data = event.data
        countries[data["customer"]["country"]] += 1
        address = data["shipping_address"]
        if address is None:
            continue
        shipped += 1
        if address["country"] != data["customer"]["country"]:
            abroad_shipping += 1  # a gift to someone in another country
    home, home_count = countries.most_common(1)[0]
    assert home == "US"  # the shop's country (en_US) has most customers
    assert len(countries) >= 3
    assert 0.7 * sum(countries.values()) <= home_count < sum(countries.values())
    assert 0 < abroad_shipping < 0.2 * shipped


@pytest.mark.parametrize("seed", SEEDS)
def test_mail_and_web_addresses_use_reserved_example_domains(catalog: Catalog, seed: int) -> None:
    emails = 0
    for event in _events(catalog, seed):
        customer = event.data.get("customer") if isinstance(event.data, dict) else None
        if customer and "email" in customer:
            emails += 1
            assert customer["email"].rsplit("@", 1)[1] in EXAMPLE_DOMAINS, customer["email"]
        for url in event.data.get("attachments") or ():
            assert url.split("/")[2].endswith(".example")
    assert emails > 1000


def _check_story(events: list[CloudEvent]) -> tuple[int, int]:
    """Every complaint about an order of the stream is filed after it, in words that fit the
    time since; returns (complaints about stream orders, complaints about older ones)."""
    placed: dict[str, int] = {}
    ours = older = 0
    for event in events:
        data = event.data
        assert event.time is not None
        if event.type == ORDER:
            assert data["placed_at"] == _ms(event.time)  # the payload's time is the event's
            placed[data["order_id"]] = data["placed_at"]
        elif event.type == COMPLAINT:
            assert data["filed_at"] == event.time
            if data["order_id"] not in placed:
                older += 1
                texts = complaint_texts(data["category"], None)
                assert any(_matches(data["text"], t, data["order_id"]) for t in texts), data["text"]
                continue
            ours += 1
            elapsed = _ms(data["filed_at"]) - placed[data["order_id"]]
            assert elapsed > 0
            fitting = complaint_texts(data["category"], elapsed)
            assert any(_matches(data["text"], t, data["order_id"]) for t in fitting), (
                f"{data['text']!r} filed {elapsed} ms after the order"
            )
    return ours, older


def _matches(text: str, template: str, order: str) -> bool:
    pattern = re.escape(template).replace(r"\{order\}", re.escape(order)).replace(r"\{product\}", ".+")
    return re.fullmatch(pattern, text) is not None


@pytest.mark.parametrize("seed", SEEDS)
def test_complaint_words_fit_the_time_since_the_order(catalog: Catalog, seed: int) -> None:
    ours, older = _check_story(_events(catalog, seed, count=6000))
    assert ours > 50
    assert older > 50
    flow_ours, _ = _check_story(
        list(EventStream(catalog, GenerateOptions(flow=parse_flow("order-lifecycle"), count=4000,
                                                  seed=seed)))
    )
    assert flow_ours > 50


def test_the_story_check_catches_a_week_late_complaint_seconds_after_its_order() -> None:
    order = CloudEvent("1", "s", ORDER, "2026-01-01T00:00:00.000Z",
                       {"order_id": "ORD-1", "placed_at": _ms("2026-01-01T00:00:00.000Z")})
    text = "I needed the Eco Kettle for a trip; order ORD-1 came a week late."
    complaint = CloudEvent("2", "s", COMPLAINT, "2026-01-01T00:00:12.000Z",
                           {"order_id": "ORD-1", "category": "late_delivery", "text": text,
                            "filed_at": "2026-01-01T00:00:12.000Z"})
    with pytest.raises(AssertionError, match="came a week late"):
        _check_story([order, complaint])
    # nine days later the same words fit
    later = "2026-01-10T00:00:12.000Z"
    complaint.time = complaint.data["filed_at"] = later
    assert _check_story([order, complaint]) == (1, 0)


def test_retime_moves_payload_times_with_the_event() -> None:
    old = "2025-01-06T09:00:00.030Z"
    old_ms = _ms(old)
    event = CloudEvent("1", "s", ORDER, old, {"placed_at": old_ms, "filed_at": old,
                                              "micros": old_ms * 1000 + 7, "count": 3, "note": "x"})
    new = "2026-12-02T03:00:00.125Z"
    retime(event, new, _ms(new))
    assert event.time == new
    assert event.data == {"placed_at": _ms(new), "filed_at": new, "micros": _ms(new) * 1000 + 7,
                          "count": 3, "note": "x"}


def test_simulate_stamps_payload_times_with_the_send_time(tmp_path: Path) -> None:
    out = tmp_path / "sent.jsonl"
    before = time.time() * 1000
    ran = run_evtool("simulate", "--target", f"file:{out}", "--rate", "200/s", "--count", "60",
                     "--seed", "3", "--run-dir", tmp_path / "run", "-q", cwd=tmp_path)
    after = time.time() * 1000
    assert ran.code == 0, ran.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == 60
    kinds = set()
    for event in events:
        own = _ms(event["time"])
        assert before - 1000 <= own <= after  # now, not 2025-01-06
        data = event["data"]
        for key in ("placed_at", "filed_at", "detected_at"):
            if key in data:
                kinds.add(key)
                value = data[key]
                assert (value if isinstance(value, int) else _ms(value)) == own, (key, event)
    assert kinds == {"placed_at", "filed_at", "detected_at"}
