"""The one settings pattern: frozen, validated with messages that name the parameter, round trips."""

from __future__ import annotations

import math
from typing import Literal

import pytest
from pydantic import ValidationError, field_validator

from smoulder._params import Settings
from smoulder.exceptions import SettingsError


class Toy(Settings):
    section = "toy"

    baseline: Literal["fixed", "roving"] = "fixed"
    conf_days: list[float] = [84.0]
    sustain_days: float = 0.0
    window: tuple[float, float] = (90.0, 30.0)

    @field_validator("sustain_days")
    @classmethod
    def _sust(cls, v: float) -> float:
        if math.isnan(v) or v < 0:
            raise SettingsError(f"sustain_days must be >= 0 days or inf (got {v!r})")
        return v


def test_choices_name_the_parameter_the_allowed_values_and_what_was_given():
    with pytest.raises(SettingsError) as err:
        Toy(baseline="rolling")
    assert str(err.value) == "baseline must be one of 'fixed' or 'roving' (got 'rolling')"
    assert err.value.parameter == "baseline" and err.value.given == "rolling"


def test_unknown_parameters_suggest_the_close_one():
    with pytest.raises(
        SettingsError, match=r"unknown parameter 'basline'; did you mean 'baseline'"
    ):
        Toy(basline="fixed")


def test_validator_messages_are_kept_as_written():
    with pytest.raises(SettingsError) as err:
        Toy(sustain_days=-1)
    assert str(err.value) == "sustain_days must be >= 0 days or inf (got -1.0)"


def test_settings_are_frozen_and_replace_validates():
    s = Toy()
    with pytest.raises(ValidationError, match="frozen"):
        s.baseline = "roving"  # type: ignore[misc]
    assert s.replace(baseline="roving").baseline == "roving"
    assert s.baseline == "fixed"
    with pytest.raises(SettingsError, match="baseline must be one of"):
        s.replace(baseline="nope")


def test_toml_json_and_mapping_round_trip_exactly_including_infinity():
    s = Toy(baseline="roving", conf_days=[84, 168], sustain_days=math.inf, window=(0, 30))
    assert Toy.from_toml(s.to_toml()) == s
    assert Toy.from_json(s.to_json()) == s
    assert Toy.from_mapping(s.to_dict()) == s
    assert s.to_toml().startswith("[toy]\n")
    assert s.to_dict()["window"] == [0.0, 30.0]


def test_overrides_win_and_unset_overrides_keep_the_file_value():
    file = {"toy": {"baseline": "roving", "sustain_days": 10}}
    s = Toy.from_mapping(file, sustain_days=None, conf_days=[168])
    assert (s.baseline, s.sustain_days, s.conf_days) == ("roving", 10.0, [168.0])


def test_bad_toml_is_a_settings_error():
    with pytest.raises(SettingsError, match="not valid TOML"):
        Toy.from_toml("[toy\nbaseline = ")


def test_describe_lists_only_what_differs_from_the_defaults():
    assert Toy().describe() == "(all defaults)"
    assert Toy(baseline="roving").describe() == "baseline = 'roving'"
