-- Issue #23: the last time a dashboard session was used, for the idle timeout (dashboard.idle_timeout_s).
ALTER TABLE dashboard_sessions ADD COLUMN seen_ms bigint;
