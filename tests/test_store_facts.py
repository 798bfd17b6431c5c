"""The state database's image facts and first sightings, and opening a database written before them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from imagebot.store import ImageFacts, Store


def test_a_database_from_before_the_new_tables_keeps_its_data_and_gains_them(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.save_tags("r/app", ["1.0.0", "1.1.0"], at=100.0)
        store.record_digest("r/app", "1.0.0", "sha256:" + "a" * 64, at=100.0)
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("DROP TABLE image_facts")
    db.execute("DROP TABLE tag_first_seen")
    db.execute("DROP TABLE first_scans")
    db.commit()
    db.close()

    with Store(tmp_path) as store:
        assert store.tags("r/app").tags == ["1.0.0", "1.1.0"]
        assert store.tag_digests("r/app") == {"1.0.0": "sha256:" + "a" * 64}
        assert store.first_seen("r/app") == {}
        store.record_facts("sha256:" + "a" * 64, ImageFacts(1.5e9, None))
        assert store.facts(["sha256:" + "a" * 64]) == {"sha256:" + "a" * 64: ImageFacts(1.5e9, None)}


def test_first_sightings_mark_the_first_scan_as_initial(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.record_first_seen("r/app", ["1.0.0", "1.1.0"], at=100.0)
        store.record_first_seen("r/app", ["1.0.0", "1.1.0", "1.2.0"], at=200.0)
        seen = store.first_seen("r/app")
    assert {t: (s.at, s.initial) for t, s in seen.items()} == {
        "1.0.0": (100.0, True), "1.1.0": (100.0, True), "1.2.0": (200.0, False)}


def test_a_first_scan_is_one_row_and_later_sightings_are_rows_of_their_own(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.record_first_seen("r/app", [f"1.{n}.0" for n in range(500)], at=100.0)
        store.record_first_seen("r/app", ["1.0.0", "2.0.0"], at=200.0)  # 1.0.0 again: still the first time
        assert store._db.execute("SELECT count(*) FROM first_scans").fetchone()[0] == 1
        assert store._db.execute("SELECT tag, initial FROM tag_first_seen").fetchall() == [("2.0.0", 0)]
        seen = store.first_seen("r/app")
    assert len(seen) == 501 and seen["1.499.0"].at == 100.0 and seen["1.0.0"].initial
    assert (seen["2.0.0"].at, seen["2.0.0"].initial) == (200.0, False)


def test_first_sightings_written_one_row_per_tag_by_an_earlier_release_still_count(tmp_path: Path) -> None:
    with Store(tmp_path) as store:  # as imagebot wrote them before first_scans
        store._db.execute("INSERT INTO tag_first_seen VALUES ('r/app', '1.0.0', 100.0, 1)")
        assert store.has_first_seen("r/app")
        store.record_first_seen("r/app", ["1.0.0", "1.1.0"], at=200.0)
        seen = store.first_seen("r/app")
        assert store._db.execute("SELECT count(*) FROM first_scans").fetchone()[0] == 0
    assert {t: (s.at, s.initial) for t, s in seen.items()} == {"1.0.0": (100.0, True), "1.1.0": (200.0, False)}


def test_two_processes_recording_the_same_first_scan_keep_the_first(tmp_path: Path) -> None:
    with Store(tmp_path) as one, Store(tmp_path) as two:
        assert not two.has_first_seen("r/app")  # both saw no sightings, then both record
        one.record_first_seen("r/app", ["1.0.0"], at=100.0)
        two.record_first_seen("r/app", ["1.0.0", "1.1.0"], at=101.0)
        seen = one.first_seen("r/app")
    assert {t: (s.at, s.initial) for t, s in seen.items()} == {"1.0.0": (100.0, True), "1.1.0": (101.0, False)}


def test_first_sightings_keep_every_tag_exactly_however_it_is_spelt(tmp_path: Path) -> None:
    # the rows are made inside SQLite from a JSON list: quotes, escapes and non-ASCII come back as they were
    tags = ['a"b', "back\\slash", "ünï", "tab\there", "1.0.0", "", "1.0.0"]
    with Store(tmp_path) as store:
        store.record_first_seen("r/odd", tags, at=5.0)
        seen = store.first_seen("r/odd")
    assert set(seen) == set(tags) and all(s.at == 5.0 and s.initial for s in seen.values())


def test_platforms_read_later_fill_in_without_losing_the_time(tmp_path: Path) -> None:
    digest = "sha256:" + "b" * 64
    with Store(tmp_path) as store:
        store.record_facts(digest, ImageFacts(None, ["linux/amd64"]))
        store.record_facts(digest, ImageFacts(None, None))  # a newestBuild read, platforms not asked for
        assert store.facts([digest])[digest] == ImageFacts(None, ["linux/amd64"])
        many = [f"sha256:{n:064d}" for n in range(1200)]  # more than one query's worth of parameters
        for d in many:
            store.record_facts(d, ImageFacts(float(len(d)), None))
        assert len(store.facts(many)) == 1200
