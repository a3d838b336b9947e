"""Writes the project's own CI-SIS sample documents (fictitious patient and professionals, the
INS test OID 1.2.250.1.213.1.4.10): a structured lab report (CR-BIO), its replacement (RPLC),
a level-1 PDF document and a medical summary (VSM). Template ids, codes and value-set members
are those of the CI-SIS volets; names, numbers and results are invented.

    python cda_samples/build.py            # rewrite the samples
    python cda_samples/build.py --check    # exit 1 when a committed sample differs
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from parts import (  # type: ignore[import-not-found]
    CR_BIO_BODY,
    VSM_BODY,
    header,
    non_xml_body,
    structured_body,
)

HERE = Path(__file__).resolve().parent
LAB_REPORT_ID = "1.2.250.1.999.7.1.1"
LAB_SET_ID = "1.2.250.1.999.7.1"


def tiny_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a few lines of text, its cross-reference table computed."""
    text = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(
        f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return out


def pdf_b64(lines: list[str]) -> str:
    return base64.b64encode(tiny_pdf(lines)).decode("ascii")


LAB_PDF = pdf_b64(["Laboratoire Exemple - Compte rendu d'examens biologiques",
                   "Patient : EXEMPLE Camille, nee le 14/06/1985",
                   "Glucose a jeun : 5,2 mmol/L (3,9 - 5,8)",
                   "Creatinine : 68 umol/L (45 - 90)"])


def documents() -> dict[str, str]:
    lab = dict(volet_templates=["1.3.6.1.4.1.19376.1.3.3", "1.2.250.1.213.1.1.1.55"],
               code=("11502-2", "CR d'examens biologiques"),
               title="Compte rendu d'examens biologiques", set_id=LAB_SET_ID,
               service=("18719-5", "Biochimie"), lab=True)
    return {
        "CR-BIO_glycemie-creatinine.xml": header(
            doc_id=LAB_REPORT_ID, version=1, effective="20261102170000+0100", **lab,
            body=structured_body(CR_BIO_BODY.format(pdf=LAB_PDF))),
        "CR-BIO_glycemie-creatinine_RPLC.xml": header(
            doc_id="1.2.250.1.999.7.1.2", version=2, effective="20261103091500+0100",
            replaces=LAB_REPORT_ID, **lab,
            body=structured_body(CR_BIO_BODY.format(pdf=LAB_PDF))),
        "DOC-NON-STRUCTURE_pdf.xml": header(
            doc_id="1.2.250.1.999.7.2.1", version=1, effective="20261104103000+0100",
            volet_templates=["1.3.6.1.4.1.19376.1.2.20"],
            code=("11488-4", "Note de consultation"), title="Courrier de consultation",
            set_id="1.2.250.1.999.7.2", service=("11488-4", "Note de consultation"),
            body=non_xml_body(pdf_b64(["Cabinet Exemple - Courrier de consultation",
                                       "Patient : EXEMPLE Camille",
                                       "Consultation de suivi du 04/11/2026."]))),
        "VSM_synthese.xml": header(
            doc_id="1.2.250.1.999.7.3.1", version=1, effective="20261105110000+0100",
            volet_templates=["1.2.250.1.213.1.1.1.13"],
            code=("SYNTH", "Synthèse"), code_system="1.2.250.1.213.1.1.4.12",
            title="Volet de synthèse médicale", set_id="1.2.250.1.999.7.3",
            service=("SYNTH", "Synthèse"), service_system="1.2.250.1.213.1.1.4.12",
            body=structured_body(VSM_BODY)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for name, text in documents().items():
        path = HERE / name
        content = text.encode("utf-8")
        if args.check:
            if not path.is_file() or path.read_bytes() != content:
                stale.append(name)
        else:
            path.write_bytes(content)
    if stale:
        print("out of date (run cda_samples/build.py):", " ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
