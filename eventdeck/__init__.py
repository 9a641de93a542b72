"""The ``eventdeck`` command: one entry point for the collector service, the dashboard, the demo,
DLQ tools, config checks, the local test brokers and store migrations (see ``eventdeck --help``)."""
