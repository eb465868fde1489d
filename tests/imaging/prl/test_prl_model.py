"""The trainable classifier: trains on rated lesions, generalises to a new phantom subject, and its file is safe to reload."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from smoulder.cli import main
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.prl import detect_prl, train_model
from smoulder.io.prl_model import parse_ratings, read_model_file, write_model_file
from smoulder.pipelines.prl import load_model


@pytest.fixture(scope="module")
def trained(cohort_tables):
    train = pd.concat(cohort_tables[:3], ignore_index=True)
    model = train_model(
        train, train["is_prl"].to_numpy(), name="test", seed=0, groups=train["subject"].to_numpy()
    )
    return model, cohort_tables[3]


def test_model_ranks_an_unseen_subjects_lesions(trained):
    model, test = trained
    assert test["is_prl"].any() and not test["is_prl"].all()
    p = model.predict_score(test)
    assert roc_auc_score(test["is_prl"], p) >= 0.9
    assert model.metadata["n_lesions"] == 30 and "cv_auc" in model.metadata


def test_model_file_round_trip(trained, tmp_path):
    model, test = trained
    path = tmp_path / "m.joblib"
    write_model_file(model.to_payload(), path)
    again = load_model(path)
    assert np.array_equal(again.predict_score(test), model.predict_score(test))
    assert again.input_kind == "qsm" and again.threshold == 0.5
    assert again.metadata["smoulder_version"] and again.metadata["sklearn_version"]


def test_foreign_or_outdated_files_are_refused(trained, tmp_path):
    p = tmp_path / "x.joblib"
    joblib.dump({"hello": 1}, p)
    with pytest.raises(InputDataError, match="not a smoulder PRL model"):
        load_model(p)
    model, _ = trained
    write_model_file(model.to_payload(), p)
    obj = read_model_file(p)
    obj["format_version"] = 99
    joblib.dump(obj, p)
    with pytest.raises(InputDataError, match="format version.*99"):
        load_model(p)


def test_qsm_model_on_phase_input_is_refused(trained, phantom):
    model, _ = trained
    with pytest.raises(SettingsError, match="trained on qsm"):
        detect_prl(
            np.asarray(phantom.phase.dataobj),
            np.asarray(phantom.lesions.dataobj).astype(int),
            phantom.phase.affine,
            input_kind="phase",
            model=model,
            check_convention=False,
        )


def test_one_class_ratings_are_refused(cohort_tables):
    t = cohort_tables[0]
    with pytest.raises(InputDataError, match="only one class"):
        train_model(t, np.zeros(len(t), bool))


def test_ratings_parse_and_bad_values_are_named():
    assert parse_ratings(
        pd.Series(["Yes", "no", "1", "0", "TRUE"]), "r.tsv", "rating"
    ).tolist() == [True, False, True, False, True]
    with pytest.raises(InputDataError, match=r"r.tsv, row 3, column 'rating'.*maybe"):
        parse_ratings(pd.Series(["yes", "maybe"]), "r.tsv", "rating")


def test_train_command_and_model_use(cohort_tables, phantom, phantom_files, tmp_path, capsys):
    paths = []
    for i, t in enumerate(cohort_tables):
        p = tmp_path / f"s{i}.tsv"
        t.assign(rating=np.where(t["is_prl"], "yes", "no")).drop(columns=["is_prl"]).to_csv(
            p, sep="\t", index=False, na_rep="n/a"
        )
        paths.append(str(p))
    model_path = tmp_path / "mine.joblib"
    assert main(["prl", "train", *paths, "--out", str(model_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["lesions"] == 40 and info["input"] == "qsm"
    out = tmp_path / "o"
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--qsm",
                phantom_files["qsm"],
                "--lesions",
                phantom_files["lesions"],
                "--model",
                str(model_path),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "lesions.tsv", sep="\t")
    assert (table["classifier"] == "model:mine").all()
    # the three unambiguous rims of the test phantom score above every non-PRL
    assert (
        table.loc[table["label"] <= 3, "rim_score"].min()
        > table.loc[table["label"] > 3, "rim_score"].max()
    )
    assert table["prl"].tolist() == phantom.truth["is_prl"].tolist()


def test_train_command_names_a_missing_column(tmp_path, capsys):
    p = tmp_path / "t.tsv"
    pd.DataFrame({"label": [1]}).to_csv(p, sep="\t", index=False)
    assert main(["prl", "train", str(p), "--out", str(tmp_path / "m.joblib")]) == 2
    assert "column" in capsys.readouterr().err
