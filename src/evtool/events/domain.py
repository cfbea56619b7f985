"""Domain generators for the bundled business events: orders, low-stock alerts, complaints.

They know what the schema cannot say: a customer's name and e-mail belong together, a line's
price is the product's stable catalogue price, the total is the sum of the lines, a complaint
is about an order that was placed. Each maker reads the field names of the schema version it
writes for (v1, v2, v3 …) and fills exactly those fields, so every version stays valid.
The source checks each maker's output against its schema before use and falls back to
schema-driven generation for a user's subject that merely shares a bundled name.

Speed: `stream(ctx)` yields data endlessly, drawing its random numbers in blocks from the
context's numpy Generator; the parts of an event that depend only on a pooled value (a
customer's sub-object, an address, a SKU's order line at a quantity, a supplier) are built once
per pools and shared by every event that uses them. Event data is therefore read-only: nested
objects may be shared between events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np

from evtool.catalog.model import SchemaFile, SchemaFormat
from evtool.values.context import GenContext, uuid4_block
from evtool.values.pools import (
    COMPLAINT_CATEGORIES,
    COUPON_PERCENT,
    Customer,
    Pools,
    Product,
    complaint_texts,
)

ORDER_SUBJECT = "commerce.order.placed"
STOCK_SUBJECT = "inventory.stock.low"
COMPLAINT_SUBJECT = "support.complaint.filed"

T = TypeVar("T")
DataGenerator = Callable[[GenContext], Any]

BLOCK = 256  # events whose random numbers are drawn in one go
_LINE_COUNTS = (1, 1, 1, 2, 2, 2, 3, 3, 4, 5)
_MAX_LINES = max(_LINE_COUNTS)
_QUANTITIES = (1, 1, 1, 1, 2, 2, 3)
_CHANNELS = ("WEB", "WEB", "WEB", "MOBILE", "MOBILE", "STORE", "MARKETPLACE")
_THRESHOLDS = (5, 10, 10, 15, 20, 25, 50)
_COUPON_SHARE = 0.15
_GIFT_SHARE = 0.08  # orders shipped to someone else's address (a gift), maybe in another country
_OLD_ORDER_SHARE = 0.5  # complaints about an order placed before this stream began
_SUPPLIER_SHARE = 0.9
_COMPLAINT_CHANNELS = ("email", "email", "chat", "web", "phone", "social")
_SEVERITY = {
    "late_delivery": ("low", "medium", "medium", "high"),
    "damaged_item": ("medium", "high", "high", "critical"),
    "wrong_item": ("medium", "medium", "high"),
    "billing": ("medium", "high", "critical"),
    "other": ("low", "low", "medium"),
}
_WITH_ATTACHMENTS = ("damaged_item", "wrong_item")


class OrderRef(NamedTuple):
    """What later events need to know about a placed order (complaints refer to it)."""

    order_id: str
    customer: Customer
    skus: tuple[str, ...]
    product_names: tuple[str, ...]
    event_id: str = ""
    placed_ms: int | None = None  # None: placed before the stream began (time unknown)


# (order id, customer, order lines, placed at ms): cheap to record
PlacedOrder = tuple[str, Customer, list[dict[str, Any]], int]


@dataclass(slots=True)
class DomainState:
    """Per-stream memory shared by the makers: order numbers, returning customers, recent orders."""

    next_order: int = 0
    seen_customers: set[str] = field(default_factory=set)
    recent_orders: deque[PlacedOrder] = field(default_factory=lambda: deque(maxlen=512))

    def reset(self) -> None:
        self.next_order = 0
        self.seen_customers.clear()
        self.recent_orders.clear()


def order_ref(placed: PlacedOrder, names: dict[str, str], event_id: str = "") -> OrderRef:
    """The OrderRef of a recorded order; `names` maps SKU to product name (`product_names`)."""
    order_id, customer, lines, placed_ms = placed
    skus = tuple(line["sku"] for line in lines)
    products = tuple(names.get(sku, "item") for sku in skus)
    return OrderRef(order_id, customer, skus, products, event_id, placed_ms)


def discounted(total: int, coupon: str | None) -> int:
    """What the customer pays: the lines' sum less the coupon's percentage (rounded down)."""
    if coupon is None:
        return total
    return total - total * COUPON_PERCENT.get(coupon, 0) // 100


def product_names(pools: Pools) -> dict[str, str]:
    return {p.sku: p.name for p in pools.products}


def pick(rng: Any, seq: Sequence[T]) -> T:
    """rng.choice without its rejection loop (for the few draws made one at a time)."""
    return seq[int(rng.random() * len(seq))]


def _fields(document: Any) -> dict[str, Any]:
    """Field name -> field schema of a record (Avro) or object (JSON Schema) document."""
    if isinstance(document, dict) and document.get("type") == "record":
        return {f["name"]: f.get("type") for f in document.get("fields", []) if isinstance(f, dict)}
    if isinstance(document, dict):
        props = document.get("properties", {})
        return dict(props) if isinstance(props, dict) else {}
    return {}


def _sub_fields(document: Any, field_schema: Any) -> dict[str, Any]:
    """Fields of a nested record/object (follows Avro unions and local JSON $refs)."""
    if isinstance(field_schema, list):  # Avro union: the record branch
        field_schema = next((b for b in field_schema if isinstance(b, dict)), None)
    if isinstance(field_schema, dict) and "$ref" in field_schema:
        node: Any = document
        for token in str(field_schema["$ref"]).lstrip("#").split("/")[1:]:
            node = node.get(token, {}) if isinstance(node, dict) else {}
        field_schema = node
    return _fields(field_schema)


def _enum_of(document: Any, field_schema: Any) -> tuple[str, ...]:
    if isinstance(field_schema, dict):
        if isinstance(field_schema.get("symbols"), list):
            return tuple(field_schema["symbols"])
        if isinstance(field_schema.get("enum"), list):
            return tuple(field_schema["enum"])
    return ()


def _max_length(field_schema: Any, default: int) -> int:
    if isinstance(field_schema, dict) and isinstance(field_schema.get("maxLength"), int):
        return int(field_schema["maxLength"])
    return default


def _subset(full: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: full[k] for k in keys if k in full}


class _OrderParts:
    """An order version's pooled sub-objects, built once per pools and shared by its events."""

    def __init__(self, maker: OrderMaker, pools: Pools) -> None:
        self.pools = pools
        self.new_customer: dict[str, dict[str, Any]] = {}
        self.returning: dict[str, dict[str, Any]] = {}
        self.address: dict[str, dict[str, Any]] = {}
        for c in pools.customers:
            full = {"customer_id": c.customer_id, "name": c.name, "email": c.email, "country": c.country}
            returning = _subset({**full, "is_new_customer": False}, maker.customer_keys)
            self.returning[c.customer_id] = returning
            self.new_customer[c.customer_id] = (
                _subset({**full, "is_new_customer": True}, maker.customer_keys)
                if "is_new_customer" in maker.customer_keys
                else returning
            )
            address = {"street": c.street, "city": c.city, "postal_code": c.postal_code, "country": c.country}
            self.address[c.customer_id] = _subset(address, maker.address_keys)
        quantities = sorted(set(_QUANTITIES))
        self.lines: dict[str, dict[int, dict[str, Any]]] = {
            p.sku: {q: {"sku": p.sku, "quantity": q, "unit_price_minor": p.price_minor} for q in quantities}
            for p in pools.products
        }

    def line(self, product: Product, quantity: int) -> dict[str, Any]:
        line = self.lines[product.sku].get(quantity)
        if line is None:
            line = {"sku": product.sku, "quantity": quantity, "unit_price_minor": product.price_minor}
        return line


class OrderMaker:
    """commerce.order.placed: coherent customer, catalogue prices, total = sum of lines."""

    def __init__(self, schema: SchemaFile, state: DomainState) -> None:
        top = _fields(schema.document)
        self.state = state
        self.customer_keys = tuple(_sub_fields(schema.document, top.get("customer")))
        self.has_channel = "channel" in top
        self.channels = tuple(c for c in _CHANNELS if c in _enum_of(schema.document, top.get("channel"))) or (
            _enum_of(schema.document, top.get("channel")) or _CHANNELS
        )
        self.has_coupon = "coupon_code" in top
        self.has_address = "shipping_address" in top
        self.address_keys = tuple(_sub_fields(schema.document, top.get("shipping_address")))
        self._parts: _OrderParts | None = None

    def parts(self, pools: Pools) -> _OrderParts:
        parts = self._parts
        if parts is None or parts.pools is not pools:
            parts = self._parts = _OrderParts(self, pools)
        return parts

    def __call__(self, ctx: GenContext) -> dict[str, Any]:
        """One order (streams should use `stream`, which draws in blocks)."""
        return next(self.stream(ctx, block=1))

    def stream(self, ctx: GenContext, *, block: int = BLOCK) -> Iterator[dict[str, Any]]:
        """Endless orders stamped with `ctx.now_ms` as it is when each one is drawn."""
        gen, pools, state = ctx.gen, ctx.pools, self.state
        parts = self.parts(pools)
        lines_of, new_customer, returning, addresses = (
            parts.lines,
            parts.new_customer,
            parts.returning,
            parts.address,
        )
        seen, recent = state.seen_customers, state.recent_orders
        popular, customers, coupons = pools.popular, pools.customers, pools.coupons
        currency = pools.currency.code
        channels = self.channels
        has_channel, has_coupon, has_address = self.has_channel, self.has_coupon, self.has_address
        # Lines are drawn for a whole block in numpy: product and quantity per slot, slots past the
        # line count or repeating an earlier SKU masked out, totals summed; a line is then one
        # lookup of its pooled dict by key = product number * 4 + quantity.
        number_of = {p.sku: n for n, p in enumerate(pools.products)}
        product_of_popular = np.array([number_of[p.sku] for p in popular], dtype=np.int64)
        prices = np.array([p.price_minor for p in pools.products], dtype=np.int64)
        quantity_values = np.array(_QUANTITIES, dtype=np.int64)
        count_values = np.array(_LINE_COUNTS, dtype=np.int64)
        table: list[dict[str, Any] | None] = [None] * (4 * len(pools.products))
        for p in pools.products:
            for quantity, line in lines_of[p.sku].items():
                table[number_of[p.sku] * 4 + quantity] = line
        slots = np.arange(_MAX_LINES)
        while True:
            counts = count_values[gen.integers(0, len(_LINE_COUNTS), block)]
            products = product_of_popular[gen.integers(0, len(popular), (block, _MAX_LINES))]
            quantities = quantity_values[gen.integers(0, len(_QUANTITIES), (block, _MAX_LINES))]
            keep = slots[None, :] < counts[:, None]
            for j in range(1, _MAX_LINES):
                keep[:, j] &= ~(products[:, :j] == products[:, j : j + 1]).any(axis=1)
            rows = np.where(keep, products * 4 + quantities, -1).tolist()
            totals = (prices[products] * quantities * keep).sum(axis=1).tolist()
            buyers = gen.integers(0, len(customers), block).tolist()
            steps = gen.integers(1, 4, block).tolist()
            first = int(gen.integers(10_000_000, 40_000_001))
            sales = gen.integers(0, len(channels), block).tolist()
            coupon_draws = gen.random(block).tolist()
            coupon_picks = gen.integers(0, len(coupons), block).tolist()
            gift_draws = gen.random(block).tolist()
            gift_to = gen.integers(0, len(customers), block).tolist()
            for i in range(block):
                lines = [table[k] for k in rows[i] if k >= 0]
                customer = customers[buyers[i]]
                cid = customer.customer_id
                if cid in seen:
                    customer_part = returning[cid]
                else:
                    seen.add(cid)
                    customer_part = new_customer[cid]
                number = state.next_order = state.next_order + steps[i] if state.next_order else first
                order_id = f"ORD-{number:08d}"
                data: dict[str, Any] = {
                    "order_id": order_id,
                    "customer": customer_part,
                    "placed_at": ctx.now_ms,
                    "currency": currency,
                    "lines": lines,
                    "total_minor": totals[i],
                }
                channel = channels[sales[i]]
                if has_channel:
                    data["channel"] = channel
                if has_coupon:
                    coupon = coupons[coupon_picks[i]] if coupon_draws[i] < _COUPON_SHARE else None
                    data["coupon_code"] = coupon
                    if coupon is not None:
                        data["total_minor"] = discounted(totals[i], coupon)
                if has_address:
                    to = customers[gift_to[i]].customer_id if gift_draws[i] < _GIFT_SHARE else cid
                    data["shipping_address"] = None if channel == "STORE" else addresses[to]
                recent.append((order_id, customer, lines, ctx.now_ms))
                yield data

    def make(self, ctx: GenContext, lines: list[tuple[Product, int]], customer: Customer) -> dict[str, Any]:
        """An order of these lines by this customer (flows choose them), stamped `ctx.now_ms`."""
        random = ctx.rng.random
        state = self.state
        parts = self.parts(ctx.pools)
        if state.next_order:
            state.next_order += 1 + int(random() * 3)
        else:
            state.next_order = 10_000_000 + int(random() * 30_000_000)
        order_id = f"ORD-{state.next_order:08d}"
        cid = customer.customer_id
        if cid in state.seen_customers:
            customer_part = parts.returning[cid]
        else:
            state.seen_customers.add(cid)
            customer_part = parts.new_customer[cid]
        data: dict[str, Any] = {
            "order_id": order_id,
            "customer": customer_part,
            "placed_at": ctx.now_ms,
            "currency": ctx.pools.currency.code,
            "lines": (out_lines := [parts.line(p, q) for p, q in lines]),
            "total_minor": sum([p.price_minor * q for p, q in lines]),
        }
        channels = self.channels
        channel = channels[int(random() * len(channels))]
        if self.has_channel:
            data["channel"] = channel
        if self.has_coupon:
            coupons = ctx.pools.coupons
            coupon = coupons[int(random() * len(coupons))] if random() < _COUPON_SHARE else None
            data["coupon_code"] = coupon
            data["total_minor"] = discounted(data["total_minor"], coupon)
        if self.has_address:
            customers = ctx.pools.customers
            to = customers[int(random() * len(customers))].customer_id if random() < _GIFT_SHARE else cid
            data["shipping_address"] = None if channel == "STORE" else parts.address[to]
        state.recent_orders.append((order_id, customer, out_lines, ctx.now_ms))
        return data


class StockAlertMaker:
    """inventory.stock.low: an alert for a SKU at a warehouse at or below its threshold."""

    def __init__(self, schema: SchemaFile, state: DomainState) -> None:
        top = _fields(schema.document)
        self.has_reorder = "reorder_point" in top
        self.has_supplier = "supplier" in top
        self.supplier_keys = tuple(_sub_fields(schema.document, top.get("supplier")))
        self._suppliers: tuple[Pools, dict[str, dict[str, Any]]] | None = None

    def suppliers(self, pools: Pools) -> dict[str, dict[str, Any]]:
        """SKU -> its supplier sub-object (a SKU keeps its supplier), built once per pools."""
        cached = self._suppliers
        if cached is None or cached[0] is not pools:
            table: dict[str, dict[str, Any]] = {}
            for product in pools.products:
                number = int(product.sku[4:])
                full = {
                    "supplier_id": pools.suppliers[number % len(pools.suppliers)],
                    "lead_time_days": 2 + number % 19,
                }
                table[product.sku] = _subset(full, self.supplier_keys)
            cached = self._suppliers = (pools, table)
        return cached[1]

    def __call__(self, ctx: GenContext) -> dict[str, Any]:
        """One alert (streams should use `stream`, which draws in blocks)."""
        return next(self.stream(ctx, block=1))

    def stream(self, ctx: GenContext, *, block: int = BLOCK) -> Iterator[dict[str, Any]]:
        """Endless alerts for random popular SKUs, stamped with `ctx.now_ms` as each is drawn."""
        gen, pools = ctx.gen, ctx.pools
        popular, warehouses = pools.popular, pools.warehouses
        suppliers = self.suppliers(pools)
        has_reorder, has_supplier = self.has_reorder, self.has_supplier
        now = ctx.format_time
        while True:
            ids = uuid4_block(gen, block)
            thresholds = gen.integers(0, len(_THRESHOLDS), block).tolist()
            skus = gen.integers(0, len(popular), block).tolist()
            sites = gen.integers(0, len(warehouses), block).tolist()
            levels = gen.random(block).tolist()
            supplied = gen.random(block).tolist()
            for i in range(block):
                threshold = _THRESHOLDS[thresholds[i]]
                sku = popular[skus[i]].sku
                data: dict[str, Any] = {
                    "alert_id": ids[i],
                    "sku": sku,
                    "warehouse_id": warehouses[sites[i]],
                    "on_hand": int(levels[i] * (threshold + 1)),
                    "threshold": threshold,
                    "detected_at": now(ctx.now_ms),
                }
                if has_reorder:
                    data["reorder_point"] = threshold * 2
                if has_supplier and supplied[i] < _SUPPLIER_SHARE:
                    data["supplier"] = suppliers[sku]
                yield data

    def make(
        self, ctx: GenContext, *, sku: str, warehouse: str, on_hand: int, threshold: int
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "alert_id": ctx.uuid(),
            "sku": sku,
            "warehouse_id": warehouse,
            "on_hand": on_hand,
            "threshold": threshold,
            "detected_at": ctx.now_rfc3339(),
        }
        if self.has_reorder:
            data["reorder_point"] = threshold * 2
        if self.has_supplier and ctx.rng.random() < _SUPPLIER_SHARE:
            data["supplier"] = self.suppliers(ctx.pools)[sku]
        return data


class ComplaintMaker:
    """support.complaint.filed: about a recent order of this stream, by that order's customer."""

    def __init__(self, schema: SchemaFile, state: DomainState) -> None:
        top = _fields(schema.document)
        self.state = state
        self.customer_keys = tuple(_sub_fields(schema.document, top.get("customer")))
        allowed = _enum_of(schema.document, top.get("channel"))
        self.channels = tuple(c for c in _COMPLAINT_CHANNELS if c in allowed) or allowed or ("email",)
        allowed = _enum_of(schema.document, top.get("category"))
        self.categories = tuple(c for c in COMPLAINT_CATEGORIES if c in allowed) or allowed or ("other",)
        self.severities = _enum_of(schema.document, top.get("severity"))
        self.has_severity = "severity" in top
        self.has_attachments = "attachments" in top
        self.max_text = _max_length(top.get("text"), 4000)
        # category -> severities that fit it (empty: leave severity out)
        self.severity_of = {
            c: tuple(s for s in _SEVERITY.get(c, ()) if s in self.severities) or self.severities
            for c in self.categories
        }
        self._customers: dict[str, dict[str, Any]] = {}

    def customer_part(self, customer: Customer) -> dict[str, Any]:
        """The customer sub-object, built once per customer and shared."""
        part = self._customers.get(customer.customer_id)
        if part is None:
            full = {"customer_id": customer.customer_id, "name": customer.name, "email": customer.email}
            part = self._customers[customer.customer_id] = _subset(full, self.customer_keys)
        return part

    def __call__(self, ctx: GenContext) -> dict[str, Any]:
        """One complaint (streams should use `stream`, which draws in blocks)."""
        return next(self.stream(ctx, block=1))

    def stream(self, ctx: GenContext, *, block: int = BLOCK) -> Iterator[dict[str, Any]]:
        """Endless complaints about recent orders of this stream (made-up ones before the first)."""
        gen, pools = ctx.gen, ctx.pools
        recent = self.state.recent_orders
        customers, popular = pools.customers, pools.popular
        templates = {
            c: complaint_texts(c, None)
            or pools.complaint_templates.get(c)
            or ("Problem with order {order}.",)
            for c in self.categories
        }
        # per category: (name, text templates, severities that fit, whether it carries photos)
        kinds = [
            (c, templates[c], self.severity_of.get(c, ()), self.has_attachments and c in _WITH_ATTACHMENTS)
            for c in self.categories
        ]
        channels, has_severity, max_text = self.channels, self.has_severity, self.max_text
        parts, customer_part, now, uuid = self._customers, self.customer_part, ctx.format_time, ctx.uuid
        names = product_names(pools)
        while True:
            ids = uuid4_block(gen, block)
            draws = gen.random((block, 7)).tolist()
            kind_of = gen.integers(0, len(kinds), block).tolist()
            channel_of = [channels[k] for k in gen.integers(0, len(channels), block).tolist()]
            for i in range(block):
                u = draws[i]
                elapsed: int | None = None
                if recent and u[6] >= _OLD_ORDER_SHARE:
                    order_id, customer, lines, placed_ms = recent[int(u[0] * len(recent))]
                    product = names[lines[int(u[1] * len(lines))]["sku"]] if lines else "item"
                    elapsed = ctx.now_ms - placed_ms
                else:  # an order from before this stream: any story fits its age
                    order_id = f"ORD-{10_000_000 + int(u[0] * 90_000_000):08d}"
                    customer = customers[int(u[1] * len(customers))]
                    product = popular[int(u[2] * len(popular))].name
                category, options, severities, photos = kinds[kind_of[i]]
                if elapsed is not None:
                    category, options, severities, photos = self._fitting(kinds, kind_of[i], elapsed)
                text = options[int(u[3] * len(options))].format(order=order_id, product=product)
                data: dict[str, Any] = {
                    "complaint_id": ids[i],
                    "order_id": order_id,
                    "customer": parts.get(customer.customer_id) or customer_part(customer),
                    "channel": channel_of[i],
                    "category": category,
                    "text": text if len(text) <= max_text else text[:max_text],
                    "filed_at": now(ctx.now_ms),
                }
                if has_severity and severities:
                    data["severity"] = severities[int(u[4] * len(severities))]
                if photos:
                    data["attachments"] = [
                        f"https://support.acme.example/attachments/{uuid()}.jpg"
                        for _ in range(1 + int(u[5] * 3))
                    ]
                yield data

    def _fitting(self, kinds: list[Any], index: int, elapsed_ms: int) -> Any:
        """The drawn kind of complaint if a text of it fits the order's age, else the next one
        that has (a damaged parcel is not reported before it can have arrived)."""
        for step in range(len(kinds)):
            category, _, severities, photos = kinds[(index + step) % len(kinds)]
            texts = complaint_texts(category, elapsed_ms)
            if texts:
                return category, texts, severities, photos
        return "other", ("Question about order {order}.",), (), False

    def make(self, ctx: GenContext, order: OrderRef) -> dict[str, Any]:
        """A complaint about this order (flows choose it), stamped `ctx.now_ms`; its words fit the
        time since the order was placed."""
        rng = ctx.rng
        product = pick(rng, order.product_names) if order.product_names else "item"
        elapsed = None if order.placed_ms is None else ctx.now_ms - order.placed_ms
        drawn = int(rng.random() * len(self.categories))
        category, templates = self.categories[drawn], complaint_texts(self.categories[drawn], elapsed)
        if not templates:
            kinds = [(c, (), (), False) for c in self.categories]
            category, templates, _, _ = self._fitting(kinds, drawn, elapsed or 0)
        if not templates:
            templates = ctx.pools.complaint_templates.get(category) or ("Problem with order {order}.",)
        text = pick(rng, templates).format(order=order.order_id, product=product)
        data: dict[str, Any] = {
            "complaint_id": ctx.uuid(),
            "order_id": order.order_id,
            "customer": self.customer_part(order.customer),
            "channel": pick(rng, self.channels),
            "category": category,
            "text": text[: self.max_text],
            "filed_at": ctx.now_rfc3339(),
        }
        if self.has_severity:
            choices = self.severity_of.get(category) or self.severities
            if choices:
                data["severity"] = pick(rng, choices)
        if self.has_attachments and category in _WITH_ATTACHMENTS:
            data["attachments"] = [
                f"https://support.acme.example/attachments/{ctx.uuid()}.jpg" for _ in range(rng.randint(1, 3))
            ]
        return data


Maker = OrderMaker | StockAlertMaker | ComplaintMaker
_MAKERS: dict[str, type[OrderMaker] | type[StockAlertMaker] | type[ComplaintMaker]] = {
    ORDER_SUBJECT: OrderMaker,
    STOCK_SUBJECT: StockAlertMaker,
    COMPLAINT_SUBJECT: ComplaintMaker,
}
_FORMATS = {
    ORDER_SUBJECT: SchemaFormat.AVRO,
    STOCK_SUBJECT: SchemaFormat.JSON,
    COMPLAINT_SUBJECT: SchemaFormat.JSON,
}


def domain_maker(schema: SchemaFile, state: DomainState) -> Maker | None:
    """The domain maker for this subject version, or None when no domain knowledge applies."""
    maker = _MAKERS.get(schema.subject)
    if maker is None or schema.format is not _FORMATS[schema.subject]:
        return None
    return maker(schema, state)

