"""Name matching shared by the collectors and the DLQ code: allow/deny lists and DLQ name patterns
(shell globs, case-sensitive, as `fnmatch.fnmatchcase`)."""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable, Iterator


def _any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def allowed(name: str, allow: Iterable[str], deny: Iterable[str]) -> bool:
    """True when ``name`` matches some ``allow`` pattern and no ``deny`` pattern (deny wins)."""
    return _any(name, allow) and not _any(name, deny)


def is_dlq(name: str, patterns: Iterable[str], exclude: Iterable[str] = ()) -> bool:
    """True when ``name`` matches a DLQ pattern and no ``exclude`` pattern (exclude wins)."""
    return _any(name, patterns) and not _any(name, exclude)


def convention_sources(name: str, patterns: Iterable[str]) -> Iterator[str]:
    """Source names a DLQ name implies, in pattern order: the non-empty part a pattern's single ``*``
    matched (``orders.dlq`` with ``*.dlq`` → ``orders``). Patterns with other wildcards or several
    ``*`` cannot be inverted and are passed over."""
    for pat in patterns:
        if pat.count("*") != 1 or "?" in pat or "[" in pat:
            continue
        prefix, suffix = pat.split("*")
        if len(name) > len(prefix) + len(suffix) and name.startswith(prefix) and name.endswith(suffix):
            yield name[len(prefix):len(name) - len(suffix)]


def convention_source(name: str, patterns: Iterable[str]) -> str | None:
    """The source a DLQ name implies (``orders.dlq`` → ``orders``) by the first invertible pattern,
    or None. The collectors link DLQs to sources and replay picks targets by this one rule."""
    return next(convention_sources(name, patterns), None)
