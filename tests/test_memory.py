"""Tables held packed (analysis/memory.py): the same frame comes back, a cohort's labs and doses
are packed once derived, and another reading of the endpoints derives from them as before."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from analysis import derive as derivation
from analysis.cohort import from_frames
from analysis.definitions import Definitions
from analysis.memory import PackedTable, pack_table, release_memory
from analysis.schema import Tables


def _frame(index=None) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 1000
    return pd.DataFrame({
        "patient_id": pd.Categorical(rng.choice(["P1", "P2", "P10", None], n), categories=["P1", "P10", "P2", "P9"]),
        "date": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "value": np.where(rng.random(n) < 0.1, np.nan, rng.normal(80, 20, n)),
        "term": pd.array(rng.choice(["Infection", "Tremor", None], n), dtype="string"),
        "grade": rng.integers(1, 5, n),
        "flag": rng.random(n) < 0.5,
    }, index=index)


@pytest.mark.parametrize("index", [None, pd.RangeIndex(5, 3005, 3), pd.Index(np.arange(1000)[::-1] * 2)])
def test_a_packed_table_unpacks_to_the_same_frame(index):
    df = _frame(index)
    df.loc[df.index[:3], "date"] = pd.NaT
    packed = PackedTable(df)
    back = packed.unpack()
    pd.testing.assert_frame_equal(back, df, check_exact=True, check_index_type=True, check_column_type=True,
                                  check_categorical=True)
    assert back["patient_id"].cat.categories.tolist() == ["P1", "P10", "P2", "P9"]  # unused and unordered kept
    assert len(packed) == len(df) and packed.frame_bytes == df.memory_usage(deep=True).sum()
    assert packed.unpack() is not back  # a new frame each time: a caller may change its own
    again = pickle.loads(pickle.dumps(packed))  # pickled as its frame, packed again on the way in
    assert isinstance(again, PackedTable)
    pd.testing.assert_frame_equal(again.unpack(), df, check_exact=True, check_index_type=True)
    assert pickle.loads(pickle.dumps(packed))  # and that frame is what travels
    assert pickle.dumps(packed).count(b"pack_table") == 1


def test_an_empty_table_packs():
    df = _frame().iloc[:0]
    pd.testing.assert_frame_equal(pack_table(df).unpack(), df, check_index_type=True)


def test_derive_packs_the_labs_and_doses_it_was_given_and_derives_the_same(shipped):
    frames = {name: shipped.tables.get(name) for name in ("patients", "labs", "steroid_doses", "tacrolimus",
                                                           "adverse_events")}
    plain = Tables(**frames)
    held = Tables(**frames)
    whole = derivation.derive(plain)
    packed = derivation.derive(held, pack=True)
    pd.testing.assert_frame_equal(packed.patients, whole.patients, check_exact=True)
    pd.testing.assert_frame_equal(packed.steroid_segments, whole.steroid_segments, check_exact=True)
    assert packed.problems == whole.problems
    assert isinstance(held.labs, PackedTable) and isinstance(held.steroid_doses, PackedTable)
    assert isinstance(plain.labs, pd.DataFrame)  # without pack, the tables are as given
    for name in ("labs", "steroid_doses"):
        pd.testing.assert_frame_equal(held.get(name), frames[name], check_exact=True, check_index_type=True)
    assert held.tacrolimus is frames["tacrolimus"]  # read by every filter change: held as a frame


@pytest.mark.parametrize("definitions", [Definitions(relapse_on_loss_of_cr=True),
                                         Definitions(steroid_dependence_is_nonresponse=True),
                                         Definitions(haemolysis_normal_for_cr=True)])
def test_another_reading_from_packed_tables_and_the_kept_segments_is_the_one_from_frames(shipped, definitions):
    cohort = from_frames({name: shipped.tables.get(name) for name in ("patients", "labs", "steroid_doses",
                                                                        "tacrolimus", "adverse_events")})
    assert isinstance(cohort.tables.labs, PackedTable) and isinstance(cohort.tables.steroid_doses, PackedTable)
    frames = Tables(**{name: cohort.tables.get(name) for name in ("patients", "labs", "steroid_doses", "tacrolimus",
                                                                   "adverse_events")})
    expected = derivation.derive(frames, definitions)
    assert not expected.patients.equals(cohort.endpoints)  # the switch changes something here
    pd.testing.assert_frame_equal(cohort.endpoints_under(definitions), expected.patients, check_exact=True)


def test_memory_is_released_after_large_tables_only_and_without_malloc_trim_too(monkeypatch):
    from analysis import memory

    calls = []
    monkeypatch.setattr(memory, "_MALLOC_TRIM", lambda pad: calls.append(pad) or 1)
    release_memory(memory.RELEASE_AFTER_ROWS - 1)  # small tables: not worth a collection
    assert calls == []
    release_memory(memory.RELEASE_AFTER_ROWS)
    assert calls == [0]
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    release_memory(memory.RELEASE_AFTER_ROWS)  # Arrow's pool and the collection only


def test_a_table_packed_in_the_background_is_waited_for_and_its_failure_said(monkeypatch):
    df = _frame()
    packed = PackedTable(df, background=True)
    pd.testing.assert_frame_equal(packed.unpack(), df, check_exact=True)  # waits for the thread
    assert packed.nbytes > 0
    tables = Tables(patients=df.iloc[:0], labs=df)
    tables.pack("labs", background=True)
    tables.wait_packed()
    assert isinstance(tables.labs, PackedTable) and tables.labs._packing is None

    mixed = pd.DataFrame({"x": pd.Series([1, "a"], dtype=object)})  # Arrow cannot make one column of these
    bad = PackedTable(mixed, background=True)
    with pytest.raises(RuntimeError, match="could not be packed"):
        bad.unpack()
    with pytest.raises(Exception):  # on the caller's thread it is raised there
        PackedTable(mixed)


def test_the_heap_is_trimmed_between_chunks_of_large_tables_only(monkeypatch):
    from analysis import memory

    calls = []
    monkeypatch.setattr(memory, "_MALLOC_TRIM", lambda pad: calls.append(pad))
    memory.trim_heap(memory.RELEASE_AFTER_ROWS - 1)
    assert calls == []
    memory.trim_heap(memory.RELEASE_AFTER_ROWS)
    assert calls == [0]
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)  # a C library without malloc_trim
    memory.trim_heap(10 * memory.RELEASE_AFTER_ROWS)
