"""DLQ browse and replay for Kafka and RabbitMQ.

Pure: ``headers`` (Spring / Connect / x-death / Eventdeck header decoding), ``payload`` (display),
``targets`` (where a message goes back to), ``plan`` (selection, replay ids, loop guard, pacing).
I/O: ``kafka_io``, ``rabbit_io`` (reading and browse), ``kafka_replay``, ``rabbit_replay`` (replay
execution; ``rabbit_window`` is the pure window bookkeeping), ``jobs`` (the runner the collector
service schedules), ``api`` (what the dashboard calls), ``python -m dlq`` (the same from a shell).
"""
