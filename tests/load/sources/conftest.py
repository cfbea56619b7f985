"""The real Kafka broker (tests/support/kafka_broker.py) for the Kafka result source's tests."""

from tests.support.kafka_broker import kafka_broker

__all__ = ["kafka_broker"]
