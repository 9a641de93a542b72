"""bench.verdict: the direction of a target decides MET/MISSED; the table lists every row."""
import pytest

from bench import verdict


@pytest.mark.parametrize("measured,target,higher,met", [
    (1.9, 2.0, False, True), (2.0, 2.0, False, True), (2.1, 2.0, False, False),
    (10_500, 10_000, True, True), (9_999, 10_000, True, False), (0.5, 0.5, True, True),
])
def test_direction_decides_the_verdict(measured, target, higher, met):
    assert verdict.Row("x", measured, target, "s", higher).met is met


def test_report_prints_and_keeps_rows(capsys, monkeypatch):
    monkeypatch.setattr(verdict, "ROWS", [])
    verdict.report("Kafka cycle, 50k group-partitions", 3.7, 2.0, "s", higher_is_better=False)
    verdict.report("store ingest", 400_000, 350_000, "samples/s", higher_is_better=True)
    out = capsys.readouterr().out
    assert "3.7 s (target ≤ 2 s) MISSED" in out
    assert "400,000 samples/s (target ≥ 350,000 samples/s) MET" in out
    table = verdict.table().splitlines()
    assert len(table) == 3 and "MISSED" in table[1] and "MET" in table[2]
