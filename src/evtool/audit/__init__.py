"""The delivery audit: what the pipeline really holds (events topic, results) against what the run sent.

`audit_run` computes a `DeliveryAudit` (plain data, `evtool.results.delivery`), which the CLI
prints, writes to the run directory as `audit.json` and turns into the exit code.
"""

from evtool.audit.run import audit_run
from evtool.results.delivery import Delivery, DeliveryAudit

__all__ = ["Delivery", "DeliveryAudit", "audit_run"]
