"""Time handler calls and count outcomes into a per-interval sketch (thread-safe, cheap).

    rec = Recorder("payment", broker="kafka", cluster="shop")
    @rec.timed
    def handle(record): ...
    with rec.time():        # or around any block
        ...

The publisher calls :meth:`Recorder.swap` every interval to take the finished window.
"""
from __future__ import annotations

import functools
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable, TypeVar

from instrument.clock import wall_ms
from instrument.sketch import new_sketch
from instrument.summary import BROKERS, Summary

F = TypeVar("F", bound=Callable[..., Any])



def exception_name(exc_type: type[BaseException]) -> str:
    """``module.QualName`` of an exception class; builtins are shown bare (``ValueError``)."""
    mod = exc_type.__module__
    return exc_type.__qualname__ if mod == "builtins" else f"{mod}.{exc_type.__qualname__}"


def instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Timer:
    __slots__ = ("_rec", "_t0")

    def __init__(self, rec: "Recorder") -> None:
        self._rec = rec

    def __enter__(self) -> "_Timer":
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        self._rec.record(time.perf_counter() - self._t0,
                         None if exc_type is None else exception_name(exc_type))


class Recorder:
    """Accumulates durations and failures of one consumer instance for the current window."""

    def __init__(self, consumer: str, broker: str, cluster: str = "", relative_accuracy: float = 0.01,
                 clock_ms: Callable[[], int] = wall_ms, instance: str | None = None) -> None:
        if not consumer:
            raise ValueError("Recorder: consumer name is empty")
        if broker not in BROKERS:
            raise ValueError(f"Recorder: broker must be one of {BROKERS}, got {broker!r}")
        self.consumer, self.broker, self.cluster = consumer, broker, cluster
        self.instance = instance or instance_id()
        self._ra = relative_accuracy
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._start_ms = clock_ms()
        self._sketch = new_sketch(relative_accuracy)
        self._errors: dict[str, int] = {}

    def record(self, seconds: float, error: str | None = None) -> None:
        """Count one handled call that took ``seconds``; ``error`` is the exception name if it failed."""
        with self._lock:
            self._sketch.add(seconds if seconds > 0.0 else 0.0)
            if error is not None:
                self._errors[error] = self._errors.get(error, 0) + 1

    def time(self) -> _Timer:
        """Context manager timing its block; an exception leaving it is counted as a failure."""
        return _Timer(self)

    def timed(self, fn: F) -> F:
        """Decorator timing every call of ``fn``; exceptions are counted and re-raised."""
        record, clock = self.record, time.perf_counter

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                record(clock() - t0, exception_name(type(exc)))
                raise
            record(clock() - t0)
            return result
        return wrapper  # type: ignore[return-value]

    def swap(self, dropped: int = 0) -> Summary:
        """Close the current window and return it; a fresh window starts now."""
        fresh = new_sketch(self._ra)
        now = self._clock_ms()
        with self._lock:
            sketch, errors, start = self._sketch, self._errors, self._start_ms
            self._sketch, self._errors, self._start_ms = fresh, {}, now
        return Summary(consumer=self.consumer, instance=self.instance, broker=self.broker,
                       cluster=self.cluster, start_ms=start, end_ms=max(now, start),
                       sketch=sketch, errors=errors, dropped=dropped)
