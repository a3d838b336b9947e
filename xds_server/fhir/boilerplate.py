"""How `ebxml/dictionaries/fhir-1.json`, the dictionary the registry packs the kept
DocumentReference text with (stored_forms.py, packing format 0x02), was made: the kept form of
one DocumentEntry with every field, placeholder values (FHIR and PDSm keys, profile and
extension URLs, code systems as URIs, the contained resources' shapes; no data of anyone's).

Never rebuild fhir-1.json in place: rows packed with it must stay readable. A better dictionary
is a new file and a new format byte (packing.py), and tests pin every file's hash.

    .venv/bin/python -m xds_server.fhir.boilerplate OUT.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..model.placeholders import document_entry
from .stored_forms import document_form


def dictionary() -> bytes:
    form = document_form(document_entry())
    assert form is not None
    return form


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(dictionary())
