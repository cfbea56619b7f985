"""The structured-id join (simulate's UUIDv8 ids) and the hash join give the same report.

Runs mix every kind of key the report meets: structured ids of two shards written in
completion order, a replayed event's own UUIDv4, a key two events share, duplicate results
arriving out of order, results for no event (structured and not), lost, late, failed,
dropped and aborted events. Whatever path a key takes, the numbers must be the same, and
they must match a plain Python reference computed from the same records.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from runfixtures import MS, T0, Ev, write_run

from evtool.results.report import build_document, render_json
from evtool.results.runlog import EventIds, IdScheme, Reason, Status, correlation_key, open_run, read_run
from evtool.results.slo import parse_slo, parse_slos
from evtool.results.stats import E2E, compute_stats

COMPARED = ("counts", "reasons", "latency_ms", "by_type", "windows", "distribution", "hdr_histograms",
            "verdict", "notes")


def test_event_ids_are_unique_version_8_uuids_that_are_their_own_key() -> None:
    ids = EventIds(5, nonce=0xFEEDFACECAFEBEEF)
    other = EventIds(6, nonce=0xFEEDFACECAFEBEEF)  # same nonce, another shard: still distinct
    seen = set()
    for source in (ids, other):
        for seq in range(500):
            text, key = source.next()
            parsed = uuid.UUID(text)
            assert parsed.version == 8
            assert parsed.variant == uuid.RFC_4122
            assert key == correlation_key(text) == parsed.bytes
            assert IdScheme.of_key(key) == source.scheme
            assert source.scheme.key(seq) == key
            seen.add(text)
    assert len(seen) == 1000
    assert IdScheme.of_key(uuid.uuid4().bytes) is None


def _mixed_run(tmp_path: Path) -> tuple[Path, list[Ev], list[tuple[str, float]]]:
    rng = random.Random(7)
    shards = [EventIds(0, nonce=11), EventIds(1, nonce=12)]
    per_shard: list[list[Ev]] = [[], []]
    extra: list[tuple[str, float]] = []
    for i in range(400):
        shard = i % 2
        text, _ = shards[shard].next()
        intended = i * 25.0
        roll = rng.random()
        if roll < 0.05:
            ev = Ev(text, intended, status=Status.FAILED, reason=Reason.HTTP_STATUS)
        elif roll < 0.08:
            ev = Ev(text, intended, status=Status.DROPPED, reason=Reason.MAX_IN_FLIGHT)
        elif roll < 0.10:
            ev = Ev(text, intended, status=Status.DROPPED, reason=Reason.CANCELLED)  # aborted, unsent
        elif roll < 0.12:
            ev = Ev(text, intended, status=Status.FAILED, reason=Reason.CANCELLED)  # aborted in flight
        elif roll < 0.17:
            ev = Ev(text, intended)  # no result: lost
        elif roll < 0.20:
            ev = Ev(text, intended, result_ms=[intended + 12_000])  # late: lost
        elif roll < 0.30:
            ev = Ev(text, intended, result_ms=[intended + 400, intended + 150, intended + 900])  # duplicates
        else:
            ev = Ev(text, intended, result_ms=[intended + rng.uniform(50, 2500)],
                    event_type="alert" if i % 3 else "order", version=1 + i % 2)
        per_shard[shard].append(ev)
    # a replayed event keeps its UUIDv4; two events share one structured key; a foreign UUIDv8
    replayed = str(uuid.uuid4())
    per_shard[0].append(Ev(replayed, 50, result_ms=[350]))
    shared_text, _ = shards[0].next()
    per_shard[0].append(Ev(shared_text, 60, result_ms=[500, 260]))
    per_shard[1].append(Ev(shared_text, 70))
    foreign = str(uuid.UUID(int=(uuid.uuid4().int & ~(0xF << 76)) | (0x8 << 76)))
    per_shard[1].append(Ev(foreign, 80, result_ms=[180]))
    # results for no event: a structured id never sent, one beyond the shard, a random value
    unsent, _ = shards[1].next()
    extra += [(unsent, 100.0), (str(uuid.UUID(bytes=shards[0].scheme.key(10**6))), 110.0), ("nobody", 120.0)]
    run = tmp_path / "mixed"
    for shard, events in enumerate(per_shard):
        rng.shuffle(events)  # records are written at completion, not in sequence order
        write_run(run, events, shard=shard, extra_results=extra if shard == 1 else ())
    return run, per_shard[0] + per_shard[1], extra


def _docs(run: Path, **kwargs: Any) -> dict[str, Any]:
    stats = compute_stats([open_run(run)], [run], **kwargs)
    return build_document(stats, parse_slos(None))


def test_structured_and_hash_join_give_identical_reports(tmp_path: Path) -> None:
    run, _, _ = _mixed_run(tmp_path)
    fast = _docs(run)
    slow = _docs(run, structured_ids=False)
    chunked = _docs(run, chunk_records=7)  # chunk edges everywhere, shared keys across chunks
    whole = build_document(compute_stats([read_run(run)], [run], chunk_records=5), parse_slos(None))
    for key in COMPARED:
        assert fast[key] == slow[key], key
        assert fast[key] == chunked[key], key
        assert fast[key] == whole[key], key
    assert render_json(fast) == render_json(slow)


def test_join_matches_a_python_reference(tmp_path: Path) -> None:
    run, events, extra = _mixed_run(tmp_path)
    c = compute_stats([open_run(run)], [run]).counts
    by_key: dict[str, list[Ev]] = {}
    for ev in events:
        by_key.setdefault(ev.key, []).append(ev)
    results = [(ev.key, at) for ev in events for at in ev.result_ms] + list(extra)
    matched = [(k, at) for k, at in results if k in by_key]
    first = {k: min(at for kk, at in matched if kk == k) for k, _ in matched}
    ok = [ev for ev in events if ev.status == Status.OK]
    in_time = [ev for ev in ok if ev.key in first and first[ev.key] - ev.intended_ms <= 10_000]
    aborted = [ev for ev in events if ev.reason == Reason.CANCELLED]
    assert c.scheduled == len(events)
    assert c.ok == len(in_time)
    assert c.lost == len(ok) - len(in_time)
    assert c.aborted == len(aborted)
    assert c.failed == sum(ev.status == Status.FAILED and ev.reason != Reason.CANCELLED for ev in events)
    assert c.dropped == sum(ev.status == Status.DROPPED and ev.reason != Reason.CANCELLED for ev in events)
    assert c.ok + c.failed + c.dropped + c.aborted + c.lost == c.scheduled
    assert c.results == len(results)
    assert c.matched_results == len(matched)
    assert c.unmatched_results == len(results) - len(matched) == 3
    assert c.duplicate_results == len(matched) - len(first)
    assert c.shared_keys == 2
    assert c.late_results == sum(ev.key in first and first[ev.key] - ev.intended_ms > 10_000 for ev in ok)


def test_results_collected_in_another_run_dir_join_by_structured_id(tmp_path: Path) -> None:
    ids = EventIds(0)
    events = [Ev(ids.next()[0], i * 10.0) for i in range(50)]
    sender = write_run(tmp_path / "send", events[::-1])
    collected = write_run(tmp_path / "collect", [],
                          extra_results=[(ev.key, ev.intended_ms + 100 + i) for i, ev in enumerate(events)])
    stats = compute_stats([open_run(sender), open_run(collected)], [sender, collected])
    assert stats.counts.lost == 0
    assert stats.counts.matched_results == 50
    assert stats.distributions[E2E].percentiles_ms["max"] == pytest.approx(149, rel=2e-3)


def test_aborted_events_are_counted_apart_and_everything_adds_up(tmp_path: Path) -> None:
    events = [
        Ev("a", 0, result_ms=[100]),
        Ev("b", 1000, status=Status.FAILED, reason=Reason.TIMEOUT),
        Ev("c", 1500, status=Status.DROPPED, reason=Reason.MAX_IN_FLIGHT),
        Ev("d", 2000),  # acknowledged, no result: lost
        Ev("e", 2500, status=Status.FAILED, reason=Reason.CANCELLED),  # in flight at the end
        Ev("f", 2600, status=Status.DROPPED, reason=Reason.CANCELLED, event_type="alert"),  # never sent
        Ev("g", 2700, status=Status.DROPPED, reason=Reason.CANCELLED),
    ]
    run = write_run(tmp_path / "r", events)
    stats = compute_stats([open_run(run)], [run], window_ns=1000 * MS)
    c = stats.counts
    assert (c.scheduled, c.ok, c.failed, c.dropped, c.aborted, c.lost) == (7, 1, 1, 1, 3, 1)
    assert stats.reasons == {"aborted:in_flight": 1, "aborted:unsent": 2, "dropped:MAX_IN_FLIGHT": 1,
                             "failed:TIMEOUT": 1, "http:503": 1}  # b (the fixture gives 503); not e
    for w in stats.windows:
        assert w.scheduled == w.ok + w.failed + w.dropped + w.aborted + w.lost
    assert [w.aborted for w in stats.windows] == [0, 0, 3]
    groups = {(g.event_type, g.schema_version): g.counts for g in stats.by_type}
    assert groups[("alert", 1)].aborted == 1
    assert sum(g.aborted for g in groups.values()) == 3
    assert any("3 events were aborted" in note for note in stats.notes)
    doc = build_document(stats, [parse_slo("aborted<=2")])
    assert doc["counts"]["aborted"] == 3
    assert doc["slos"][0]["passed"] is False
    assert T0 > 0


def test_many_shards_use_the_scheme_table_and_agree_with_the_hash_join(tmp_path: Path) -> None:
    rng = random.Random(3)
    run = tmp_path / "six"
    for shard in range(6):  # more schemes than the per-scheme loop handles: the sorted tag table
        ids = EventIds(shard)
        events = [Ev(ids.next()[0], i * 7.0 + shard, result_ms=[i * 7.0 + shard + rng.uniform(10, 900)]
                     if rng.random() > 0.1 else []) for i in range(60)]
        rng.shuffle(events)
        write_run(run, events, shard=shard, extra_results=[(ids.next()[0], 5.0)])  # one result for no event
    fast = _docs(run, chunk_records=16)
    slow = _docs(run, structured_ids=False)
    for key in COMPARED:
        assert fast[key] == slow[key], key
    assert fast["counts"]["unmatched_results"] == 6
    assert fast["counts"]["scheduled"] == 360
