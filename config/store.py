"""Settings of the time-series store: a SQLite file (default) or a PostgreSQL database (``url``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, model_validator

from config.base import Section

if TYPE_CHECKING:
    from store.handle import Store


class RetentionConfig(Section):
    # Sealed into compressed chunks raw samples take ~1 B each (bench/store_bench.py): 90 days of
    # raw cost less than the 30 days of 1-minute rollup rows kept before chunks existed.
    raw_hours: float = Field(2160.0, gt=0, description="keep raw samples this long (90 days)")
    rollup_1m_days: float = Field(90.0, gt=0, description="keep 1-minute rollups this long (of sealed windows they are "
                                                          "computed from raw samples, so at most as long as raw)")
    rollup_1h_days: float = Field(730.0, gt=0, description="keep 1-hour rollups this long")


class StoreConfig(Section):
    path: str = Field(".eventdeck/eventdeck.db", min_length=1, description="SQLite file")
    url: str | None = Field(None, pattern=r"^postgres(ql)?://", description="postgresql://user@host:5432/db: the store "
                            "is this PostgreSQL database instead of the SQLite file (password from "
                            "$EVENTDECK_STORE_PASSWORD or the secrets file, never in the URL)")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        None, description="PostgreSQL store: libpq sslmode (default: libpq's 'prefer'; 'verify-full' when ca_file is "
                          "set: TLS, the server's certificate signed by that CA and naming the URL's host)")
    ca_file: str | None = Field(None, min_length=1, description="PostgreSQL store: PEM file of the CA that signed the "
                                "server's certificate (libpq sslrootcert)")
    spool_max_samples: int = Field(200_000, ge=0, description="while the store does not answer (a PostgreSQL "
                                   "restart), each collection target holds at most this many samples in memory and "
                                   "writes them when it answers again; older ones beyond it are dropped and counted "
                                   "(collector_spool_dropped_samples_total)")
    lease_ttl_s: float = Field(0.0, ge=0, description="PostgreSQL store: how long a collector's target lease lasts "
                               "unrenewed (0: 0.6 x the shortest collection interval, so a dead collector's "
                               "targets are collected again within two intervals)")
    retention: RetentionConfig = RetentionConfig()
    checkpoint_interval_s: float = Field(300.0, gt=0, description="WAL checkpoint(TRUNCATE) period")
    retention_interval_s: float = Field(600.0, gt=0, description="how often old samples are pruned")
    seal_interval_s: float = Field(300.0, gt=0, description="how often closed 2 h windows are sealed into "
                                                            "compressed chunks (also converts an older store at start)")

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_url(cls, data: Any) -> Any:
        # On the section, not the field: a field error would echo the URL, password included.
        url = data.get("url") if isinstance(data, dict) else None
        if isinstance(url, str) and (_password_of(url) is not None):
            raise ValueError("url must not hold the password: set $EVENTDECK_STORE_PASSWORD or put it in the "
                             "secrets file ($EVENTDECK_SECRETS_FILE)")
        return data

    @property
    def location(self) -> str:
        """What store.db opens: the PostgreSQL URL when set, else the SQLite path."""
        return self.url or self.path

    @property
    def handle(self) -> "Store":
        """The one store handle every process, page, route and command opens the store through."""
        from store.handle import Store

        options: dict[str, str] = {}
        if self.url:
            if self.ca_file:
                options["sslrootcert"] = self.ca_file
            if self.sslmode or self.ca_file:
                options["sslmode"] = self.sslmode or "verify-full"
        return Store(self.location, options)

def _password_of(url: str) -> str | None:
    """The password a PostgreSQL URL carries: in its user info, or as a ``password``/``sslpassword`` query
    parameter (libpq reads both); None when it holds none (also when it cannot be parsed)."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            return parts.password
        params = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    except ValueError:
        return None
    return next((params[k] for k in ("password", "sslpassword") if k in params), None)
