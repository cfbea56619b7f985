"""A reference event-driven AI consumer: a known-good system to point evtool at."""
