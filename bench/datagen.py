"""Bulk loader of realistic registry content for benchmarks: N document entries, 20 per
patient, in submissions of 1 to 4 documents, with French codes, authors and folders' worth of
associations. Rows go straight to the tables (COPY on PostgreSQL, executemany on SQLite); each
document's LeafClass XML comes from the real encoder, through a template per code combination.

What it models: a registry fed over months (the default, `--layout interleaved`): a patient's
submissions arrive at random times among everyone else's, so their rows are spread over the
tables and a query for one patient reads about one page per row. `--layout clustered` keeps the
earlier load (each patient's rows written together), which flatters every query by about 4x in
pages read; it is kept for comparison only.

    python bench/datagen.py --database-url URL --documents 100000 [--layout clustered]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import multiprocessing
import os
import random
import re
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree
from sqlalchemy import Engine, insert, select
from sqlalchemy.types import TypeDecorator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xds_server.app import stored_form
from xds_server.ebxml.decode import decode_registered
from xds_server.ebxml.encode import (
    encode_association,
    encode_document,
    encode_submission_set,
)
from xds_server.ebxml.packing import pack, pack_pair
from xds_server.model import vocabulary as v
from xds_server.model.metadata import (
    Association,
    Author,
    Code,
    DocumentEntry,
    SubmissionSet,
)
from xds_server.store.database import make_engine
from xds_server.store.registry_columns import (
    DOCUMENT_COLUMNS,
    DOCUMENT_VALUES,
    VALUE_COLUMNS,
    value_list,
)
from xds_server.store.schema import migrate
from xds_server.store.tables import (
    associations,
    code_schemes,
    document_entries,
    object_index,
    patients,
    submission_sets,
)

INS_TEST = "1.2.250.1.213.1.4.10"
OPENED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
CLASS_TYPE = [("10", "11502-2"), ("10", "18748-4"), ("11", "60591-5"), ("10", "34112-3"),
              ("11", "34133-9"), ("10", "11490-0")]
FORMATS = ["urn:ihe:lab:xd-lab:2008", "urn:asip:ci-sis:vsm:2012", "urn:ihe:iti:xds-sd:pdf:2008"]
PRACTICES = ["AMBULATOIRE", "ETABLISSEMENT", "HAD"]
FACILITIES = ["SA01", "SA07", "SA25"]
AUTHORS = [f"8{n:011d}^NOM{n}^Prenom{n}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
           for n in range(50)]


def patient_id(n: int) -> str:
    return f"{2_000_000_000_000 + n:015d}^^^&{INS_TEST}&ISO"


def patient_key(n: int) -> int:
    """The patient's key in the database (patients.patient_key): its number + 1, so a load
    added with --first-patient gives keys no earlier load gave."""
    return n + 1


class Template:
    """One object's encoded XML cut at its nested ids and filled per row by joining the cuts
    with fresh ids and replacing the markers (no regular expression a row); for a document,
    also the DocumentEntry its XML decodes to (the product's decoder, once a template)."""

    def __init__(self, xml: str, entry: DocumentEntry | None = None) -> None:
        # the XML as literal pieces with slots: a fresh nested id, or a marker's value
        self.pieces: list[str] = []
        self.id_slots: list[int] = []
        self.marker_slots: list[tuple[int, str]] = []
        for n, cut in enumerate(_NESTED_ID.split(xml)):
            if n:
                self.id_slots.append(len(self.pieces))
                self.pieces.append("")
            for m, piece in enumerate(_PLAIN_MARKER.split(cut)):
                if m % 2:
                    self.marker_slots.append((len(self.pieces), piece))
                self.pieces.append(piece)
        self.entry = entry
        # the entry's fields holding a marker: the only ones a row fills (the rest shared)
        self.marked = [f.name for f in dataclasses.fields(entry)
                       if _has_marker(getattr(entry, f.name))] if entry else []

    def text(self, values: dict[str, str]) -> bytes:
        """The XML of one row: fresh nested Classification/ExternalIdentifier ids, markers
        filled with their XML-escaped values (what replacing them in the XML gives)."""
        out = self.pieces.copy()
        for slot, fresh in zip(self.id_slots, _uuids(len(self.id_slots)), strict=True):
            out[slot] = f' id="urn:uuid:{fresh}"'
        escaped = {name: escape(value) for name, value in values.items()}
        for slot, name in self.marker_slots:
            out[slot] = escaped[name]
        return "".join(out).encode()


class Templates:
    """Encoded XML with markers, made once per code combination, filled per row."""

    def __init__(self) -> None:
        self.documents: dict[tuple, Template] = {}
        document_set = SubmissionSet("@UUID@", unique_id="@UID@", patient_id="@PID@",
                                     source_id="1.2.250.1.999.1", submission_time="@TIME@",
                                     content_type_code=Code("26", "1.2.250.1.213.2.2"),
                                     authors=[Author(person="@AUTHOR@")])
        self.set = Template(etree.tostring(encode_submission_set(document_set)).decode())
        self.association = Template(etree.tostring(encode_association(Association(
            "@UUID@", v.HAS_MEMBER, "@SRC@", "@TGT@",
            slots={v.SUBMISSION_SET_STATUS: ["Original"]}))).decode())

    def entry(self, template: Template, values: dict[str, str]) -> DocumentEntry:
        """The template's decoded entry with this row's values (its marked fields only)."""
        entry = copy.copy(template.entry)
        for name in template.marked:
            setattr(entry, name, _filled(getattr(entry, name), values))
        return entry

    def document(self, key: tuple) -> Template:
        if key not in self.documents:
            (class_code, type_code), format_code, practice, facility = key
            entry = DocumentEntry(
                "@UUID@", unique_id="@UID@", patient_id="@PID@", title="Compte rendu",
                mime_type="text/xml", class_code=Code(class_code, "1.2.250.1.213.1.1.4.1"),
                type_code=Code(type_code, "2.16.840.1.113883.6.1"),
                format_code=Code(format_code, "1.3.6.1.4.1.19376.1.2.3"),
                healthcare_facility_type_code=Code(facility, "1.2.250.1.71.4.2.4"),
                practice_setting_code=Code(practice, "1.2.250.1.213.1.1.4.9"),
                confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25")],
                event_codes=[Code("@EVENT@", "1.2.250.1.215.300.1")],
                authors=[Author(person="@AUTHOR@", institutions=[
                    "Hopital^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750100125"])],
                creation_time="@TIME@", service_start_time="@TIME@", hash="0" * 40,
                size="51200", language_code="fr-FR", repository_unique_id="1.2.250.1.999.2",
                source_patient_id="@PID@", logical_id="@UUID@", version="1")
            xml = etree.tostring(encode_document(entry))
            # the decoder wants a urn:uuid: id; _MARKER takes the prefix with the marker
            decoded = decode_registered(etree.fromstring(
                xml.replace(b'"@UUID@"', b'"urn:uuid:@UUID@"')))
            self.documents[key] = Template(xml.decode(), decoded)
        return self.documents[key]


_NESTED_ID = re.compile(r' id="urn:uuid:[0-9a-f-]{36}"')
_MARKER = re.compile("(?:urn:uuid:)?@([A-Z]+)@")
_PLAIN_MARKER = re.compile("@([A-Z]+)@")
_STORED_FORM = stored_form()


def _uuids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, as str(uuid.uuid4()) writes them, from one
    read of urandom (uuid.UUID's constructor was a third of a row's Python time)."""
    raw = os.urandom(16 * count).hex()
    out = []
    for start in range(0, 32 * count, 32):
        h = raw[start:start + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return out


def _new_ids() -> tuple[str, str]:
    """An entryUUID and a uniqueId (2.25 + a UUID's number), random."""
    entry, unique = _uuids(2)
    return f"urn:uuid:{entry}", f"2.25.{int(unique.replace('-', ''), 16)}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _has_marker(value) -> bool:
    if isinstance(value, str):
        return _MARKER.search(value) is not None
    if isinstance(value, list):
        return any(_has_marker(item) for item in value)
    if isinstance(value, dict):
        return any(_has_marker(item) for item in value.values())
    if dataclasses.is_dataclass(value):
        return any(_has_marker(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _filled(value, values: dict[str, str]):
    """A decoded template object with its markers filled (raw values: the model's, not the
    XML's escaped text); dataclasses, lists and dicts copied, the rest shared."""
    if isinstance(value, str):
        return _MARKER.sub(lambda m: values[m.group(1)], value) if "@" in value else value
    if isinstance(value, list):
        return [_filled(item, values) for item in value]
    if isinstance(value, dict):
        return {name: _filled(item, values) for name, item in value.items()}
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(value, **{f.name: _filled(getattr(value, f.name), values)
                                             for f in dataclasses.fields(value)
                                             if f.init})
    return value


def document_value(templates: Templates, template: Template,
                   values: dict[str, str]) -> tuple[bytes, DocumentEntry]:
    """A document's stored value as `EbrimStoredForm.packed` makes it from the same XML
    (tests/test_datagen.py holds them byte-equal): the second form from the template's
    decoded entry with the row's values, instead of parsing and decoding each row's XML
    again (0.55 ms a row)."""
    xml = template.text(values)
    entry = templates.entry(template, values)
    second = _STORED_FORM.second_form(entry)
    return (pack(xml) if second is None else pack_pair(xml, second)), entry


def fill(template: Template, ids: tuple[str, ...] = (), **values: str) -> bytes:
    """A set's or an association's stored value, packed as the registry stores what it
    registers (`EbrimStoredForm.packed`; an association with its `ids` marked)."""
    return _STORED_FORM.packed(template.text(values), ids)


def _plan(patient: int, documents: int, seed: int, slots: int) -> list[tuple[int, int, int]]:
    """A patient's submissions as (slot, number, documents): 1 to 4 documents each, each
    submission falling in one of `slots` periods of the registry's life."""
    rng = random.Random(f"{seed}:{patient}")
    plan, done, number = [], 0, 0
    while done < documents:
        batch = min(rng.randint(1, 4), documents - done)
        plan.append((rng.randrange(slots), number, batch))
        done += batch
        number += 1
    return plan


class _Rows:
    """Rows in the order they will be written, with registration sequence numbers that follow
    that order (as a registry fed over time numbers its registrations)."""

    def __init__(self, seq: int | None = None) -> None:
        self.tables: dict[str, list[dict]] = {name: [] for name in TABLES}
        self.seq = time.time_ns() // 1000 * 1000 if seq is None else seq
        self.documents = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


def _submission(out: _Rows, templates: Templates, patient: int, number: int, batch: int,
                seed: int) -> None:
    """The rows of one submission (a set, `batch` documents and their HasMembers)."""
    rng = random.Random(f"{seed}:{patient}:{number}")
    pid, pkey = patient_id(patient), patient_key(patient)
    rows = out.tables
    set_uuid, set_uid = _new_ids()
    when = f"20{rng.randint(15, 25):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    author = rng.choice(AUTHORS)
    rows["sets"].append({"patient_key": pkey, "entry_uuid": set_uuid, "unique_id": set_uid,
                         "source_id": "1.2.250.1.999.1",
                         "submission_time": when.ljust(14, "0"),
                         "content_type_code": "26",
                         "content_type_scheme": "1.2.250.1.213.2.2",
                         "status": v.APPROVED, "registered_seq": out.next_seq(),
                         "author_persons": value_list("author_person", [(author, "")]),
                         "xml": fill(templates.set, UUID=set_uuid, UID=set_uid,
                                     PID=pid, TIME=when, AUTHOR=author)})
    rows["index"].append({"entry_uuid": set_uuid, "unique_id": set_uid,
                          "kind": "submission_set", "patient_key": pkey})
    for _ in range(batch):
        key = (rng.choice(CLASS_TYPE), rng.choice(FORMATS), rng.choice(PRACTICES),
               rng.choice(FACILITIES))
        doc_uuid, doc_uid = _new_ids()
        event = f"ZZQK{rng.randint(0, 99):03d}"
        status = v.APPROVED if rng.random() > 0.05 else v.DEPRECATED
        stored, entry = document_value(templates, templates.document(key), {
            "UUID": doc_uuid, "UID": doc_uid, "PID": pid, "TIME": when, "AUTHOR": author,
            "EVENT": event})
        # the columns as the registry's write makes them from the entry (registry_store)
        rows["documents"].append({
            **{name: get(entry) for name, get in DOCUMENT_COLUMNS},
            **{VALUE_COLUMNS[kind]: value_list(kind, values_of(entry))
               for kind, values_of in DOCUMENT_VALUES},
            "patient_key": pkey, "status": status, "submission_set": set_uuid,
            "registered_seq": out.next_seq(), "xml": stored})
        rows["index"].append({"entry_uuid": doc_uuid, "unique_id": doc_uid,
                              "kind": "document", "patient_key": pkey})
        association_uuid = f"urn:uuid:{_uuids(1)[0]}"
        rows["associations"].append({
            "patient_key": pkey, "entry_uuid": association_uuid, "type": v.HAS_MEMBER,
            "source": set_uuid, "target": doc_uuid, "status": v.APPROVED,
            "registered_seq": out.next_seq(),
            "xml": fill(templates.association, (association_uuid, set_uuid, doc_uuid),
                        UUID=association_uuid, SRC=set_uuid, TGT=doc_uuid)})
        rows["index"].append({"entry_uuid": association_uuid, "unique_id": None,
                              "kind": "association", "patient_key": pkey})
        out.documents += 1


PER_PATIENT = 20
SLOTS = 20       # periods of the registry's life a patient's submissions are spread over


def submissions(first_patient: int, documents: int, layout: str = "interleaved",
                seed: int = 7) -> tuple[list[tuple[int, int, int]], int]:
    """The order the submissions of `documents` entries (PER_PATIENT a patient, from patient
    number `first_patient`) are registered in, as (patient, number, documents), and the next
    free patient number.

    `interleaved` (the default) models a registry fed over months: each patient's submissions
    fall in random periods, and within a period every patient's submissions are mixed, so one
    patient's rows are spread over the whole table (a query reads one page per row, as in
    production). `clustered` writes each patient's rows together (the load before issue 20:
    about 4x fewer pages per query, a flattering figure)."""
    patients = -(-documents // PER_PATIENT)
    plans = {first_patient + n: _plan(first_patient + n,
                                      min(PER_PATIENT, documents - n * PER_PATIENT), seed,
                                      SLOTS) for n in range(patients)}
    if layout == "clustered":
        order = [(p, number, batch) for p, plan in plans.items() for _, number, batch in plan]
    else:
        rng = random.Random(f"{seed}:order:{first_patient}")
        order = []
        for slot in range(SLOTS):
            period = [(p, number, batch) for p, plan in plans.items()
                      for s, number, batch in plan if s == slot]
            rng.shuffle(period)
            order += period
    return order, first_patient + patients


_MADE: list[Templates] = []


def _templates() -> Templates:
    """One set of templates a process (decoding 162 of them took ~0.3 s a chunk)."""
    if not _MADE:
        _MADE.append(Templates())
    return _MADE[0]


def generate(order: list[tuple[int, int, int]], seed: int = 7,
             seq: int | None = None) -> dict[str, list[dict]]:
    """The rows of these submissions, in this order; each patient row comes with the patient's
    first submission. `seq`: the registration sequence to number them after (default: now)."""
    templates = _templates()
    out = _Rows(seq)
    for patient, number, batch in order:
        if number == 0:
            out.tables["patients"].append({"patient_key": patient_key(patient),
                                           "patient_id": patient_id(patient), "status": "open",
                                           "opened_at": OPENED})
        _submission(out, templates, patient, number, batch, seed)
    return out.tables


TABLES = {"patients": patients, "documents": document_entries, "sets": submission_sets,
          "associations": associations, "index": object_index}


def _binder(column_type, dialect):
    if isinstance(column_type, TypeDecorator):
        return lambda value: column_type.process_bind_param(value, dialect)
    return lambda value: value


def _copy(engine: Engine, rows: dict[str, list[dict]]) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for name, table in TABLES.items():
                if not rows[name]:
                    continue
                columns = list(rows[name][0])
                # each value in its column's stored form (ids and codes: store/keys.py)
                binders = [_binder(table.c[c].type, engine.dialect) for c in columns]
                with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows[name]:
                        copy.write_row([bind(row[c])
                                        for c, bind in zip(columns, binders, strict=True)])
        raw.commit()
    finally:
        raw.close()


def _scheme_keys(engine: Engine, rows: dict[str, list[dict]]) -> None:
    """Each code scheme as its key in code_schemes (0013), added where missing."""
    columns = {name: [c.name for c in TABLES[name].columns if c.name.endswith("_scheme")]
               for name in rows}
    wanted = {row[c] for name, table_rows in rows.items() for row in table_rows
              for c in columns[name] if row.get(c) is not None}
    with engine.begin() as connection:
        known = dict(connection.execute(select(code_schemes.c.scheme,
                                               code_schemes.c.scheme_key)).all())
        missing = sorted(wanted - set(known))
        if missing:
            connection.execute(insert(code_schemes), [{"scheme": s} for s in missing])
            known = dict(connection.execute(select(code_schemes.c.scheme,
                                                   code_schemes.c.scheme_key)).all())
    for name, table_rows in rows.items():
        for row in table_rows:
            for column in columns[name]:
                if row.get(column) is not None:
                    row[column] = known[row[column]]


def _chunk_rows(job: tuple[list[tuple[int, int, int]], int]) -> dict[str, list[dict]]:
    return generate(job[0], seq=job[1])


CHUNK_SEQS = 10**7      # registration numbers a chunk may use (it makes < 200,000 rows)


def load(engine: Engine, documents: int, first_patient: int = 0, chunk: int = 20_000,
         layout: str = "interleaved", part: tuple[int, int] = (1, 1), jobs: int = 1) -> int:
    """Add `documents` entries (`layout`: see `submissions`); returns the next free patient
    number. `part` (k, n): only the k-th of n consecutive slices of the same registration order
    (the order is seeded: loading parts 1..n one after the other, in separate runs, makes
    the same registry as one run, with fresh random ids). `jobs` > 1: rows made in that many
    processes, chunk by chunk in order, this one writing them."""
    migrate(engine)
    order, next_patient = submissions(first_patient, documents, layout)
    index, count = part
    order = order[len(order) * (index - 1) // count:len(order) * index // count]
    if jobs > 1:        # chunks small enough for every process to have some in turn
        chunk = max(500, min(chunk, len(order) // (4 * jobs) + 1))
    seq = time.time_ns() // 1000 * 1000
    work = [(order[start:start + chunk], seq + n * CHUNK_SEQS)
            for n, start in enumerate(range(0, len(order), chunk))]
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
    made = pool.imap(_chunk_rows, work) if pool else map(_chunk_rows, work)
    for rows in made:
        _scheme_keys(engine, rows)
        if engine.dialect.name == "postgresql":
            _copy(engine, rows)
        else:
            with engine.begin() as connection:
                for name, table in TABLES.items():
                    if rows[name]:
                        connection.execute(insert(table), rows[name])
    if pool:
        pool.close()
        pool.join()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            # the keys were given here: the registry's own next patient comes after them
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('patients', 'patient_key'), "
                "(SELECT max(patient_key) FROM patients))")
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return next_patient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--first-patient", type=int, default=0,
                        help="add to a registry already holding patients below this number")
    parser.add_argument("--layout", choices=("interleaved", "clustered"), default="interleaved")
    parser.add_argument("--part", default="1/1", help="K/N: load only the K-th of N slices "
                        "of the registration order (run 1/N .. N/N in turn: one registry)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes making rows (the loading process writes them)")
    args = parser.parse_args()
    index, count = (int(n) for n in args.part.split("/"))
    if not 1 <= index <= count:
        parser.error("--part K/N needs 1 <= K <= N")
    started = time.perf_counter()
    patients_made = load(make_engine(args.database_url), args.documents, args.first_patient,
                         layout=args.layout, part=(index, count), jobs=args.jobs)
    print(f"part {args.part} of {args.documents} documents (patients up to {patients_made}) in "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
