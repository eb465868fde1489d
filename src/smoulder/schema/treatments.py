"""A controlled vocabulary of disease-modifying therapies (DMTs) for multiple sclerosis.

Each therapy has one substance name (INN, lower case), its class, and the brand names and spellings
under which clinics record it. :func:`canonical_treatment` maps what a clinic typed to the substance
only on an exact match after normalisation (case, spaces, hyphens, "β" for "beta"): "Ocrevus",
"OCRELIZUMAB" and "ocrelizumab " are ocrelizumab, "ocrelizumab 600 mg (Mrs Smith)" is not, so free text
never passes for a coded value. Views that must not show free text (the pseudonymised researcher
view) show the substance and class, or nothing.

Classes follow the usual grouping of MS therapies by mechanism (anti-CD20 antibodies, S1P receptor
modulators, fumarates, ...). Bruton tyrosine kinase inhibitors are listed as investigational.

Examples
--------
>>> canonical_treatment("Kesimpta").name
'ofatumumab'
>>> canonical_treatment("interferon beta 1a").drug_class
'interferon beta'
>>> canonical_treatment("vitamin D") is None
True
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ANTI_CD20 = "anti-CD20 monoclonal antibody"
S1P = "S1P receptor modulator"
FUMARATE = "fumarate"
INTERFERON = "interferon beta"
BTKI = "Bruton tyrosine kinase inhibitor (investigational)"


@dataclass(frozen=True)
class Treatment:
    """One disease-modifying therapy: substance name, class, other names it is recorded under."""

    name: str
    drug_class: str
    synonyms: tuple[str, ...] = ()


TREATMENTS: tuple[Treatment, ...] = (
    Treatment("ocrelizumab", ANTI_CD20, ("Ocrevus", "Ocrevus Zunovo")),
    Treatment("ofatumumab", ANTI_CD20, ("Kesimpta", "Arzerra")),
    Treatment("rituximab", ANTI_CD20, ("Rituxan", "MabThera", "Truxima", "Ruxience", "Riabni")),
    Treatment("ublituximab", ANTI_CD20, ("Briumvi",)),
    Treatment("natalizumab", "anti-alpha4 integrin monoclonal antibody", ("Tysabri", "Tyruko")),
    Treatment("alemtuzumab", "anti-CD52 monoclonal antibody", ("Lemtrada",)),
    Treatment("fingolimod", S1P, ("Gilenya", "Tascenso")),
    Treatment("siponimod", S1P, ("Mayzent",)),
    Treatment("ozanimod", S1P, ("Zeposia",)),
    Treatment("ponesimod", S1P, ("Ponvory",)),
    Treatment("dimethyl fumarate", FUMARATE, ("Tecfidera", "DMF")),
    Treatment("diroximel fumarate", FUMARATE, ("Vumerity",)),
    Treatment("monomethyl fumarate", FUMARATE, ("Bafiertam",)),
    Treatment("teriflunomide", "pyrimidine synthesis inhibitor", ("Aubagio",)),
    Treatment("interferon beta-1a", INTERFERON, ("Avonex", "Rebif", "IFN beta-1a")),
    Treatment("peginterferon beta-1a", INTERFERON, ("Plegridy",)),
    Treatment("interferon beta-1b", INTERFERON, ("Betaseron", "Betaferon", "Extavia")),
    Treatment("glatiramer acetate", "glatiramer acetate", ("Copaxone", "Glatopa", "glatiramer")),
    Treatment("cladribine", "purine analogue (immune reconstitution)", ("Mavenclad",)),
    Treatment("mitoxantrone", "anthracenedione immunosuppressant", ("Novantrone",)),
    Treatment("daclizumab", "anti-CD25 monoclonal antibody (withdrawn)", ("Zinbryta",)),
    Treatment(
        "autologous haematopoietic stem cell transplantation",
        "immune reconstitution (procedure)",
        ("aHSCT", "AHSCT", "autologous hematopoietic stem cell transplantation"),
    ),
    Treatment("tolebrutinib", BTKI),
    Treatment("evobrutinib", BTKI),
    Treatment("fenebrutinib", BTKI),
    Treatment("remibrutinib", BTKI),
)

MAX_TYPED_LENGTH = 80


def _key(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).casefold().replace("β", "beta")
    return re.sub(r"[^0-9a-z]", "", t)


_INDEX: dict[str, Treatment] = {}
for _t in TREATMENTS:
    for _n in (_t.name, *_t.synonyms):
        _INDEX[_key(_n)] = _t


def canonical_treatment(typed: str | None) -> Treatment | None:
    """The therapy a clinic's entry names, or None when it is not on the controlled list.

    Parameters
    ----------
    typed : str or None
        The drug as recorded (substance or brand name, any case and spacing).

    Returns
    -------
    Treatment or None
        Substance name and class; None for anything else (free text is never passed through).
    """
    if not isinstance(typed, str) or len(typed) > MAX_TYPED_LENGTH:
        return None
    key = _key(typed)
    return _INDEX.get(key) if key else None


def treatment_names() -> list[str]:
    """Substance names on the controlled list, sorted."""
    return sorted(t.name for t in TREATMENTS)


__all__ = ["Treatment", "TREATMENTS", "canonical_treatment", "treatment_names"]
