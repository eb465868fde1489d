"""``smoulder import omop|redcap`` and ``smoulder export omop|omop-concepts``: registry formats.

Heavy libraries are imported inside the command functions only, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from smoulder.exceptions import InputDataError, SmoulderError

FORMATS = ("csv", "tsv", "parquet")
#: the smoulder tables an import writes, in this order
TABLES = ("visits", "relapses", "treatments", "mri", "people")


def register(sub: argparse._SubParsersAction) -> None:
    """Register the ``import`` and ``export`` command groups."""
    imp = sub.add_parser(
        "import",
        help="registry data in: OMOP CDM, REDCap",
        description="Read a registry export into smoulder's tables (visits, relapses, "
        "treatments, mri, people), which smoulder progression and store-import read.",
    )
    isub = imp.add_subparsers(dest="import_kind", metavar="FORMAT", required=True)
    o = isub.add_parser(
        "omop",
        help="OMOP CDM v5.4 folder (CSV, TSV, Parquet) or database",
        description="Read an OMOP CDM v5.4 extract (a folder of CSV/TSV/Parquet tables, or a "
        "database) into smoulder's tables. Concept ids: docs/omop.md.",
    )
    o.add_argument("cdm", type=Path, nargs="?", help="folder of CDM tables (person.csv, ...)")
    o.add_argument(
        "--database", metavar="URL", help="read from a database instead (SQLAlchemy URL)"
    )
    o.add_argument("--schema", default=None, help="database schema of the CDM tables")
    o.add_argument(
        "--subject-from",
        choices=["person_id", "person_source_value"],
        default="person_id",
        help="PERSON column giving the subject id (default person_id)",
    )
    _concepts_arg(o)
    o.add_argument(
        "--on-missing",
        choices=["error", "drop"],
        default="error",
        help="measurements without a value: stop (default) or leave them out, counted",
    )
    o.add_argument(
        "--on-duplicate",
        choices=["error", "first", "last", "max", "min"],
        default="error",
        help="two different values of one measure on one day (identical ones are merged)",
    )
    _common_out(o)
    o.set_defaults(func=run_import_omop)

    r = isub.add_parser(
        "redcap",
        help="REDCap flat CSV export with its data dictionary and a mapping file",
        description="Read a REDCap CSV export (raw or label headers, repeated instruments, "
        "longitudinal events, checkboxes) through a mapping file written once (docs/redcap.md).",
    )
    r.add_argument("export", type=Path, help="the REDCap CSV export (records)")
    r.add_argument(
        "--dictionary", type=Path, required=True, help="the project's data dictionary CSV"
    )
    r.add_argument(
        "--mapping", type=Path, required=True, help="the TOML mapping file (docs/redcap.md)"
    )
    r.add_argument(
        "--check", action="store_true", help="only check the mapping against the dictionary"
    )
    r.add_argument(
        "--on-missing",
        choices=["error", "drop"],
        default="drop",
        help="visits without any outcome value: leave out, counted (default), or stop",
    )
    _common_out(r, required=False)
    r.set_defaults(func=run_import_redcap)

    exp = sub.add_parser(
        "export",
        help="smoulder's tables out: OMOP CDM",
        description="Write smoulder's tables in a registry format.",
    )
    esub = exp.add_subparsers(dest="export_kind", metavar="FORMAT", required=True)
    e = esub.add_parser(
        "omop",
        help="OMOP CDM v5.4 tables (files or a database)",
        description="Write visits, relapses, treatments, MRI activity and people as OMOP CDM v5.4 "
        "tables: PERSON, VISIT_OCCURRENCE, MEASUREMENT, CONDITION_OCCURRENCE, DRUG_EXPOSURE, "
        "PROCEDURE_OCCURRENCE, with the CONCEPT and VOCABULARY rows of smoulder's local concepts.",
    )
    e.add_argument(
        "visits", type=Path, help="visits table: subject, date and edss/t25fw/nhpt/sdmt columns"
    )
    e.add_argument("--relapses", type=Path, help="relapses: subject, date[, end_date]")
    e.add_argument(
        "--treatments", type=Path, help="treatments: subject, drug, start_date[, stop_date]"
    )
    e.add_argument(
        "--mri", type=Path, help="MRI: subject, date, active[, new_or_enlarging_t2, gd_enhancing]"
    )
    e.add_argument("--people", type=Path, help="people: subject[, sex, birth_year]")
    e.add_argument("--sep", default=None, metavar="SEP", help="field separator of the text tables")
    e.add_argument("--future-dates", choices=["warn", "refuse", "drop"], default="warn")
    _concepts_arg(e)
    e.add_argument(
        "--vocabulary",
        type=Path,
        metavar="DIR",
        help="Athena vocabulary download: RxNorm ingredient ids from it",
    )
    e.add_argument(
        "--database",
        metavar="URL",
        help="write into an empty CDM schema of this database instead of files",
    )
    e.add_argument("--schema", default=None, help="database schema to write into")
    e.add_argument("--out", type=Path, help="output folder for the CDM files")
    e.add_argument(
        "--format", choices=FORMATS, default="csv", help="csv (comma), tsv (tab) or parquet"
    )
    e.add_argument("--quiet", action="store_true")
    e.add_argument("--json", action="store_true", help="print what was written as JSON")
    e.set_defaults(func=run_export_omop)

    c = esub.add_parser(
        "omop-concepts",
        help="the OMOP concept ids smoulder uses (and check them against a vocabulary)",
        description="Write the concept table of docs/omop.md; with --vocabulary, compare every id "
        "with an Athena vocabulary download (exit 2 on a mismatch).",
    )
    c.add_argument(
        "--out", type=Path, help="write the table here (.csv, .tsv, .parquet); default: print"
    )
    c.add_argument(
        "--vocabulary", type=Path, metavar="DIR", help="Athena vocabulary download to check against"
    )
    c.set_defaults(func=run_export_concepts)


def _concepts_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--concepts",
        type=Path,
        metavar="FILE",
        help="TOML file of your site's concept ids per key (edss = 123 or [123, 456]; see docs/omop.md)",
    )


def _common_out(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument(
        "--out", type=Path, required=required, help="output folder for the smoulder tables"
    )
    p.add_argument("--format", choices=FORMATS, default="csv", help="table format (default csv)")
    p.add_argument(
        "--future-dates",
        choices=["warn", "refuse", "drop"],
        default="warn",
        help="dates after today: kept and counted (default), refused, or left out",
    )
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print the input report as JSON")


# ----------------------------------------------------------------------------- helpers
def load_concepts(path: Path | None) -> dict[str, list[int]] | None:
    """The ``--concepts`` TOML file: ``key = id`` or ``key = [ids]`` (optionally under [concepts])."""
    if path is None:
        return None
    import tomllib

    from smoulder.io.outputs import check_input_file
    from smoulder.schema import omop_concepts as C

    check_input_file(path, "--concepts", expected="a TOML file of concept ids")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputDataError(
            f"not a TOML file ({exc})", file=str(path), expected="key = concept id lines"
        ) from None
    data = data.get("concepts", data)
    out: dict[str, list[int]] = {}
    for key, v in data.items():
        if key not in C.BY_KEY:
            raise InputDataError(
                f"unknown key {key!r}",
                file=str(path),
                expected="one of " + ", ".join(sorted(k for k in C.BY_KEY)),
            )
        vals = v if isinstance(v, list) else [v]
        if not vals or not all(
            isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in vals
        ):
            raise InputDataError(
                f"{key}: not concept ids",
                file=str(path),
                value=v,
                expected="a positive whole number or a list of them",
            )
        out[key] = [int(x) for x in vals]
    return out


def _write_tables(
    tables: dict[str, Any], out: Path, fmt: str, extra: dict[str, str]
) -> dict[str, Path]:
    from smoulder.io.outputs import OutputPlan
    from smoulder.io.tables import write_table

    plan = OutputPlan()
    names = {k: out / f"{k}.{fmt}" for k in tables}
    for p in names.values():
        plan.add(p, "--out")
    for k in extra:
        plan.add(out / k, "--out")
    with plan.staged() as stage:
        for k, df in tables.items():
            write_table(df, stage.path(names[k]))
        for k, text in extra.items():
            stage.path(out / k).write_text(text, encoding="utf-8")
    return names


def _print_report(
    ns: argparse.Namespace,
    report: Any,
    files: dict[str, Any],
    counts: dict[str, int],
    warnings: list[str],
) -> None:
    if ns.json:
        print(
            json.dumps(
                {
                    "counts": counts,
                    "files": {k: str(v) for k, v in files.items()},
                    "input": report.to_dict(),
                    "warnings": warnings,
                }
            )
        )
        return
    if ns.quiet:
        return
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(", ".join(f"{n:,} {k}" for k, n in counts.items()))
    for reason, n in report.reasons.items() if hasattr(report, "reasons") else []:
        print(f"  {reason}: {n:,}")
    for k, v in files.items():
        print(f"{k}: {v}")


# ----------------------------------------------------------------------------- commands
def run_import_omop(ns: argparse.Namespace) -> int:
    from smoulder.io.omop import read_omop
    from smoulder.io.omop_tables import open_source

    if (ns.cdm is None) == (ns.database is None):
        raise SmoulderError("give a CDM folder or --database URL (one of them)")
    concepts = load_concepts(ns.concepts)
    src = open_source(ns.cdm, ns.database, ns.schema)
    res = read_omop(
        src,
        subject_from=ns.subject_from,
        concepts=concepts,
        future_dates=ns.future_dates,
        on_missing=ns.on_missing,
        on_duplicate=ns.on_duplicate,
    )
    tables = {k: v for k, v in res.tables().items() if k == "visits" or len(v)}
    report = json.dumps(res.report.to_dict(), indent=2, default=str)
    files = _write_tables(tables, ns.out, ns.format, {"import_report.json": report})
    _print_report(
        ns, res.report, files, {k: len(v) for k, v in tables.items()}, res.report.warnings
    )
    return 0


def run_import_redcap(ns: argparse.Namespace) -> int:
    from smoulder.io.redcap import read_dictionary, read_mapping, read_redcap

    dictionary = read_dictionary(ns.dictionary)
    mapping = read_mapping(ns.mapping, dictionary)
    if ns.check:
        if not ns.quiet:
            print(
                f"{ns.mapping}: the mapping fits the dictionary ({len(dictionary.fields):,} fields)"
            )
        return 0
    if ns.out is None:
        raise SmoulderError("--out is required (except with --check)")
    res = read_redcap(
        ns.export, dictionary, mapping, future_dates=ns.future_dates, on_missing=ns.on_missing
    )
    tables = {k: v for k, v in res.tables().items() if k == "visits" or len(v)}
    report = json.dumps(res.report.to_dict(), indent=2, default=str)
    files = _write_tables(tables, ns.out, ns.format, {"import_report.json": report})
    _print_report(
        ns, res.report, files, {k: len(v) for k, v in tables.items()}, res.report.warnings
    )
    return 0


def _vocabulary_drug_ids(folder: Path | None) -> tuple[dict[str, int] | None, Any]:
    if folder is None:
        return None, None
    from smoulder.io.omop_tables import read_vocabulary
    from smoulder.schema import omop_concepts as C

    wanted = {c.concept_id for c in C.ALL if c.concept_id is not None and not c.local}
    voc = read_vocabulary(folder, wanted)
    ing = voc[(voc["vocabulary_id"] == "RxNorm") & (voc["concept_class_id"] == "Ingredient")]
    ing = ing[ing["standard_concept"].fillna("") == "S"]
    by_name = {
        str(n).lower(): int(i) for n, i in zip(ing["concept_name"], ing["concept_id"], strict=True)
    }
    return {c.key: by_name[c.key] for c in C.DRUGS if c.key in by_name}, voc


def run_export_omop(ns: argparse.Namespace) -> int:
    from smoulder.io.delimited import parse_sep
    from smoulder.io.omop_export import read_smoulder_tables, to_omop
    from smoulder.io.omop_tables import write_database, write_folder
    from smoulder.io.outputs import OutputPlan, check_input_file

    if (ns.out is None) == (ns.database is None):
        raise SmoulderError("give --out FOLDER or --database URL (one of them)")
    inputs = {
        "visits": ns.visits,
        "--relapses": ns.relapses,
        "--treatments": ns.treatments,
        "--mri": ns.mri,
        "--people": ns.people,
    }
    for flag, p in inputs.items():
        if p is not None:
            check_input_file(p, flag, expected="an existing CSV, TSV or Parquet table")
    concepts = load_concepts(ns.concepts)
    drug_ids, _ = _vocabulary_drug_ids(ns.vocabulary)
    tables, report = read_smoulder_tables(
        ns.visits,
        relapses=ns.relapses,
        treatments=ns.treatments,
        mri=ns.mri,
        people=ns.people,
        sep=parse_sep(ns.sep),
        future_dates=ns.future_dates,
    )
    cdm, warnings = to_omop(tables, concepts=concepts, drug_ids=drug_ids)
    warnings = report.warnings + warnings
    counts = {k: len(v) for k, v in cdm.items()}
    if ns.database:
        if cdm["person"]["year_of_birth"].isna().any():
            raise InputDataError(
                "PERSON.year_of_birth is required by the CDM and some persons have none",
                expected="--people with a birth_year for every subject (or write files with --out)",
            )
        write_database(cdm, ns.database, ns.schema)
        files: dict[str, Any] = {"database": "written"}
    else:
        plan = OutputPlan({k: v for k, v in inputs.items() if v is not None})
        for k in cdm:
            plan.add(ns.out / f"{k}.{ns.format}", "--out")
        with plan.staged() as stage:
            write_folder(cdm, stage.dir(ns.out), ns.format)
        files = {k: ns.out / f"{k}.{ns.format}" for k in cdm}
    _print_report(ns, report, files, counts, warnings)
    return 0


def run_export_concepts(ns: argparse.Namespace) -> int:
    import pandas as pd

    from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan
    from smoulder.io.tables import write_table
    from smoulder.schema import omop_concepts as C

    rows = [
        {
            "key": c.key,
            "concept_id": c.concept_id,
            "concept_name": c.name,
            "domain_id": c.domain,
            "vocabulary_id": c.vocabulary_id,
            "concept_class_id": c.concept_class_id,
            "concept_code": c.concept_code,
            "local": c.local,
            "checked": c.checked,
        }
        for c in C.ALL
    ]
    df = pd.DataFrame(rows)
    df["concept_id"] = pd.array(df["concept_id"], dtype="Int64")
    problems: list[str] = []
    if ns.vocabulary is not None:
        drug_ids, voc = _vocabulary_drug_ids(ns.vocabulary)
        byid = {int(i): r for i, r in zip(voc["concept_id"], voc.to_dict("records"), strict=True)}
        status = []
        for c in C.ALL:
            if c.local:
                status.append("local")
                continue
            if c.domain == "Drug":
                found = (drug_ids or {}).get(c.key)
                if found is None:
                    status.append("not in vocabulary")
                    problems.append(f"{c.key}: no standard RxNorm ingredient of that name")
                elif c.concept_id is not None and found != c.concept_id:
                    status.append(f"vocabulary says {found}")
                    problems.append(f"{c.key}: smoulder has {c.concept_id}, the vocabulary {found}")
                else:
                    status.append("ok" if c.concept_id is not None else f"resolved {found}")
                continue
            r = byid.get(int(c.concept_id or -1))
            if r is None:
                status.append("not in vocabulary")
                problems.append(f"{c.key}: concept {c.concept_id} not in the vocabulary")
            elif str(r["concept_name"]).lower() != c.name.lower():
                status.append(f"named {r['concept_name']!r}")
                problems.append(
                    f"{c.key}: concept {c.concept_id} is {r['concept_name']!r}, expected {c.name!r}"
                )
            else:
                status.append("ok")
        df["vocabulary_check"] = status
    if ns.out is not None:
        plan = OutputPlan().add(ns.out, "--out", suffixes=TABLE_SUFFIXES)
        with plan.staged() as stage:
            write_table(df, stage.path(ns.out))
        print(f"concepts: {ns.out}")
    else:
        print(df.to_csv(index=False), end="")
    if problems:
        for p in problems:
            print(f"mismatch: {p}", file=sys.stderr)
        return 2
    return 0


__all__ = ["register", "load_concepts"]
