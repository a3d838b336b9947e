"""Bulk loader of realistic registry content for benchmarks: N document entries, 20 per
patient, in submissions of 1 to 4 documents, with French codes, authors and folders' worth of
associations. Rows go straight to the tables (COPY on PostgreSQL, executemany on SQLite); each
object's stored value is the registry's own (datagen_forms.py: the real encoder's XML per code
combination, packed as a registration packs it; a document's columns by the registry's column
table), which tests/test_datagen.py holds to a registration of the same objects, row by row.

What it models: a registry fed over months (the default, `--layout interleaved`): a patient's
submissions arrive at random times among everyone else's, so their rows are spread over the
tables and a query for one patient reads about one page per row; the indexes grow by inserts in
that order, as a registration's do. `--layout clustered` keeps the earlier load (each patient's
rows written together), which flatters every query by about 4x in pages read; it is kept for
comparison only.

Large loads: `--part K/N` loads the K-th of N consecutive slices of the same (seeded)
registration order, so 1/N .. N/N run one after the other (each within a heavy-lock hold) make
the registry one run would; `--jobs 2` makes the rows in two processes while this one writes.

    python bench/datagen.py --database-url URL --documents 100000 [--layout clustered]
    for k in $(seq 1 20); do flock /tmp/xds-heavy.lock python bench/datagen.py \
        --database-url URL --documents 1000000 --part $k/20 --jobs 2; done
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import random
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.types import TypeDecorator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import datagen_forms as forms
from datagen_forms import Templates, document_value, fill, new_ids, uuids

from xds_server.model import vocabulary as v
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
    set_uuid, set_uid = new_ids()
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
        doc_uuid, doc_uid = new_ids()
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
        association_uuid = f"urn:uuid:{uuids(1)[0]}"
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


def first_submissions(order: list[tuple[int, int, int]]) -> list[bool]:
    """For each submission of `order`, whether it is its patient's first in that order (the
    patient's record is opened just before it, as the feed opens a record before the first
    submission; not the patient's submission number 0, which may come later in the order)."""
    seen: set[int] = set()
    firsts = []
    for patient, _, _ in order:
        firsts.append(patient not in seen)
        seen.add(patient)
    return firsts


def generate(order: list[tuple[int, int, int]], seed: int = 7, seq: int | None = None,
             opens: list[bool] | None = None) -> dict[str, list[dict]]:
    """The rows of these submissions, in this order; a patient row comes before the patient's
    first submission (`opens`: which of them open a record; default: `first_submissions`).
    `seq`: the registration sequence to number them after (default: now)."""
    templates = forms.templates()
    out = _Rows(seq)
    for (patient, number, batch), first in zip(order, opens or first_submissions(order),
                                               strict=True):
        if first:
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


def _chunk_rows(job: tuple[list[tuple[int, int, int]], int, list[bool]]
                ) -> dict[str, list[dict]]:
    return generate(job[0], seq=job[1], opens=job[2])


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
    start, end = len(order) * (index - 1) // count, len(order) * index // count
    opens = first_submissions(order)[start:end]     # over the whole order: parts agree
    order = order[start:end]
    if jobs > 1:        # chunks small enough for every process to have some in turn
        chunk = max(500, min(chunk, len(order) // (4 * jobs) + 1))
    seq = time.time_ns() // 1000 * 1000
    work = [(order[start:start + chunk], seq + n * CHUNK_SEQS, opens[start:start + chunk])
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
