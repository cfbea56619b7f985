"""Value pools that Faker fills once per generator, so streaming never calls Faker per event.

Faker costs tens of microseconds a value; drawing from pools built once with a seeded Faker keeps
values realistic and locale-aware while events stream at hundreds of thousands a second.
Everything here is derived from the seed: same seed and locale, same pools.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from itertools import accumulate

from faker import Faker

from evtool.errors import UsageError


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int  # digits after the decimal point: 2 for cents, 0 for yen
    per_usd: float  # rough rate so prices look plausible in every currency


_CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", 2, 1.0),
        Currency("EUR", 2, 0.92),
        Currency("GBP", 2, 0.79),
        Currency("JPY", 0, 150.0),
        Currency("CHF", 2, 0.9),
        Currency("CAD", 2, 1.36),
        Currency("AUD", 2, 1.5),
        Currency("INR", 2, 83.0),
        Currency("BRL", 2, 5.0),
        Currency("SEK", 2, 10.5),
        Currency("NOK", 2, 10.6),
        Currency("DKK", 2, 6.9),
        Currency("PLN", 2, 4.0),
        Currency("CZK", 2, 23.0),
        Currency("CNY", 2, 7.2),
        Currency("MXN", 2, 17.0),
        Currency("KRW", 0, 1350.0),
        Currency("TRY", 2, 32.0),
        Currency("NZD", 2, 1.65),
    )
}
_EURO = (
    "AT",
    "BE",
    "DE",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "NL",
    "PT",
    "SI",
    "SK",
)
_COUNTRY_CURRENCY: dict[str, str] = {
    **dict.fromkeys(_EURO, "EUR"),
    "US": "USD", "GB": "GBP", "JP": "JPY", "CH": "CHF", "CA": "CAD", "AU": "AUD", "IN": "INR",
    "BR": "BRL", "SE": "SEK", "NO": "NOK", "DK": "DKK", "PL": "PLN", "CZ": "CZK", "CN": "CNY",
    "MX": "MXN", "KR": "KRW", "TR": "TRY", "NZ": "NZD",
}  # fmt: skip

_ADJECTIVES = (
    "Classic",
    "Compact",
    "Eco",
    "Pro",
    "Ultra",
    "Everyday",
    "Premium",
    "Travel",
    "Smart",
    "Organic",
)
_NOUNS: tuple[tuple[str, float], ...] = (
    ("Backpack", 49.0), ("Water Bottle", 19.0), ("Desk Lamp", 35.0), ("Headphones", 89.0),
    ("Coffee Grinder", 59.0), ("Yoga Mat", 29.0), ("Phone Case", 15.0), ("Notebook", 6.5),
    ("Running Shoes", 110.0), ("Blender", 75.0), ("Office Chair", 189.0), ("Kettle", 39.0),
    ("T-Shirt", 18.0), ("Sunglasses", 65.0), ("USB-C Charger", 25.0), ("Cookware Set", 149.0),
)  # fmt: skip
_POPULARITY_TABLE = 8192
# Coupon code -> percent off the lines' sum (the order's total is what is left).
COUPON_PERCENT: dict[str, int] = {"WELCOME10": 10, "SPRING15": 15, "VIP20": 20, "SAVE5": 5, "BUNDLE25": 25}
_COUPONS = tuple(COUPON_PERCENT)
# Reserved for documentation and examples (RFC 2606): never a real person's mailbox or site.
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
# Customers abroad: a shop sells to a few neighbouring countries besides its own.
_ABROAD = ("en_GB", "de_DE", "fr_FR", "en_CA", "nl_NL", "es_ES", "it_IT", "en_IE")
_ABROAD_SHARE = 0.15
COMPLAINT_CATEGORIES = ("late_delivery", "damaged_item", "wrong_item", "billing", "other")
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
# Complaint texts by category, each with the least time since the order it can be written after
# (a parcel cannot be "a week late" twelve seconds after the order was placed).
COMPLAINT_TEXTS: dict[str, tuple[tuple[int, str], ...]] = {
    "late_delivery": (
        (3 * _DAY_MS, "Order {order} was promised for Tuesday and still has not arrived."),
        (5 * _DAY_MS, "Tracking for {order} has not moved in four days. Where is my {product}?"),
        (9 * _DAY_MS, "I needed the {product} for a trip; order {order} came a week late."),
        (0, "Order {order} still shows no shipping date; will the {product} arrive this week?"),
    ),
    "damaged_item": (
        (_DAY_MS, "The {product} in order {order} arrived with a cracked casing."),
        (_DAY_MS, "Box was crushed and the {product} is scratched (order {order})."),
    ),
    "wrong_item": (
        (_DAY_MS, "I ordered a {product} but received something else in {order}."),
        (_DAY_MS, "Order {order} contained the wrong colour of {product}."),
    ),
    "billing": (
        (0, "I was charged twice for order {order}."),
        (0, "The coupon was not applied to {order}; please refund the difference."),
    ),
    "other": (
        (0, "Please cancel the remaining items of order {order}."),
        (0, "Can I still change the delivery address of order {order}?"),
        (_DAY_MS, "How do I return the {product} from order {order}?"),
    ),
}
_COMPLAINTS: dict[str, tuple[str, ...]] = {
    category: tuple(text for _, text in texts) for category, texts in COMPLAINT_TEXTS.items()
}


def complaint_texts(category: str, elapsed_ms: int | None) -> tuple[str, ...]:
    """The texts of ``category`` that fit ``elapsed_ms`` since the order (None: any, the order
    is older than the stream); empty when none fits yet."""
    texts = COMPLAINT_TEXTS.get(category, ())
    if elapsed_ms is None:
        return tuple(t for _, t in texts)
    return tuple(t for least, t in texts if elapsed_ms >= least)


def currency_for(country: str) -> Currency:
    return _CURRENCIES[_COUNTRY_CURRENCY.get(country, "USD")]


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters/digits of `text` (for e-mail local parts); empty if none survive."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in folded.lower() if c.isalnum())


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    first_name: str
    last_name: str
    name: str
    email: str
    phone: str
    street: str
    city: str
    postal_code: str
    country: str


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price_minor: int  # stable for the whole stream, in the pool's currency


@dataclass(frozen=True, slots=True)
class Pools:
    locale: str
    country: str
    currency: Currency
    customers: tuple[Customer, ...]
    products: tuple[Product, ...]
    product_weights: tuple[float, ...]  # cumulative, Zipf-like: a few SKUs sell most
    popular: tuple[Product, ...]  # products repeated by weight: one index draws by popularity
    warehouses: tuple[str, ...]
    suppliers: tuple[str, ...]
    coupons: tuple[str, ...]
    sentences: tuple[str, ...]
    words: tuple[str, ...]
    urls: tuple[str, ...]
    companies: tuple[str, ...]
    complaint_templates: dict[str, tuple[str, ...]]

    def pick_product(self, rng: random.Random) -> Product:
        popular = self.popular
        return popular[int(rng.random() * len(popular))]


def build_pools(seed: int, locale: str = "en_US", *, customers: int = 1000, products: int = 200) -> Pools:
    """Fill every pool once from a Faker seeded with `seed`; UsageError for an unknown locale."""
    try:
        fake = Faker(locale)
    except AttributeError:
        raise UsageError(
            f"unknown locale {locale!r}", hint="use a Faker locale such as en_US, de_DE, fr_FR, ja_JP"
        ) from None
    fake.seed_instance(seed)
    rng = random.Random(seed ^ 0x5EED)
    country = fake.current_country_code()
    currency = currency_for(country)
    romanized = hasattr(fake, "first_romanized_name")

    people: list[Customer] = []
    ids = rng.sample(range(100000, 999999), customers)
    abroad = [code for code in _ABROAD if code != locale]
    foreign = [Faker(code) for code in rng.sample(abroad, 3)]
    for other in foreign:
        other.seed_instance(rng.getrandbits(32))
    for index, number in enumerate(ids):
        who = foreign[index % len(foreign)] if rng.random() < _ABROAD_SHARE else fake
        first, last = who.first_name(), who.last_name()
        named = romanized and who is fake
        local_first = ascii_slug(fake.first_romanized_name() if named else first)
        local_last = ascii_slug(fake.last_romanized_name() if named else last)
        local = ".".join(p for p in (local_first, local_last) if p) or f"customer{number}"
        if index % 3 == 0:
            local += str(rng.randint(1, 99))
        people.append(
            Customer(
                customer_id=f"CUST-{number:06d}",
                first_name=first,
                last_name=last,
                name=f"{last} {first}" if locale.startswith(("ja", "zh", "ko")) else f"{first} {last}",
                email=f"{local}@{rng.choice(EXAMPLE_DOMAINS)}",
                phone=who.phone_number(),
                street=who.street_address(),
                city=who.city(),
                postal_code=who.postcode(),
                country=country if who is fake else who.current_country_code(),
            )
        )

    catalogue: list[Product] = []
    for number in sorted(rng.sample(range(10000, 99999), products)):
        noun, usd = rng.choice(_NOUNS)
        adjective = rng.choice(_ADJECTIVES)
        major = usd * rng.uniform(0.7, 1.5) * currency.per_usd
        minor = round(major * 10**currency.exponent)
        if currency.exponent == 2:
            minor = max(99, minor - minor % 100 + 99)  # prices end in .99
        catalogue.append(Product(f"SKU-{number:05d}", f"{adjective} {noun}", max(1, minor)))
    rng.shuffle(catalogue)  # popularity rank independent of SKU number
    weights = list(accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(catalogue))))

    warehouses: list[str] = []
    while len(warehouses) < 6:
        letters = ascii_slug(fake.city()).upper()[:3]
        if len(letters) < 3 or not letters.isalpha():
            letters = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=3))
        code = f"WH-{letters}-{rng.randint(1, 99):02d}"
        if code not in warehouses:
            warehouses.append(code)

    return Pools(
        locale=locale,
        country=country,
        currency=currency,
        customers=tuple(people),
        products=tuple(catalogue),
        product_weights=tuple(weights),
        popular=tuple(rng.choices(catalogue, cum_weights=weights, k=_POPULARITY_TABLE)),
        warehouses=tuple(warehouses),
        suppliers=tuple(f"SUP-{n:04d}" for n in rng.sample(range(1000, 9999), 20)),
        coupons=_COUPONS,
        sentences=tuple(fake.sentence(nb_words=rng.randint(6, 14)) for _ in range(300)),
        words=tuple(dict.fromkeys(fake.word() for _ in range(400))),
        urls=tuple(f"https://www.{rng.choice(EXAMPLE_DOMAINS)}/{fake.uri_path()}" for _ in range(100)),
        companies=tuple(fake.company() for _ in range(50)),
        complaint_templates=_COMPLAINTS,
    )
