"""Domain generators for the bundled business events: orders, low-stock alerts, complaints.

They know what the schema cannot say: a customer's name and e-mail belong together, a line's
price is the product's stable catalogue price, the total is the sum of the lines, a complaint
is about an order that was placed. Each maker reads the field names of the schema version it
writes for (v1, v2, v3 …) and fills exactly those fields, so every version stays valid.
The source checks each maker's output against its schema before use and falls back to
schema-driven generation for a user's subject that merely shares a bundled name.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from evtool.catalog.model import SchemaFile, SchemaFormat
from evtool.events.context import GenContext
from evtool.events.pools import COMPLAINT_CATEGORIES, Customer, Product

ORDER_SUBJECT = "commerce.order.placed"
STOCK_SUBJECT = "inventory.stock.low"
COMPLAINT_SUBJECT = "support.complaint.filed"

T = TypeVar("T")
DataGenerator = Callable[[GenContext], Any]

_LINE_COUNTS = (1, 1, 1, 2, 2, 2, 3, 3, 4, 5)
_QUANTITIES = (1, 1, 1, 1, 2, 2, 3)
_CHANNELS = ("WEB", "WEB", "WEB", "MOBILE", "MOBILE", "STORE", "MARKETPLACE")
_COMPLAINT_CHANNELS = ("email", "email", "chat", "web", "phone", "social")
_SEVERITY = {
    "late_delivery": ("low", "medium", "medium", "high"),
    "damaged_item": ("medium", "high", "high", "critical"),
    "wrong_item": ("medium", "medium", "high"),
    "billing": ("medium", "high", "critical"),
    "other": ("low", "low", "medium"),
}


@dataclass(frozen=True, slots=True)
class OrderRef:
    """What later events need to know about a placed order (complaints refer to it)."""

    order_id: str
    customer: Customer
    skus: tuple[str, ...]
    product_names: tuple[str, ...]
    event_id: str = ""


@dataclass(slots=True)
class DomainState:
    """Per-stream memory shared by the makers: order numbers, returning customers, recent orders."""

    next_order: int = 0
    seen_customers: set[str] = field(default_factory=set)
    recent_orders: deque[OrderRef] = field(default_factory=lambda: deque(maxlen=512))


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """rng.choice without its rejection loop: the hot path draws millions of these."""
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

    def pick_lines(self, ctx: GenContext) -> list[tuple[Product, int]]:
        rng = ctx.rng
        chosen: dict[str, tuple[Product, int]] = {}
        for _ in range(pick(rng, _LINE_COUNTS)):
            product = ctx.pools.pick_product(rng)
            if product.sku not in chosen:
                chosen[product.sku] = (product, pick(rng, _QUANTITIES))
        return list(chosen.values())

    def __call__(self, ctx: GenContext) -> dict[str, Any]:
        return self.make(ctx, self.pick_lines(ctx), pick(ctx.rng, ctx.pools.customers))

    def make(self, ctx: GenContext, lines: list[tuple[Product, int]], customer: Customer) -> dict[str, Any]:
        rng = ctx.rng
        state = self.state
        state.next_order = (
            state.next_order + rng.randint(1, 3) if state.next_order else rng.randint(10_000_000, 40_000_000)
        )
        order_id = f"ORD-{state.next_order:08d}"
        full_customer = {
            "customer_id": customer.customer_id,
            "name": customer.name,
            "email": customer.email,
            "country": customer.country,
            "is_new_customer": customer.customer_id not in state.seen_customers,
        }
        state.seen_customers.add(customer.customer_id)
        out_lines = [{"sku": p.sku, "quantity": q, "unit_price_minor": p.price_minor} for p, q in lines]
        data: dict[str, Any] = {
            "order_id": order_id,
            "customer": {k: full_customer[k] for k in self.customer_keys if k in full_customer},
            "placed_at": ctx.now_ms,
            "currency": ctx.pools.currency.code,
            "lines": out_lines,
            "total_minor": sum(p.price_minor * q for p, q in lines),
        }
        channel = pick(rng, self.channels)
        if self.has_channel:
            data["channel"] = channel
        if self.has_coupon:
            data["coupon_code"] = pick(rng, ctx.pools.coupons) if rng.random() < 0.15 else None
        if self.has_address:
            if channel == "STORE":
                data["shipping_address"] = None
            else:
                address = {
                    "street": customer.street,
                    "city": customer.city,
                    "postal_code": customer.postal_code,
                    "country": customer.country,
                }
                data["shipping_address"] = {k: address[k] for k in self.address_keys if k in address}
        state.recent_orders.append(
            OrderRef(order_id, customer, tuple(p.sku for p, _ in lines), tuple(p.name for p, _ in lines))
        )
        return data


class StockAlertMaker:
    """inventory.stock.low: an alert for a SKU at a warehouse at or below its threshold."""

    def __init__(self, schema: SchemaFile, state: DomainState) -> None:
        top = _fields(schema.document)
        self.has_reorder = "reorder_point" in top
        self.has_supplier = "supplier" in top
        self.supplier_keys = tuple(_sub_fields(schema.document, top.get("supplier")))

    def __call__(self, ctx: GenContext) -> dict[str, Any]:
        rng = ctx.rng
        threshold = pick(rng, (5, 10, 10, 15, 20, 25, 50))
        return self.make(
            ctx,
            sku=ctx.pools.pick_product(rng).sku,
            warehouse=pick(rng, ctx.pools.warehouses),
            on_hand=rng.randint(0, threshold),
            threshold=threshold,
        )

    def make(
        self, ctx: GenContext, *, sku: str, warehouse: str, on_hand: int, threshold: int
    ) -> dict[str, Any]:
        rng = ctx.rng
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
        if self.has_supplier and rng.random() < 0.9:
            pools = ctx.pools
            supplier = pools.suppliers[int(sku[4:]) % len(pools.suppliers)]  # a SKU keeps its supplier
            full = {"supplier_id": supplier, "lead_time_days": 2 + int(sku[4:]) % 19}
            data["supplier"] = {k: full[k] for k in self.supplier_keys if k in full}
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

    def __call__(self, ctx: GenContext) -> dict[str, Any]:
        recent = self.state.recent_orders
        if recent:
            order = recent[ctx.rng.randrange(len(recent))]
        else:
            product = ctx.pools.pick_product(ctx.rng)
            order = OrderRef(
                f"ORD-{ctx.rng.randint(10_000_000, 99_999_999):08d}",
                pick(ctx.rng, ctx.pools.customers),
                (product.sku,),
                (product.name,),
            )
        return self.make(ctx, order)

    def make(self, ctx: GenContext, order: OrderRef) -> dict[str, Any]:
        rng = ctx.rng
        category = pick(rng, self.categories)
        product = pick(rng, order.product_names) if order.product_names else "item"
        templates = ctx.pools.complaint_templates.get(category) or ("Problem with order {order}.",)
        text = pick(rng, templates).format(order=order.order_id, product=product)
        customer = order.customer
        full_customer = {"customer_id": customer.customer_id, "name": customer.name, "email": customer.email}
        data: dict[str, Any] = {
            "complaint_id": ctx.uuid(),
            "order_id": order.order_id,
            "customer": {k: full_customer[k] for k in self.customer_keys if k in full_customer},
            "channel": pick(rng, self.channels),
            "category": category,
            "text": text[: self.max_text],
            "filed_at": ctx.now_rfc3339(),
        }
        if self.has_severity:
            choices = tuple(s for s in _SEVERITY.get(category, ()) if s in self.severities) or self.severities
            if choices:
                data["severity"] = pick(rng, choices)
        if self.has_attachments and category in ("damaged_item", "wrong_item"):
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
