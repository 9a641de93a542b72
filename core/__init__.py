"""The vocabulary every part of Eventdeck shares: the clock, status and state codes, target ids,
metric and label name rules, the metric catalogue (``core.metrics``), the timestamp formatter
(``core.times``), the page list and link keys (``core.links``), the lag clamp. Imports nothing of the
project, so the store, the collectors, the alerts, the DLQ code and the pages can all import it without
reaching sideways."""
