-- Inhibition (alerts.inhibit): names of the inhibit rules muting an alert at the last evaluation
-- (JSON list), NULL when none. Inhibited alerts are shown as such and send nothing.
ALTER TABLE alert_state ADD COLUMN inhibited_by TEXT;
