"""Re-record tests/unit/data/registry_recorded.json: the registry answers and the message bytes of the mixed
sample DLQ (tests/schema_samples.py), made by confluent-kafka's serializers through the registry stand-in.
Run: .venv/bin/python -m tests.record_registry"""
from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.registry_standin import RegistryStandIn
from tests.schema_samples import sample_messages

OUT = Path(__file__).parent / "unit" / "data" / "registry_recorded.json"


def main() -> None:
    reg = RegistryStandIn().start()
    try:
        msgs = sample_messages(reg.url, "orders.DLT")
        answers = {}
        paths = [f"/schemas/ids/{i}" for i in reg.schemas] + [f"/schemas/ids/{i}/versions" for i in reg.schemas]
        paths += [f"/schemas/guids/{s['guid']}" for s in reg.schemas.values()]
        paths += [f"/subjects/{sub}/versions/{n + 1}" for sub, ids in reg.subjects.items() for n in range(len(ids))]
        for p in paths:
            answers[p] = requests.get(reg.url + p, params={"format": "serialized"}, timeout=5).json()
        doc = {"answers": answers,
               "messages": [{"label": label, "key": k.hex() if k else None, "value": v.hex(),
                             "headers": [[h, b.hex()] for h, b in hs]} for label, k, v, hs, _ in msgs]}
        OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"wrote {OUT}")
    finally:
        reg.stop()


if __name__ == "__main__":
    main()
