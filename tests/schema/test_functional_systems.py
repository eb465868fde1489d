"""The functional-system contract: ranges per system, and errors that name file, row, column,
value and the expected range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.schema.functional_systems import (
    AMBULATION_SCALES,
    converted_bowel_bladder,
    converted_visual,
    system,
    validate_functional_systems,
)


def test_ranges_follow_kurtzke_and_neurostatus():
    highs = {s: system(s).high for s in ("pyramidal", "cerebellar", "brainstem", "sensory")}
    assert highs == {"pyramidal": 6, "cerebellar": 5, "brainstem": 5, "sensory": 6}
    assert system("bowel_bladder").high == 6 and system("visual").high == 6
    assert system("cerebral").high == 5
    assert system("ambulation").high == 16 and system("ambulation", "imed").high == 13
    assert AMBULATION_SCALES == {"neurostatus": 16, "imed": 13}


def test_valid_grades_come_back_as_numbers_with_gaps_kept():
    t = pd.DataFrame({"FSpyr": ["2", "", "6"], "FSvis": [0, np.nan, 6], "FSamb": [0, 16, None]})
    fs = validate_functional_systems(
        t, {"pyramidal": "FSpyr", "visual": "FSvis", "ambulation": "FSamb"}
    )
    assert fs.columns.tolist() == ["pyramidal", "visual", "ambulation"]
    assert np.array_equal(fs["pyramidal"].to_numpy(), [2, np.nan, 6], equal_nan=True)
    assert np.array_equal(fs["ambulation"].to_numpy(), [0, 16, np.nan], equal_nan=True)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("FScrbl", [1, 6, 2], "cerebellar score out of range"),
        ("FScrbl", [1, 2.5, 2], "cerebellar score is not a whole grade"),
        ("FScrbl", [1, "x", 9], "cerebellar score is not a number"),
        ("FScrbl", [1, -1, 2], "cerebellar score out of range"),
    ],
)
def test_bad_cells_are_named_with_file_row_column_value_and_range(column, values, message):
    t = pd.DataFrame({column: values})
    with pytest.raises(InputDataError) as err:
        validate_functional_systems(t, {"cerebellar": column}, source="visits.csv")
    text = str(err.value)
    assert text.startswith(f"visits.csv, row 3, column '{column}': {message}")
    assert "expected a whole number from 0 to 5 (Kurtzke, Neurology 1983)" in text
    assert err.value.row == 3 and err.value.column == column


def test_the_count_of_other_bad_rows_is_given():
    t = pd.DataFrame({"FSamb": [14, 15, 2]})
    with pytest.raises(InputDataError, match=r"row 2.*\(and 1 more rows\).*0 to 13") as err:
        validate_functional_systems(t, {"ambulation": "FSamb"}, ambulation_scale="imed")
    assert err.value.value == 14
    validate_functional_systems(t, {"ambulation": "FSamb"})  # fine on the 0-16 scale


def test_a_missing_column_is_named_with_what_there_is():
    with pytest.raises(ColumnNotFoundError, match="missing pyramidal score column 'FSpyr'"):
        validate_functional_systems(pd.DataFrame({"x": [1]}), {"pyramidal": "FSpyr"})


def test_visual_and_bowel_bladder_conversions_for_the_edss_step():
    assert converted_visual(np.arange(7)).tolist() == [0, 1, 2, 2, 3, 3, 4]
    assert converted_bowel_bladder(np.arange(7)).tolist() == [0, 1, 2, 3, 3, 4, 5]
