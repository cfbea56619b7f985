"""The decisions the reference consumer makes: small, explainable models with no download.

Each is a pure function of one event's data, so tests can check the decision itself and the
service around it only adds queueing, workers and the result event.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FraudScore:
    score: float  # 0..1, probability-like
    action: str  # approve | review | block
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class ReorderDecision:
    sku: str
    warehouse_id: str
    quantity: int
    urgency: str  # normal | expedite


@dataclass(frozen=True, slots=True)
class ComplaintTriage:
    category: str
    urgency: str  # low | medium | high | critical
    queue: str
    matched: list[str]


def score_order(data: dict[str, Any]) -> FraudScore:
    """Logistic score over order features a fraud team would start with."""
    total = float(data.get("total_minor", 0)) / 100.0
    customer = data.get("customer") or {}
    lines = data.get("lines") or []
    reasons: list[str] = []
    logit = -4.0 + 0.9 * math.log1p(total / 50.0)
    if total > 1000:
        reasons.append("high amount")
    if customer.get("is_new_customer"):
        logit += 1.2
        reasons.append("new customer")
    shipping = data.get("shipping_address")
    ship_country = shipping.get("country") if isinstance(shipping, dict) else None
    if ship_country and ship_country != customer.get("country"):
        logit += 1.6
        reasons.append("shipping country differs from customer country")
    quantity = sum(int(line.get("quantity", 0)) for line in lines if isinstance(line, dict))
    if quantity > 10:
        logit += 0.8
        reasons.append("many units")
    if data.get("coupon_code"):
        logit += 0.3
    score = 1.0 / (1.0 + math.exp(-logit))
    action = "block" if score >= 0.8 else "review" if score >= 0.4 else "approve"
    return FraudScore(round(score, 4), action, reasons)


def reorder_for(data: dict[str, Any]) -> ReorderDecision:
    """Order enough to get back above the reorder point plus cover the supplier's lead time."""
    on_hand = int(data.get("on_hand", 0))
    threshold = int(data.get("threshold", 0))
    reorder_point = int(data.get("reorder_point", threshold * 2 or 10))
    supplier = data.get("supplier") or {}
    lead_days = int(supplier.get("lead_time_days", 7)) if isinstance(supplier, dict) else 7
    daily_demand = max(1.0, threshold / 7.0)
    quantity = max(1, reorder_point - on_hand + math.ceil(daily_demand * lead_days))
    urgency = "expedite" if on_hand == 0 or on_hand < threshold / 2 else "normal"
    return ReorderDecision(
        sku=str(data.get("sku", "")),
        warehouse_id=str(data.get("warehouse_id", "")),
        quantity=quantity,
        urgency=urgency,
    )


_KEYWORDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("billing", "payments", ("charged twice", "double charge", "refund", "overcharged", "invoice")),
    ("damaged_item", "returns", ("broken", "damaged", "cracked", "smashed", "defective")),
    ("wrong_item", "returns", ("wrong item", "wrong size", "not what i ordered", "different product")),
    ("late_delivery", "logistics", ("late", "delayed", "still waiting", "not arrived", "never arrived")),
)
_ESCALATION = re.compile(r"\b(lawyer|legal|fraud|unacceptable|cancel my account|chargeback)\b", re.IGNORECASE)


def triage_complaint(data: dict[str, Any]) -> ComplaintTriage:
    """Keyword triage: category from the text (else the form's), urgency from tone and severity."""
    text = str(data.get("text", "")).lower()
    category = str(data.get("category", "other"))
    queue = "general"
    matched: list[str] = []
    for candidate, candidate_queue, words in _KEYWORDS:
        hits = [w for w in words if w in text]
        if hits:
            category, queue, matched = candidate, candidate_queue, hits
            break
    severity = data.get("severity")
    escalations = _ESCALATION.findall(text)
    if severity == "critical" or len(escalations) >= 2:
        urgency = "critical"
    elif severity == "high" or escalations:
        urgency = "high"
    elif category in ("billing", "damaged_item"):
        urgency = "medium"
    else:
        urgency = "low"
    return ComplaintTriage(category, urgency, queue, matched + [e.lower() for e in escalations])


def decide(event_type: str, data: Any) -> tuple[str, dict[str, Any]]:
    """(result event type, decision) for an event of `event_type`."""
    payload = data if isinstance(data, dict) else {}
    if "order" in event_type:
        return "ai.decision.fraud-score", asdict(score_order(payload))
    if "inventory" in event_type or "stock" in event_type:
        return "ai.decision.reorder", asdict(reorder_for(payload))
    if "complaint" in event_type:
        return "ai.decision.complaint-triage", asdict(triage_complaint(payload))
    return "ai.decision.acknowledged", {"note": f"no model for {event_type}"}
