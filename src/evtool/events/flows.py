"""Correlated flows: streams whose events refer to each other the way a real business's do.

`order-lifecycle`: each order depletes the stock of its SKUs (a SKU is stocked at one home
warehouse); when an order takes a SKU from above its threshold to at or below it, a low-stock
alert follows at once; replenishment arrives a while later (silently: it is not an event of the
catalogue) and is logged in the ledger; a configurable share of orders draws a complaint some
time later that names the order and its customer. Envelope extensions tie them together:
`correlationid` is the order event's id on every event of its story, `causationid` the event
that caused this one.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from evtool.errors import UsageError
from evtool.events.domain import (
    COMPLAINT_SUBJECT,
    ORDER_SUBJECT,
    STOCK_SUBJECT,
    ComplaintMaker,
    OrderMaker,
    OrderRef,
    StockAlertMaker,
    order_ref,
    product_names,
)
from evtool.events.envelope import CloudEvent
from evtool.values.context import GenContext
from evtool.values.pools import Product

FLOWS = ("order-lifecycle",)
_LINE_COUNTS = (1, 1, 1, 2, 2, 2, 3, 3, 4)
_QUANTITIES = (1, 1, 1, 1, 2, 2, 3)
_UNITS_PER_ORDER = sum(_LINE_COUNTS) / len(_LINE_COUNTS) * sum(_QUANTITIES) / len(_QUANTITIES)
FLOW_SUBJECTS: dict[str, tuple[str, ...]] = {
    "order-lifecycle": (ORDER_SUBJECT, STOCK_SUBJECT, COMPLAINT_SUBJECT)
}


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A flow and its ratios; `parse_flow("order-lifecycle:complaint_rate=0.2")` builds one."""

    name: str = "order-lifecycle"
    complaint_rate: float = 0.08  # share of orders that later draw a complaint
    complaint_delay_s: float = 60.0  # mean simulated delay from order to complaint
    restock_delay_s: float = 60.0  # simulated delay from low-stock alert to replenishment
    stock_orders: int = 5000  # a SKU's starting stock covers its expected demand over this many orders
    threshold_share: float = 0.3  # low-stock threshold as a share of the starting stock


_FLOW_PARAMETERS: dict[str, tuple[type, float, float]] = {
    "complaint_rate": (float, 0.0, 1.0),
    "complaint_delay_s": (float, 0.0, 1e9),
    "restock_delay_s": (float, 0.0, 1e9),
    "stock_orders": (int, 1, 100_000_000),
    "threshold_share": (float, 0.0, 0.99),
}


def parse_flow(text: str) -> FlowSpec:
    """`name` or `name:key=value,key=value`; UsageError naming the bad part."""
    name, _, params = text.strip().partition(":")
    name = name.strip()
    if name not in FLOWS:
        raise UsageError(f"unknown flow {name!r}", hint=f"known flows: {', '.join(FLOWS)}")
    values: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in _FLOW_PARAMETERS:
            known = ", ".join(_FLOW_PARAMETERS)
            raise UsageError(f"flow option {item!r} is not key=value with a known key", hint=f"keys: {known}")
        kind, low, high = _FLOW_PARAMETERS[key]
        try:
            value = kind(raw.strip())
        except ValueError:
            raise UsageError(
                f"flow option {key}: {raw.strip()!r} is not a{'n integer' if kind is int else ' number'}"
            ) from None
        if not low <= value <= high:
            raise UsageError(f"flow option {key}={value} is out of range [{low:g}, {high:g}]")
        values[key] = value
    return FlowSpec(name=name, **values)


@dataclass(slots=True)
class StockLedger:
    """Stock per SKU at its home warehouse; every change is explained by an order or a restock."""

    home: dict[str, str] = field(default_factory=dict)  # sku -> warehouse id
    initial: dict[str, int] = field(default_factory=dict)
    threshold: dict[str, int] = field(default_factory=dict)
    on_hand: dict[str, int] = field(default_factory=dict)
    restocks: list[tuple[int, str, int]] = field(default_factory=list)  # (events emitted before, sku, qty)
    pending: set[str] = field(default_factory=set)  # SKUs with a replenishment on its way


# (subject) -> (dataschema uri, maker) for the version chosen for the next event
Pick = Callable[[], tuple[str, Any]]
Emit = Callable[[str, str, Any, dict[str, str]], CloudEvent]  # (subject, uri, data, extensions)


class OrderLifecycle:
    """The `order-lifecycle` flow as an endless iterator of events (the caller bounds it)."""

    def __init__(
        self,
        spec: FlowSpec,
        ctx: GenContext,
        pick: Callable[[str], tuple[str, Any]],
        emit: Emit,
        advance: Callable[[], None],
    ) -> None:
        self.spec = spec
        self.ctx = ctx
        self.pick = pick
        self.emit = emit
        self.advance = advance
        self.ledger = StockLedger()
        rng = ctx.rng
        pools = ctx.pools
        # Popular SKUs are stocked deeper: stock covers each SKU's expected demand alike.
        total = pools.product_weights[-1]
        previous = 0.0
        for product, cumulative in zip(pools.products, pools.product_weights, strict=True):
            share, previous = (cumulative - previous) / total, cumulative
            sku = product.sku
            initial = max(5, round(share * _UNITS_PER_ORDER * spec.stock_orders * rng.uniform(0.8, 1.2)))
            self.ledger.home[sku] = pools.warehouses[rng.randrange(len(pools.warehouses))]
            self.ledger.threshold[sku] = min(initial - 1, max(1, round(initial * spec.threshold_share)))
            self.ledger.initial[sku] = self.ledger.on_hand[sku] = initial

    def __iter__(self) -> Iterator[CloudEvent]:
        ctx, ledger, spec = self.ctx, self.ledger, self.spec
        rng = ctx.rng
        random = rng.random
        customers = ctx.pools.customers
        on_hand, threshold, home = ledger.on_hand, ledger.threshold, ledger.home
        pick, emit, advance = self.pick, self.emit, self.advance
        names = product_names(ctx.pools)
        # (due ms, sequence, kind, payload): complaints to file and replenishments to receive
        agenda: list[tuple[int, int, str, Any]] = []
        sequence = 0
        emitted = 0
        complaint_rate = spec.complaint_rate
        complaint_mean_ms = spec.complaint_delay_s * 1000.0
        restock_ms = int(spec.restock_delay_s * 1000)
        while True:
            advance()
            while agenda and agenda[0][0] <= ctx.now_ms:
                _, _, kind, payload = heapq.heappop(agenda)
                if kind == "restock":
                    sku = payload
                    lot = ledger.initial[sku]
                    on_hand[sku] += lot
                    ledger.pending.discard(sku)
                    ledger.restocks.append((emitted, sku, lot))
                else:
                    about: OrderRef = payload
                    uri, maker = pick(COMPLAINT_SUBJECT)
                    links = {"correlationid": about.event_id, "causationid": about.event_id}
                    yield emit(COMPLAINT_SUBJECT, uri, maker.make(ctx, about), links)
                    emitted += 1
            lines = self._lines()
            if not lines:
                continue
            uri, order_maker = pick(ORDER_SUBJECT)
            data = order_maker.make(ctx, lines, customers[int(random() * len(customers))])
            crossed: list[str] = []
            for product, quantity in lines:
                sku = product.sku
                before = on_hand[sku]
                on_hand[sku] = before - quantity
                if before > threshold[sku] >= before - quantity:
                    crossed.append(sku)
            event = emit(ORDER_SUBJECT, uri, data, {})
            event.extensions["correlationid"] = event.id
            yield event
            emitted += 1
            placed = order_maker.state.recent_orders[-1]
            for sku in crossed:
                ctx.now_ms += 1 + int(random() * 40)  # detection follows the order closely
                alert_uri, alert_maker = pick(STOCK_SUBJECT)
                alert = alert_maker.make(
                    ctx, sku=sku, warehouse=home[sku], on_hand=on_hand[sku], threshold=threshold[sku]
                )
                links = {"correlationid": event.id, "causationid": event.id}
                yield emit(STOCK_SUBJECT, alert_uri, alert, links)
                emitted += 1
                if sku not in ledger.pending:
                    ledger.pending.add(sku)
                    sequence += 1
                    heapq.heappush(agenda, (ctx.now_ms + restock_ms, sequence, "restock", sku))
            if random() < complaint_rate:
                sequence += 1
                delay = int(rng.expovariate(1.0 / complaint_mean_ms)) if complaint_mean_ms > 0 else 0
                ref = order_ref(placed, names, event.id)
                heapq.heappush(agenda, (ctx.now_ms + 1 + delay, sequence, "complaint", ref))

    def _lines(self) -> list[tuple[Product, int]]:
        """Lines limited by what is in stock; empty when every drawn SKU is sold out."""
        ctx, on_hand = self.ctx, self.ledger.on_hand
        random = ctx.rng.random
        popular = ctx.pools.popular
        for _ in range(4):
            lines: list[tuple[Product, int]] = []
            seen: list[str] = []
            for _ in range(_LINE_COUNTS[int(random() * len(_LINE_COUNTS))]):
                product = popular[int(random() * len(popular))]
                sku = product.sku
                available = on_hand[sku]
                if available <= 0 or sku in seen:
                    continue
                seen.append(sku)
                lines.append((product, min(available, _QUANTITIES[int(random() * len(_QUANTITIES))])))
            if lines:
                return lines
        return []


def check_flow_makers(flow: str, makers: dict[str, object]) -> None:
    """UsageError unless every subject the flow writes has its domain maker (bundled schemas)."""
    expected = {ORDER_SUBJECT: OrderMaker, STOCK_SUBJECT: StockAlertMaker, COMPLAINT_SUBJECT: ComplaintMaker}
    for subject in FLOW_SUBJECTS[flow]:
        maker = makers.get(subject)
        if not isinstance(maker, expected[subject]):
            raise UsageError(
                f"flow {flow!r} needs subject {subject!r} with the bundled schema shape",
                hint="use a catalogue that holds the bundled subjects, or --mix for your own subjects",
            )
