"""Realistic values every generator draws from: the seeded context, entity pools, field-name hints.

Below both the schema formats (which generate data for a schema) and the event generators (which
wrap it in envelopes), so a format's generator and a domain generator share one source of realism.
"""
