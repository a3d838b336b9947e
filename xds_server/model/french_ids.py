"""French national identifiers (CI-SIS): the INS of a patient, the national ids of health
professionals and structures. OIDs from the ANS (CI-SIS "Partage de documents de santé",
FR Core `FRCorePatientINSProfile`, idNat_PS / idNat_Struct)."""

from __future__ import annotations

import re

INS_NIR = "1.2.250.1.213.1.4.8"
INS_NIA = "1.2.250.1.213.1.4.9"
INS_NIR_TEST = "1.2.250.1.213.1.4.10"
INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_PRODUCTION = frozenset({INS_NIR, INS_NIA})
INS_TEST = frozenset({INS_NIR_TEST, INS_NIR_DEMO})

PS_NATIONAL_ID = "1.2.250.1.71.4.2.1"        # idNat_PS
STRUCTURE_NATIONAL_ID = "1.2.250.1.71.4.2.2"  # idNat_Struct

_NIR = re.compile(r"[1-478][0-9]{2}(0[1-9]|1[0-2]|[2-9][0-9])(2[AB]|[0-9]{2})[0-9]{8}")


def ins_oids(accept_test: bool) -> frozenset[str]:
    return INS_PRODUCTION | INS_TEST if accept_test else INS_PRODUCTION


def nir_problem(value: str, check_key: bool = True) -> str | None:
    """What is wrong with a 15-character NIR/NIA (13 characters and a key), or None.

    The key is not checked for test and demo INS: the ANS's fictitious patients break it."""
    if len(value) != 15 or not _NIR.fullmatch(value):
        return (f"'{value}' is not a NIR/NIA: 15 characters, sex digit, year, month, "
                "department, commune, order number and a 2-digit key")
    if not check_key:
        return None
    digits = value[:13].replace("2A", "19").replace("2B", "18")
    key = 97 - int(digits) % 97
    if int(value[13:]) != key:
        return f"'{value}' has the key {value[13:]}, but its first 13 characters give {key:02d}"
    return None


def ins_problem(identifier: str, authority: str, accept_test: bool) -> str | None:
    """Why (`identifier`, `authority`) is not an INS this server accepts, or None."""
    if authority in INS_TEST and not accept_test:
        return (f"assigning authority {authority} is a test/demo INS OID, refused in production "
                "(set XDS_ACCEPT_TEST_INS=true on a test platform)")
    if authority not in ins_oids(accept_test):
        return (f"assigning authority '{authority}' is not an INS OID ({INS_NIR} NIR, "
                f"{INS_NIA} NIA)")
    return nir_problem(identifier, check_key=authority in INS_PRODUCTION)
