"""The OMOP concepts smoulder reads and writes (CDM v5.4): a small, documented table of data.

Three kinds of entry:

* **standard concepts of the OHDSI vocabulary** that smoulder writes as they are (visit, type,
  gender, unit and yes/no concepts, and the MS disease-modifying drugs as RxNorm ingredients);
* **local concepts** for what has no standard concept that could be confirmed for this table
  (EDSS, the timed 25-foot walk, the 9-hole peg test, the SDMT, an MS relapse, and the MRI
  findings smoulder needs). OMOP reserves concept ids of 2,000,000,000 and above for such custom
  concepts; smoulder uses the block from :data:`LOCAL_BASE` under its own vocabulary id
  ``smoulder`` and writes their CONCEPT and VOCABULARY rows beside every export, so the export
  describes itself. A site that has mapped them to standard concepts of its own gives those ids
  with ``--concepts FILE`` (see :mod:`smoulder.io.omop`).
* **drugs**: each substance of :mod:`smoulder.schema.treatments` with its RxNorm code (RxCUI) and,
  where known here, the OMOP concept id of the RxNorm ingredient. ``checked`` says where an id was
  confirmed. With an Athena vocabulary download (``--vocabulary DIR``) every drug is resolved from
  it by vocabulary and name instead, and ``smoulder export omop-concepts --vocabulary DIR``
  compares this whole table with it.

Nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass

#: first id of smoulder's block of local (custom) concepts; OMOP reserves ids >= 2,000,000,000
LOCAL_BASE = 2_070_000_000
LOCAL_VOCABULARY = "smoulder"
#: no matching concept (OMOP convention)
NO_MATCH = 0


@dataclass(frozen=True)
class Concept:
    """One concept: id, name, domain, vocabulary, code, and whether it is a standard concept.

    ``key`` is smoulder's name for what it means (``edss``, ``registry``, a substance name);
    ``checked`` says where the id was confirmed against the OHDSI vocabulary (empty: not
    confirmed here; resolve it with ``--vocabulary``).
    """

    key: str
    concept_id: int | None
    name: str
    domain: str
    vocabulary_id: str
    concept_class_id: str
    concept_code: str | None
    standard: bool = True
    checked: str = ""

    @property
    def local(self) -> bool:
        return self.concept_id is not None and self.concept_id >= 2_000_000_000


def _local(n: int, key: str, name: str, domain: str, cls: str) -> Concept:
    return Concept(key, LOCAL_BASE + n, name, domain, LOCAL_VOCABULARY, cls, key, True, "local")


_CDM_DOCS = "OMOP CDM v5.4 conventions"

#: standard concepts smoulder writes into fixed fields
STANDARD: tuple[Concept, ...] = (
    Concept("outpatient_visit", 9202, "Outpatient Visit", "Visit", "Visit", "Visit", "OP"),
    Concept("registry", 32879, "Registry", "Type Concept", "Type Concept", "Type Concept", None),
    Concept("ehr", 32817, "EHR", "Type Concept", "Type Concept", "Type Concept", None),
    Concept("male", 8507, "MALE", "Gender", "Gender", "Gender", "M"),
    Concept("female", 8532, "FEMALE", "Gender", "Gender", "Gender", "F"),
    Concept("second", 8555, "second", "Unit", "UCUM", "Unit", "s"),
    Concept("minute", 8550, "minute", "Unit", "UCUM", "Unit", "min"),
    Concept("yes", 4188539, "Yes", "Meas Value", "SNOMED", "Qualifier Value", "373066001"),
    Concept("no", 4188540, "No", "Meas Value", "SNOMED", "Qualifier Value", "373067005"),
)

#: local concepts: no standard concept confirmed for these
LOCAL: tuple[Concept, ...] = (
    _local(
        1,
        "edss",
        "Expanded Disability Status Scale (EDSS) score",
        "Measurement",
        "Observable Entity",
    ),
    _local(2, "t25fw", "Timed 25-Foot Walk time", "Measurement", "Observable Entity"),
    _local(3, "nhpt", "Nine-Hole Peg Test time", "Measurement", "Observable Entity"),
    _local(4, "sdmt", "Symbol Digit Modalities Test score", "Measurement", "Observable Entity"),
    _local(10, "relapse", "Relapse of multiple sclerosis (onset)", "Condition", "Clinical Finding"),
    _local(20, "mri_scan", "MRI of brain for MS activity", "Procedure", "Procedure"),
    _local(
        21,
        "mri_active",
        "MRI activity: new or enlarging T2 or gadolinium-enhancing lesion",
        "Measurement",
        "Observable Entity",
    ),
    _local(
        22,
        "mri_new_t2",
        "Number of new or enlarging T2 lesions",
        "Measurement",
        "Observable Entity",
    ),
    _local(
        23, "mri_gd", "Number of gadolinium-enhancing lesions", "Measurement", "Observable Entity"
    ),
)

_PEDSNET = "RxNorm ingredient row of an OHDSI-vocabulary codeset (PEDSnet rx_rituximab)"
_RXCUI = "RxCUI confirmed in a published MS treatment code list; OMOP id not confirmed here"


def _drug(name: str, concept_id: int | None, rxcui: str | None, checked: str = "") -> Concept:
    return Concept(name, concept_id, name, "Drug", "RxNorm", "Ingredient", rxcui, True, checked)


#: MS disease-modifying drugs as RxNorm ingredients (key = substance name of schema.treatments)
DRUGS: tuple[Concept, ...] = (
    _drug("rituximab", 1314273, "121191", _PEDSNET),
    _drug("natalizumab", 735843, "354770", _RXCUI),
    _drug("alemtuzumab", 1312706, "117055", _RXCUI),
    _drug("fingolimod", 40226579, "1012892", _RXCUI),
    _drug("glatiramer acetate", 751889, "214582", _RXCUI),
    _drug("dimethyl fumarate", 43526424, "1373478", _RXCUI),
    _drug("teriflunomide", 42904205, "1310520", _RXCUI),
    _drug("mitoxantrone", 1309188, "7005", _RXCUI),
    _drug("interferon beta-1a", 722424, "72257"),
    _drug("interferon beta-1b", 713196, "75917"),
    _drug("cladribine", 19054825, "44157"),
    _drug("ofatumumab", 40167582, "712566"),
    _drug("ocrelizumab", None, "1876366"),
    _drug("ublituximab", None, None),
    _drug("siponimod", None, None),
    _drug("ozanimod", None, None),
    _drug("ponesimod", None, None),
    _drug("diroximel fumarate", None, None),
    _drug("monomethyl fumarate", None, None),
    _drug("peginterferon beta-1a", None, None),
    _drug("daclizumab", None, None),
    # off-label immunosuppressants of the controlled list (RxNorm ingredients; OMOP ids not confirmed here)
    _drug("azathioprine", None, "1256"),
    _drug("cyclophosphamide", None, "3002"),
    _drug("methotrexate", None, "6851"),
    _drug("mycophenolate mofetil", None, "68149"),
)

#: the smoulder treatments with no RxNorm ingredient (a procedure, placebo, investigational substances)
NOT_DRUGS = (
    "aHSCT",
    "placebo",
    "tolebrutinib",
    "evobrutinib",
    "fenebrutinib",
    "remibrutinib",
)

ALL: tuple[Concept, ...] = STANDARD + LOCAL + DRUGS
BY_KEY: dict[str, Concept] = {c.key: c for c in ALL}

#: measurement value columns of the visits table and their concept keys
OUTCOMES = ("edss", "t25fw", "nhpt", "sdmt")
#: outcomes measured in seconds
TIMED = ("t25fw", "nhpt")


def concept_id(key: str) -> int:
    """The concept id smoulder writes for ``key`` (0 when none is known)."""
    c = BY_KEY[key]
    return c.concept_id if c.concept_id is not None else NO_MATCH


def drug_concept(substance: str) -> Concept | None:
    """The RxNorm ingredient entry of a substance name of :mod:`smoulder.schema.treatments`."""
    c = BY_KEY.get(substance)
    return c if c is not None and c.domain == "Drug" else None


__all__ = [
    "ALL",
    "BY_KEY",
    "Concept",
    "DRUGS",
    "LOCAL",
    "LOCAL_BASE",
    "LOCAL_VOCABULARY",
    "NOT_DRUGS",
    "NO_MATCH",
    "OUTCOMES",
    "STANDARD",
    "TIMED",
    "concept_id",
    "drug_concept",
]
