from __future__ import annotations

from evtool.consumer.decisions import decide, reorder_for, score_order, triage_complaint


def _order(total_minor: int, *, new: bool = False, ship_country: str | None = None) -> dict[str, object]:
    order: dict[str, object] = {
        "total_minor": total_minor,
        "customer": {"country": "DE", "is_new_customer": new},
        "lines": [{"sku": "SKU-00001", "quantity": 1, "unit_price_minor": total_minor}],
    }
    if ship_country:
        order["shipping_address"] = {"country": ship_country}
    return order


def test_fraud_score_rises_with_risk_features() -> None:
    low = score_order(_order(2_000))
    risky = score_order(_order(250_000, new=True, ship_country="NG"))
    assert low.action == "approve"
    assert risky.score > low.score
    assert risky.action in {"review", "block"}
    assert "new customer" in risky.reasons
    assert "shipping country differs from customer country" in risky.reasons


def test_reorder_covers_the_gap_and_lead_time() -> None:
    decision = reorder_for(
        {
            "sku": "SKU-1",
            "warehouse_id": "WH-A",
            "on_hand": 0,
            "threshold": 14,
            "reorder_point": 40,
            "supplier": {"lead_time_days": 7},
        }
    )
    assert decision.quantity == 40 + 14  # gap to the reorder point, plus 2/day x 7 days
    assert decision.urgency == "expedite"
    calm = reorder_for({"sku": "SKU-1", "warehouse_id": "WH-A", "on_hand": 12, "threshold": 14})
    assert calm.urgency == "normal"


def test_complaint_triage_reads_the_text() -> None:
    triage = triage_complaint({"category": "other", "text": "I was charged twice, this is unacceptable"})
    assert triage.category == "billing"
    assert triage.queue == "payments"
    assert triage.urgency == "high"
    calm = triage_complaint({"category": "late_delivery", "text": "parcel is a bit delayed"})
    assert (calm.category, calm.urgency) == ("late_delivery", "low")


def test_decide_routes_by_event_type() -> None:
    assert decide("commerce.order.placed", _order(100))[0] == "ai.decision.fraud-score"
    assert decide("inventory.stock.low", {"on_hand": 1, "threshold": 5})[0] == "ai.decision.reorder"
    assert decide("support.complaint.filed", {"text": "broken"})[0] == "ai.decision.complaint-triage"
