-- Finding whether an incident was announced (before sending its resolved notice).
CREATE INDEX IF NOT EXISTS alert_outbox_by_rule ON alert_outbox(rule, created_ms);
