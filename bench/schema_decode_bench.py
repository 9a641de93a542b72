"""Schema decoding of DLQ messages: messages/s per format with a warm schema cache, beside raw browse.

The messages are made by confluent-kafka's own serializers (Avro, Protobuf with a reference and a nested type,
JSON Schema) through the registry stand-in of the tests (an in-process HTTP server); the registry is asked
once per schema id, then every decode is served by the cache. "raw" is what browse does for every message
without a registry: ``dlq.payload.message_view`` (render as JSON / text / hex). "decode" adds the schema
decode of the value (framing, cache hit, Avro/Protobuf/JSON → JSON); "browse row" is the row a schema'd browse
builds (message_view + decode of key and value + the shown JSON).

``python -m bench.schema_decode_bench [--messages N]``
"""
from __future__ import annotations

import argparse
import time

from config.schema_registry import SchemaRegistryConfig
from dlq import schema_view
from dlq.headers import decode_lenient
from dlq.payload import message_view
from dlq.plan import Message
from dlq.schemas import Decoder, SchemaCache
from brokers.schema_registry import RegistryClient


def _rate(n: int, fn) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.schema_decode_bench")
    ap.add_argument("--messages", type=int, default=20_000)
    a = ap.parse_args(argv)
    from tests.registry_standin import RegistryStandIn
    from tests.schema_samples import sample_messages

    reg = RegistryStandIn().start()
    try:
        samples = {label: (k, v, h) for label, k, v, h, _ in sample_messages(reg.url, "bench.DLT")}
        cfg = SchemaRegistryConfig(url=reg.url)
        cache = SchemaCache(cfg, RegistryClient(cfg, "bench"))
        dec = Decoder(cache, budget_s=3600)
        for _, v, h in samples.values():
            dec.decode(v, h)  # warm the cache
        warm_lookups = cache.lookups
        print(f"{a.messages:,} decodes per format, warm cache (registry asked {warm_lookups} times to warm it)")
        print(f"{'format':<18}{'bytes':>7}{'raw msgs/s':>14}{'decode msgs/s':>15}{'browse row msgs/s':>19}"
              f"{'row/raw':>9}")
        for label in ("avro", "avro-header", "protobuf", "protobuf-nested", "json-schema", "plain-json"):
            k, v, h = samples[label]
            decoded, _ = decode_lenient(h)
            msg = Message(coord="0:1", key=k, value=v, ts_ms=0, headers=h, decoded=decoded, partition=0, offset=1)
            raw = _rate(a.messages, lambda: message_view(msg, None, "t", 4096))
            only = _rate(a.messages, lambda: dec.decode(v, h))
            row = _rate(a.messages, lambda: schema_view.annotate(message_view(msg, None, "t", 4096),
                                                                 dec.decode(v, h), dec.decode(k, h, is_key=True)))
            print(f"{label:<18}{len(v):>7}{raw:>14,.0f}{only:>15,.0f}{row:>19,.0f}{row / raw:>9.2f}")
        assert cache.lookups == warm_lookups, "a warm cache must not ask the registry again"
        print(f"registry lookups during the runs: {cache.lookups - warm_lookups}")
    finally:
        reg.stop()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
