"""The controlled vocabulary of MS disease courses (Lublin et al., Neurology 2014).

Clinics record the course as a code; imports accept the code or its name in any case
(``rrms``, ``Relapsing-remitting``), and store the code.

Examples
--------
>>> canonical_course("spms")
'SPMS'
>>> canonical_course("relapsing-remitting")
'RRMS'
>>> canonical_course("benign") is None
True
>>> COURSES["CIS"]
'clinically isolated syndrome'
"""

from __future__ import annotations

__all__ = ["COURSES", "PLAIN", "canonical_course"]

#: code -> name, as clinicians say it
COURSES: dict[str, str] = {
    "CIS": "clinically isolated syndrome",
    "RRMS": "relapsing-remitting MS",
    "SPMS": "secondary progressive MS",
    "PPMS": "primary progressive MS",
}

#: code -> words for a person with MS
PLAIN: dict[str, str] = {
    "CIS": "a first episode of symptoms (clinically isolated syndrome)",
    "RRMS": "relapsing-remitting MS: attacks with recovery in between",
    "SPMS": "secondary progressive MS: slow worsening after a relapsing phase",
    "PPMS": "primary progressive MS: slow worsening from the start",
}

_SYNONYMS = {
    "clinically isolated syndrome": "CIS",
    "relapsing-remitting": "RRMS",
    "relapsing remitting": "RRMS",
    "relapsing-remitting ms": "RRMS",
    "secondary progressive": "SPMS",
    "secondary progressive ms": "SPMS",
    "primary progressive": "PPMS",
    "primary progressive ms": "PPMS",
}


def canonical_course(text: object) -> str | None:
    """The course code for ``text`` (a code or a name, any case), or None when it is not one."""
    if not isinstance(text, str):
        return None
    t = " ".join(text.strip().split())
    if t.upper() in COURSES:
        return t.upper()
    return _SYNONYMS.get(t.lower())
