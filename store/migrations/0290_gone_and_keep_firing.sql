-- Gone entities and keep_firing_for (issue 29).
-- interval_ms: the target's collection interval, so "absent from its last N successful cycles" can be
-- told from last_ok_ms (a series whose last sample is older than that is gone; see store.liveness).
ALTER TABLE collector_status ADD COLUMN interval_ms INTEGER;
-- clear_since_ms: when a firing alert's condition stopped holding (keep_firing_for holds it meanwhile).
ALTER TABLE alert_state ADD COLUMN clear_since_ms INTEGER;
