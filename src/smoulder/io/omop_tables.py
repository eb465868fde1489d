"""OMOP CDM v5.4 tables on disk or in a database: definitions, reading and writing.

The table definitions (column names, order, types, which columns are required) come from the
maintained ``omop-cdm`` package (The Hyve, Apache-2.0: SQLAlchemy declarative tables of CDM 5.3,
5.4 and 5.5), installed with the ``registry`` extra; smoulder keeps no hand-written copy.

A CDM *folder* holds one file per table, named after the table in any letter case
(``person.csv``, ``PERSON.csv``, ``person.tsv``, ``person.csv.gz``, ``person.parquet``). Text
files are comma- or tab-separated (OHDSI tools write both; the header line tells which), with
column names in any letter case. A CDM *database* is given as a SQLAlchemy URL
(``sqlite:///cdm.db``, ``postgresql+psycopg://...``) and an optional schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError

#: CDM tables smoulder reads or writes, and their classes in omop_cdm.regular.cdm54
TABLE_CLASSES = {
    "person": "Person",
    "visit_occurrence": "VisitOccurrence",
    "measurement": "Measurement",
    "condition_occurrence": "ConditionOccurrence",
    "observation": "Observation",
    "drug_exposure": "DrugExposure",
    "procedure_occurrence": "ProcedureOccurrence",
    "concept": "Concept",
    "vocabulary": "Vocabulary",
    "concept_ancestor": "ConceptAncestor",
}
_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".parquet", ".pq")
_EXTRA = "this needs the 'registry' extra (missing package '{pkg}'); install it with: pip install 'smoulder[registry]'"


@dataclass(frozen=True)
class Column:
    """One CDM column: name, kind (``int``, ``float``, ``date``, ``datetime``, ``str``), required."""

    name: str
    kind: str
    required: bool


def _cdm54() -> Any:
    try:
        from omop_cdm.regular import cdm54
    except ModuleNotFoundError as exc:
        from smoulder.exceptions import SmoulderError

        raise SmoulderError(_EXTRA.format(pkg=(exc.name or "omop_cdm").split(".")[0])) from None
    return cdm54


def columns(table: str) -> list[Column]:
    """The CDM v5.4 columns of ``table`` in CDM order, from the ``omop-cdm`` definitions."""
    import sqlalchemy as sa

    t = getattr(_cdm54(), TABLE_CLASSES[table]).__table__
    out = []
    for c in t.columns:
        ty = c.type
        if isinstance(ty, sa.DateTime):
            kind = "datetime"
        elif isinstance(ty, sa.Date):
            kind = "date"
        elif isinstance(ty, (sa.Integer, sa.BigInteger)):
            kind = "int"
        elif isinstance(ty, sa.Numeric):
            kind = "float"
        else:
            kind = "str"
        out.append(Column(c.name, kind, not c.nullable))
    return out


# ----------------------------------------------------------------------------- sources
class CdmSource:
    """Where CDM tables are read from; :meth:`table` gives a frame of text cells (or None)."""

    def table(self, name: str) -> pd.DataFrame | None:  # pragma: no cover - interface
        raise NotImplementedError

    def label(self, name: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    #: the row number of the first data row (2 in a text file: the header is row 1)
    first_row = 2


def _text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Lower-case column names and every cell as text (None when empty)."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            txt = s.dt.strftime("%Y-%m-%d %H:%M:%S").where(s.notna(), None)
        elif pd.api.types.is_float_dtype(s):
            txt = s.map(lambda x: None if pd.isna(x) else repr(float(x)))
        else:
            txt = s.map(
                lambda x: None if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)
            )
        out[str(col).strip().lower()] = txt.astype(object)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


class FolderSource(CdmSource):
    """A folder of CDM files (CSV, TSV, Parquet), matched by table name in any letter case."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputDataError(
                "not a folder",
                file=str(self.folder),
                expected="a folder of OMOP CDM tables (person.csv, measurement.csv, ...)",
            )
        self.files: dict[str, Path] = {}
        for p in sorted(self.folder.iterdir()):
            low = p.name.lower()
            for suf in _SUFFIXES:
                if low.endswith(suf) and p.is_file():
                    name = low[: -len(suf)]
                    if name in self.files:
                        raise InputDataError(
                            f"two files for the table {name}: {self.files[name].name} and {p.name}",
                            file=str(self.folder),
                            expected="one file per CDM table",
                        )
                    self.files[name] = p
                    break

    def label(self, name: str) -> str:
        p = self.files.get(name)
        return str(p) if p is not None else str(self.folder / f"{name}.csv")

    def table(self, name: str) -> pd.DataFrame | None:

        from smoulder.io.delimited import header_fields, read_arrow_file

        p = self.files.get(name)
        if p is None:
            return None
        low = p.name.lower()
        if low.endswith((".parquet", ".pq")):
            return _text_frame(read_arrow_file(p, what=f"OMOP {name} table").to_pandas())
        sep = _sniff_sep(p)
        head = _head(p)
        names = header_fields(head, sep)
        table = read_arrow_file(p, string_cols=names, sep=sep, what=f"OMOP {name} table")
        df = table.to_pandas()
        df.columns = [str(c).strip().lower() for c in df.columns]
        for c in df.columns:
            if df[c].dtype != object:
                df[c] = df[c].astype(object)
        return df.where(df.notna(), None)


def _head(p: Path) -> bytes:
    import gzip

    opener = gzip.open if p.name.lower().endswith(".gz") else open
    with opener(p, "rb") as f:
        return f.read(1 << 16)


def _sniff_sep(p: Path) -> str:
    """Tab when the header line has tabs, else comma (OHDSI exports write both, any suffix)."""
    first = _head(p).split(b"\n", 1)[0]
    return "\t" if b"\t" in first else ","


class DatabaseSource(CdmSource):
    """CDM tables in a database (SQLAlchemy URL), optionally in a schema."""

    first_row = 1

    def __init__(self, url: str, schema: str | None = None) -> None:
        try:
            import sqlalchemy as sa
        except ModuleNotFoundError:
            from smoulder.exceptions import SmoulderError

            raise SmoulderError(_EXTRA.format(pkg="sqlalchemy")) from None
        self.url = url
        self.schema = schema
        try:
            self.engine = sa.create_engine(url)
            with self.engine.connect() as conn:
                self.names = {n.lower(): n for n in sa.inspect(conn).get_table_names(schema=schema)}
        except Exception as exc:  # noqa: BLE001 - any driver error is the user's URL
            raise InputDataError(
                f"cannot open the database ({type(exc).__name__})",
                file=_safe_url(url),
                expected="a SQLAlchemy URL such as sqlite:///cdm.db or postgresql+psycopg://user@host/db",
            ) from None

    def label(self, name: str) -> str:
        where = f"{self.schema}." if self.schema else ""
        return f"{_safe_url(self.url)} table {where}{name}"

    def table(self, name: str) -> pd.DataFrame | None:
        import sqlalchemy as sa

        real = self.names.get(name)
        if real is None:
            return None
        q = self.engine.dialect.identifier_preparer
        name_sql = (q.quote_schema(self.schema) + "." if self.schema else "") + q.quote(real)
        with self.engine.connect() as conn:
            df = pd.read_sql(sa.text(f"SELECT * FROM {name_sql}"), conn)  # noqa: S608 - quoted names
        return _text_frame(df)


def _safe_url(url: str) -> str:
    """A database URL without its password (never print credentials)."""
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<database URL>"


def open_source(folder: str | Path | None, database: str | None, schema: str | None) -> CdmSource:
    """A folder or a database source (exactly one of them)."""
    if database:
        return DatabaseSource(database, schema)
    assert folder is not None
    return FolderSource(folder)


# ----------------------------------------------------------------------------- writing
def frame_for(table: str, rows: dict[str, Any], n: int) -> pd.DataFrame:
    """A CDM table with every v5.4 column in order: given columns typed, the others empty."""
    cols = columns(table)
    known = {c.name for c in cols}
    unknown = set(rows) - known
    assert not unknown, f"not CDM v5.4 columns of {table}: {sorted(unknown)}"
    out: dict[str, Any] = {}
    for c in cols:
        v = rows.get(c.name)
        if c.kind == "int":
            s = pd.array([pd.NA] * n if v is None else list(v), dtype="Int64")
        elif c.kind == "float":
            s = pd.array([np.nan] * n if v is None else list(v), dtype="Float64")
        elif c.kind in ("date", "datetime"):
            s = (
                pd.Series([pd.NaT] * n, dtype="datetime64[s]")
                if v is None
                else pd.Series(pd.to_datetime(list(v)), dtype="datetime64[s]")
            ).to_numpy()
        else:
            s = pd.array([None] * n if v is None else list(v), dtype="string")
        out[c.name] = s
    return pd.DataFrame(out)


def write_folder(tables: dict[str, pd.DataFrame], folder: Path, fmt: str) -> list[Path]:
    """Write CDM tables as ``<table>.csv`` (comma), ``.tsv`` (tab) or ``.parquet`` into ``folder``.

    Text files give dates as ``YYYY-MM-DD``, datetimes as ``YYYY-MM-DD HH:MM:SS`` and empty cells
    for missing values, as the OHDSI loaders expect.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        path = folder / f"{name}.{fmt}"
        kinds = {c.name: c.kind for c in columns(name)}
        if fmt == "parquet":
            out = df.copy()
            for col, kind in kinds.items():
                if kind == "date":
                    out[col] = pd.Series(out[col]).dt.date
            out.to_parquet(path, index=False)
        else:
            text = pd.DataFrame(index=df.index)
            for col in df.columns:
                s = df[col]
                kind = kinds[col]
                if kind == "date":
                    text[col] = pd.Series(s).dt.strftime("%Y-%m-%d")
                elif kind == "datetime":
                    text[col] = pd.Series(s).dt.strftime("%Y-%m-%d %H:%M:%S")
                elif kind == "float":
                    text[col] = s.map(lambda x: "" if pd.isna(x) else f"{float(x):.10g}")
                else:
                    text[col] = s.astype("string")
            text.to_csv(path, sep="\t" if fmt == "tsv" else ",", index=False, na_rep="")
        written.append(path)
    return written


def write_database(
    tables: dict[str, pd.DataFrame], url: str, schema: str | None = None
) -> dict[str, int]:
    """Create the CDM tables that are missing and insert the rows, in one transaction.

    Refuses a table that already holds rows (ids would collide): smoulder writes into an empty
    CDM schema. Returns rows written per table.
    """
    import sqlalchemy as sa

    cdm = _cdm54()
    from omop_cdm.constants import CDM_SCHEMA, VOCAB_SCHEMA

    engine = sa.create_engine(url).execution_options(
        schema_translate_map={CDM_SCHEMA: schema, VOCAB_SCHEMA: schema}
    )
    wanted = [getattr(cdm, TABLE_CLASSES[n]).__table__ for n in tables]
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            cdm.Base.metadata.create_all(conn, tables=wanted, checkfirst=True)
            for name, df in tables.items():
                t = getattr(cdm, TABLE_CLASSES[name]).__table__
                have = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                if have:
                    raise InputDataError(
                        f"the table {name} already holds {have:,} rows",
                        file=_safe_url(url),
                        expected="an empty CDM schema (smoulder does not append to a CDM)",
                    )
                conn.execute(t.insert(), _records(df, name))
                counts[name] = len(df)
    except sa.exc.SQLAlchemyError as exc:
        raise InputDataError(
            f"the database refused the rows ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            file=_safe_url(url),
            expected="a database and schema smoulder can create CDM v5.4 tables in",
        ) from None
    return counts


def _records(df: pd.DataFrame, table: str) -> list[dict[str, Any]]:
    kinds = {c.name: c.kind for c in columns(table)}
    out = []
    cols = list(df.columns)
    values = {c: df[c].tolist() for c in cols}
    for i in range(len(df)):
        rec: dict[str, Any] = {}
        for c in cols:
            v = values[c][i]
            if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
                rec[c] = None
            elif kinds[c] == "date":
                rec[c] = pd.Timestamp(v).date()
            elif kinds[c] == "datetime":
                rec[c] = pd.Timestamp(v).to_pydatetime()
            elif kinds[c] == "int":
                rec[c] = int(v)
            elif kinds[c] == "float":
                rec[c] = float(v)
            else:
                rec[c] = str(v)
        out.append(rec)
    return out


# ----------------------------------------------------------------------------- cell parsers
def parse_dates(values: Iterable[Any], rows: np.ndarray, source: str, column: str) -> np.ndarray:
    """CDM dates or datetimes as ``datetime64[D]`` (NaT when empty).

    Accepts ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS]`` (or with ``T``, with fractions or a zone),
    and ``YYYYMMDD`` (some exports write dates as integers).
    """
    vals = list(values)
    out = np.full(len(vals), np.datetime64("NaT"), dtype="datetime64[D]")
    for i, v in enumerate(vals):
        if v is None:
            continue
        t = str(v).strip()
        if not t:
            continue
        d = _one_date(t)
        if d is None:
            raise InputDataError(
                "not a date",
                file=source,
                row=int(rows[i]),
                column=column,
                value=t[:40],
                expected="a date YYYY-MM-DD, a datetime YYYY-MM-DD HH:MM:SS, or YYYYMMDD",
            )
        out[i] = np.datetime64(d, "D")
    return out


def _one_date(t: str) -> dt.date | None:
    try:
        if len(t) == 8 and t.isdigit():
            return dt.date(int(t[:4]), int(t[4:6]), int(t[6:]))
        if len(t) >= 10 and t[4] == "-" and t[7] == "-":
            return dt.date.fromisoformat(t[:10])
    except ValueError:
        return None
    return None


def parse_ints(values: Iterable[Any], rows: np.ndarray, source: str, column: str) -> np.ndarray:
    """Whole numbers (concept ids, ids) as int64, -1 for empty cells; ``8507.0`` is accepted."""
    vals = list(values)
    out = np.full(len(vals), -1, dtype=np.int64)
    for i, v in enumerate(vals):
        if v is None or str(v).strip() == "":
            continue
        t = str(v).strip()
        try:
            x = int(t)
        except ValueError:
            try:
                f = float(t)
            except ValueError:
                f = float("nan")
            if not np.isfinite(f) or f != round(f):
                raise InputDataError(
                    "not a whole number",
                    file=source,
                    row=int(rows[i]),
                    column=column,
                    value=t[:40],
                    expected="an integer id (concept ids and ids are whole numbers)",
                ) from None
            x = int(f)
        out[i] = x
    return out


def parse_numbers(values: Iterable[Any], rows: np.ndarray, source: str, column: str) -> np.ndarray:
    """Numbers as float64 (NaN for empty cells)."""
    vals = list(values)
    out = np.full(len(vals), np.nan)
    for i, v in enumerate(vals):
        if v is None or str(v).strip() == "":
            continue
        try:
            out[i] = float(str(v).strip())
        except ValueError:
            raise InputDataError(
                "not a number",
                file=source,
                row=int(rows[i]),
                column=column,
                value=str(v)[:40],
                expected="a number (a decimal point, no unit)",
            ) from None
    return out


__all__ = [
    "TABLE_CLASSES",
    "CdmSource",
    "Column",
    "DatabaseSource",
    "FolderSource",
    "columns",
    "frame_for",
    "open_source",
    "parse_dates",
    "parse_ints",
    "parse_numbers",
    "write_database",
    "write_folder",
]


# ----------------------------------------------------------------------------- vocabulary
def read_vocabulary(folder: str | Path, wanted_ids: set[int]) -> pd.DataFrame:
    """The rows of an Athena vocabulary download's CONCEPT file that smoulder needs.

    Returns the concepts whose id is in ``wanted_ids`` and every RxNorm ingredient (columns
    concept_id, concept_name, vocabulary_id, concept_class_id, standard_concept, concept_code,
    invalid_reason). Athena writes tab-separated ``CONCEPT.csv`` with quotes that are not CSV
    quotes, so quoting is off; only the needed columns are kept in memory.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    src = FolderSource(folder)
    p = src.files.get("concept")
    if p is None:
        raise InputDataError(
            "no CONCEPT file",
            file=str(folder),
            expected="the folder of an Athena vocabulary download (CONCEPT.csv, VOCABULARY.csv, ...)",
        )
    keep = [
        "concept_id",
        "concept_name",
        "vocabulary_id",
        "concept_class_id",
        "standard_concept",
        "concept_code",
        "invalid_reason",
    ]
    sep = _sniff_sep(p)
    header = [
        h.strip().lower()
        for h in _head(p).split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r").split(sep)
    ]
    missing = [c for c in keep[:6] if c not in header]
    if missing:
        raise InputDataError(
            f"missing column {missing[0]!r}",
            file=str(p),
            column=missing[0],
            expected="an OMOP CONCEPT table (concept_id, concept_name, vocabulary_id, ...)",
        )
    names = [h for h in header]
    try:
        t = pacsv.read_csv(
            p,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=[c for c in keep if c in names],
                column_types={c: pa.string() for c in keep if c in names and c != "concept_id"}
                | {"concept_id": pa.int64()},
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputDataError(
            f"not a readable CONCEPT table ({str(exc)[:200]})",
            file=str(p),
            expected="an Athena CONCEPT.csv",
        ) from None
    mask = pc.or_(
        pc.is_in(t["concept_id"], value_set=pa.array(sorted(wanted_ids), type=pa.int64())),
        pc.and_(
            pc.equal(t["vocabulary_id"], "RxNorm"), pc.equal(t["concept_class_id"], "Ingredient")
        ),
    )
    return t.filter(mask).to_pandas()
