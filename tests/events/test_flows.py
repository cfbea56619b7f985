from __future__ import annotations

from collections import defaultdict

from evtool.catalog import Catalog
from evtool.events import CloudEvent, EventStream, GenerateOptions, parse_flow
from evtool.events.flows import StockLedger
from evtool.events.validate import EventValidator

ORDER, STOCK, COMPLAINT = "commerce.order.placed", "inventory.stock.low", "support.complaint.filed"


def _run(
    catalog: Catalog, count: int, flow: str = "order-lifecycle", **kw: object
) -> tuple[list[CloudEvent], StockLedger]:
    stream = EventStream(catalog, GenerateOptions(flow=parse_flow(flow), count=count, seed=11, **kw))  # type: ignore[arg-type]
    events = list(stream)
    return events, stream.ledger


def test_flow_events_are_valid_and_all_three_kinds_appear(catalog: Catalog) -> None:
    events, _ = _run(catalog, 6000, validate=True)
    validator = EventValidator(catalog)
    kinds = {e.type for e in events}
    assert kinds == {ORDER, STOCK, COMPLAINT}
    assert all(validator.check(e) is None for e in events)


def test_complaints_reference_earlier_orders_and_their_customers(catalog: Catalog) -> None:
    events, _ = _run(catalog, 8000)
    orders: dict[str, CloudEvent] = {}
    complaints = 0
    for event in events:
        if event.type == ORDER:
            orders[event.id] = event
            assert event.extensions["correlationid"] == event.id
        elif event.type == COMPLAINT:
            complaints += 1
            cause = orders[event.extensions["causationid"]]  # an earlier order event
            assert event.extensions["correlationid"] == cause.id
            assert event.data["order_id"] == cause.data["order_id"]
            assert event.data["customer"]["customer_id"] == cause.data["customer"]["customer_id"]
            assert event.data["customer"]["email"] == cause.data["customer"]["email"]
            assert event.time >= cause.time  # type: ignore[operator]
    order_count = len(orders)
    assert 0.03 * order_count < complaints < 0.12 * order_count  # default rate 0.08, some still pending


def test_complaint_rate_is_configurable(catalog: Catalog) -> None:
    none, _ = _run(catalog, 2000, "order-lifecycle:complaint_rate=0")
    assert not [e for e in none if e.type == COMPLAINT]
    many, _ = _run(catalog, 4000, "order-lifecycle:complaint_rate=0.5,complaint_delay_s=1")
    orders = sum(1 for e in many if e.type == ORDER)
    complaints = sum(1 for e in many if e.type == COMPLAINT)
    assert 0.4 * orders < complaints < 0.6 * orders


def test_alerts_follow_orders_of_that_sku_and_stock_accounting_is_consistent(catalog: Catalog) -> None:
    events, ledger = _run(catalog, 20000, "order-lifecycle:stock_orders=800,restock_delay_s=20")
    on_hand = dict(ledger.initial)
    restocks = sorted(ledger.restocks)
    next_restock = 0
    orders: dict[str, CloudEvent] = {}
    alerts = 0
    alerts_by_sku: dict[str, int] = defaultdict(int)
    for index, event in enumerate(events):
        while next_restock < len(restocks) and restocks[next_restock][0] <= index:
            _, sku, lot = restocks[next_restock]
            on_hand[sku] += lot
            next_restock += 1
        if event.type == ORDER:
            orders[event.id] = event
            for line in event.data["lines"]:
                on_hand[line["sku"]] -= line["quantity"]
                assert on_hand[line["sku"]] >= 0, "an order took more than was in stock"
        elif event.type == STOCK:
            alerts += 1
            data = event.data
            cause = orders[event.extensions["causationid"]]
            assert data["sku"] in {line["sku"] for line in cause.data["lines"]}
            assert data["on_hand"] == on_hand[data["sku"]]
            assert data["on_hand"] <= data["threshold"] == ledger.threshold[data["sku"]]
            assert data["warehouse_id"] == ledger.home[data["sku"]]
            ordered = next(line["quantity"] for line in cause.data["lines"] if line["sku"] == data["sku"])
            assert data["on_hand"] + ordered > data["threshold"], "alert without crossing the threshold"
            alerts_by_sku[data["sku"]] += 1
    assert alerts > 20
    assert restocks, "replenishment never arrived"
    # every restock answers an alert of its SKU
    for _, sku, _ in restocks:
        assert alerts_by_sku[sku] > 0
    # after applying the restocks logged so far, the running totals equal the ledger
    while next_restock < len(restocks):
        _, sku, lot = restocks[next_restock]
        on_hand[sku] += lot
        next_restock += 1
    assert on_hand == ledger.on_hand


def test_flow_respects_version_choice(catalog: Catalog) -> None:
    events, _ = _run(catalog, 3000, schema_version=1, validate=True)
    assert {e.dataschema.rsplit(":", 1)[1] for e in events} == {"1"}  # type: ignore[union-attr]
