-- What a state was computed from (metric, selector, aggregation, by): after a rule edit, a group the
-- rule no longer selects is resolved instead of being held as "no data".
ALTER TABLE alert_state ADD COLUMN identity TEXT;
