"""Sensible values from a field's name when the schema says no more than its type.

`email` gets an e-mail address, `city` a city, `unit_price` a price: a user's own schema gives
realistic events without code. Callers check the value against the schema's constraints and
fall back to plain generation when a hint does not fit.
"""

from __future__ import annotations

from collections.abc import Callable

from evtool.values.context import GenContext
from evtool.values.pools import Customer

Hint = Callable[[GenContext], object]


def _normalize(name: str) -> str:
    out: list[str] = []
    for i, char in enumerate(name):
        if char.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out).replace("-", "_")


def _customer(ctx: GenContext) -> Customer:
    return ctx.rng.choice(ctx.pools.customers)


def string_hint(name: str) -> Hint | None:
    n = _normalize(name)
    c = _customer
    table: tuple[tuple[Callable[[str], bool], Hint], ...] = (
        (lambda s: "email" in s, lambda x: c(x).email),
        (lambda s: s in ("first_name", "given_name", "firstname"), lambda x: c(x).first_name),
        (lambda s: s in ("last_name", "family_name", "surname", "lastname"), lambda x: c(x).last_name),
        (lambda s: "product" in s and s.endswith("name"), lambda x: x.pools.pick_product(x.rng).name),
        (lambda s: s.startswith(("company", "supplier", "vendor")) and s.endswith("name"),
         lambda x: x.rng.choice(x.pools.companies)),
        (lambda s: s == "name" or s.endswith("_name") or s in ("full_name", "fullname"),
         lambda x: c(x).name),
        (lambda s: "phone" in s or s == "mobile", lambda x: c(x).phone),
        (lambda s: s in ("city", "town") or s.endswith("_city"), lambda x: c(x).city),
        (lambda s: "street" in s or s in ("address", "address_line1", "line1"), lambda x: c(x).street),
        (lambda s: "postal" in s or "postcode" in s or "zip" in s, lambda x: c(x).postal_code),
        (lambda s: s == "country" or s.endswith(("country", "country_code")), lambda x: x.pools.country),
        (lambda s: s == "currency" or s.endswith("currency"), lambda x: x.pools.currency.code),
        (lambda s: s == "sku" or s.endswith("_sku"), lambda x: x.pools.pick_product(x.rng).sku),
        (lambda s: "warehouse" in s, lambda x: x.rng.choice(x.pools.warehouses)),
        (lambda s: "supplier" in s and s.endswith("id"), lambda x: x.rng.choice(x.pools.suppliers)),
        (lambda s: s.endswith(("url", "uri", "link", "website")), lambda x: x.rng.choice(x.pools.urls)),
        (lambda s: "coupon" in s or "promo" in s, lambda x: x.rng.choice(x.pools.coupons)),
        (lambda s: s in ("customer_id", "user_id", "client_id"), lambda x: c(x).customer_id),
        (lambda s: s == "order_id", lambda x: f"ORD-{x.rng.randint(10000000, 99999999)}"),
        (lambda s: s == "id" or s.endswith(("_id", "uuid")), lambda x: x.uuid()),
        (lambda s: s in ("description", "text", "comment", "message", "body", "notes", "note", "reason"),
         lambda x: x.rng.choice(x.pools.sentences)),
        (lambda s: s in ("title", "subject", "summary", "headline"),
         lambda x: x.rng.choice(x.pools.sentences).rstrip(".")),
    )  # fmt: skip
    for matches, hint in table:
        if matches(n):
            return hint
    return None


def number_hint(name: str, *, integer: bool) -> Hint | None:
    n = _normalize(name)
    if any(k in n for k in ("price", "amount", "total", "cost", "subtotal", "revenue", "balance")):
        if integer or "minor" in n or "cents" in n:
            return lambda x: x.pools.pick_product(x.rng).price_minor
        return lambda x: round(
            x.pools.pick_product(x.rng).price_minor / 10**x.pools.currency.exponent,
            x.pools.currency.exponent,
        )
    if n in ("quantity", "qty", "count", "units", "items") or n.endswith(("_quantity", "_qty", "_count")):
        return lambda x: x.rng.choice((1, 1, 1, 2, 2, 3, 4, 5))
    if n == "age" or n.endswith("_age"):
        return lambda x: x.rng.randint(18, 90)
    if "rating" in n or "stars" in n:
        return lambda x: x.rng.randint(1, 5)
    if "percent" in n or n.endswith("_pct"):
        return lambda x: x.rng.randint(0, 100) if integer else round(x.rng.uniform(0, 100), 1)
    if n in ("lat", "latitude"):
        return lambda x: round(x.rng.uniform(-90, 90), 6)
    if n in ("lon", "lng", "longitude"):
        return lambda x: round(x.rng.uniform(-180, 180), 6)
    if n == "year" or n.endswith("_year"):
        return lambda x: x.rng.randint(1990, 2030)
    if n.endswith(("_days", "_hours", "_minutes")):
        return lambda x: x.rng.randint(1, 30)
    return None
