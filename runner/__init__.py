"""The job runner of the collector service: job specs and back-off (``runner.jobs``), the one
contract every collector cycle runs under (``runner.collect``) and the scheduler service that
runs them all (``runner.service``)."""
