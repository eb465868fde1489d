"""Invariants of the import, for many generated tables: idempotent, order-independent, all or nothing."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from smoulder.store import ImportFailed, Store, import_into
from smoulder.store.models import Assessment, Person

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

row = st.tuples(
    st.sampled_from(["s1", "s2", "s3", "x';DROP_TABLE_people;--"]),
    st.integers(0, 3000).map(lambda d: (dt.date(2015, 1, 1) + dt.timedelta(days=d)).isoformat()),
    st.integers(0, 20).map(lambda k: k / 2),
    st.one_of(st.none(), st.integers(0, 110)),
)
tables = st.lists(row, min_size=1, max_size=25, unique_by=lambda r: (r[0], r[1]))


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"subject": s, "date": d, "edss": f"{e:g}", "sdmt": "" if m is None else str(m)}
            for s, d, e, m in rows
        ]
    )


def content(store) -> list[tuple]:
    with store.session() as s:
        return sorted(
            s.execute(
                select(Person.subject, Assessment.date, Assessment.edss, Assessment.sdmt).join(
                    Person
                )
            ).all()
        )


@SETTINGS
@given(rows=tables, data=st.data())
def test_import_twice_or_shuffled_changes_nothing(rows, data):
    store = Store("sqlite://")
    rep = import_into(store, "visits", frame(rows))
    assert rep.inserted == len(rows) and rep.people_created == len({r[0] for r in rows})
    first = content(store)
    assert len(first) == len(rows)
    shuffled = data.draw(st.permutations(rows))
    again = import_into(store, "visits", frame(shuffled))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(rows))
    assert content(store) == first
    store.dispose()


@SETTINGS
@given(rows=tables, data=st.data())
def test_one_bad_cell_means_nothing_is_written(rows, data):
    store = Store("sqlite://")
    import_into(store, "visits", frame(rows[:1]))
    before = content(store)
    df = frame(rows)
    i = data.draw(st.integers(0, len(df) - 1))
    col, bad = data.draw(
        st.sampled_from(
            [
                ("edss", "10.5"),
                ("edss", "3.25"),
                ("date", "2019-02-30"),
                ("sdmt", "-1"),
                ("subject", "has space"),
                ("edss", "<script>"),
            ]
        )
    )
    df.loc[i, col] = bad
    with pytest.raises(ImportFailed) as info:
        import_into(store, "visits", df)
    assert (i + 2, col) in {(e.row, e.column) for e in info.value.errors}
    assert content(store) == before
    store.dispose()
