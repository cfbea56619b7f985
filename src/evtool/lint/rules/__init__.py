"""The rule catalogue: every `Rule` subclass in these modules is a rule (see lint/rule.py)."""
