"""The real Kafka brokers (tests/support/kafka_broker.py) for the delivery audit's tests."""

from tests.support.kafka_broker import kafka_broker, own_kafka_broker

__all__ = ["kafka_broker", "own_kafka_broker"]
