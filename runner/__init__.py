"""The contract collector jobs run under: job specs and back-off (``runner.jobs``), the one contract
every collector cycle runs under (``runner.collect``), target leases between collector processes
(``runner.leases``) and the ``/metrics`` exporter (``runner.prometheus``). The service that schedules
them is built above the collectors, by ``eventdeck.service``."""
