"""The treatments contract: controlled drug names and classes, dates, no overlapping courses."""

from __future__ import annotations

import pandas as pd
import pytest

from smoulder.exceptions import InputDataError
from smoulder.schema.treatments import DRUG_CLASSES, drug_class, efficacy, validate_treatments


def test_generic_and_brand_names_map_to_their_class():
    assert drug_class("Ocrevus") == drug_class("ocrelizumab") == "anti-CD20"
    assert (
        drug_class("Tecfidera") == "fumarate" and drug_class("Gilenya") == "S1P receptor modulator"
    )
    assert drug_class("interferon-beta-1a") == "interferon beta"
    assert efficacy("natalizumab") == "high" and efficacy("glatiramer acetate") == "moderate"
    assert set(DRUG_CLASSES.values()) == {"moderate", "high", "none"}


def test_a_valid_table_is_normalised_and_sorted():
    t = pd.DataFrame(
        {
            "subject": ["b", "a", "a"],
            "drug": ["Kesimpta", "tysabri", "Copaxone"],
            "start": ["2020-01-01", "2019-06-01", "2015-01-01"],
            "stop": ["", None, "2019-06-01"],
        }
    )
    out = validate_treatments(t, "t.csv")
    assert out["subject"].tolist() == ["a", "a", "b"]
    assert out["drug"].tolist() == ["glatiramer acetate", "natalizumab", "ofatumumab"]
    assert out["drug_class"].tolist() == ["glatiramer acetate", "natalizumab", "anti-CD20"]
    assert out["stop"].isna().tolist() == [False, True, True]
    assert out["row"].tolist() == [4, 3, 2]


def test_unknown_drugs_are_refused_with_the_closest_names():
    t = pd.DataFrame({"subject": ["a"], "drug": ["ocrelizumap"], "start": ["2020-01-01"]})
    with pytest.raises(InputDataError) as err:
        validate_treatments(t, "t.csv", stop_col=None)
    assert "t.csv, row 2, column 'drug': unknown drug (got 'ocrelizumap')" in str(err.value)
    assert "closest: ocrelizumab" in str(err.value)
    t["class"] = ["anti-CD20"]
    out = validate_treatments(t, "t.csv", stop_col=None, class_col="class")
    assert out["drug_class"].iloc[0] == "anti-CD20"


def test_overlapping_courses_and_reversed_dates_are_refused():
    t = pd.DataFrame(
        {
            "subject": ["a", "a"],
            "drug": ["fingolimod", "natalizumab"],
            "start": ["2015-01-01", "2016-01-01"],
            "stop": ["2016-06-01", ""],
        }
    )
    with pytest.raises(InputDataError, match=r"row 3, column 'start': treatment courses overlap"):
        validate_treatments(t, "t.csv")
    t2 = pd.DataFrame(
        {"subject": ["a"], "drug": ["fingolimod"], "start": ["2015-01-01"], "stop": ["2014-01-01"]}
    )
    with pytest.raises(InputDataError, match="row 2, column 'stop': treatment stops before"):
        validate_treatments(t2, "t.csv")
    t3 = t2.assign(start=["2015-13-01"])
    with pytest.raises(InputDataError, match="row 2, column 'start': unparseable date"):
        validate_treatments(t3, "t.csv")
