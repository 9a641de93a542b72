"""How Eventdeck talks to brokers, shared by the collectors and the DLQ code: Kafka client
configuration (with secrets), RabbitMQ credentials and connection parameters, and the naming
conventions (allow/deny lists, DLQ name patterns). ``dlq`` imports this, never ``collectors``."""
