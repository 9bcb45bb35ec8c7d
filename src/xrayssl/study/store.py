"""The study's runs and results: SQLite in the study folder by default, PostgreSQL for many machines.

Claims are atomic, so any number of processes, on one machine or many, each get a different run:

* SQLite: ``BEGIN IMMEDIATE`` takes the write lock before the claim reads, so claims happen one at a time.
* PostgreSQL: the claim's ``SELECT ... FOR UPDATE SKIP LOCKED`` locks the chosen row until the claim commits
  and makes every other claimer pass over it, so claims run side by side without blocking each other.

Both run the same statements (SQLAlchemy Core); only the lock differs. A claimed run carries its worker's
host, pid and a heartbeat. A run whose worker died is handed out again: at once when the worker was on this
host and its pid is gone, otherwise when its heartbeat is older than ``stale_seconds``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Float, Integer, MetaData, Table, Text, func, inspect, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateSchema

from xrayssl.errors import XraySSLError
from xrayssl.processes import pid_alive
from xrayssl.study import backend
from xrayssl.study.backend import DB_NAME, LOCATION

STORE_VERSION = 1  # the tables' layout; a store written by a newer xrayssl is refused
FINAL_KIND = "finalize"  # claimable only once every other run is done
_DDL_LOCK = 0x78726179  # PostgreSQL advisory lock: one process at a time creates a study's schema

_metadata = MetaData()
META = Table("meta", _metadata, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))
RUNS = Table(
    "runs",
    _metadata,
    Column("id", Text, primary_key=True),
    Column("ord", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("status", Text, nullable=False, server_default="pending"),  # pending | running | done | failed
    Column("host", Text),
    Column("pid", Integer),
    Column("heartbeat", Float),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("started", Float),
    Column("finished", Float),
    Column("result", Text),  # JSON
    Column("error", Text),
)


@dataclass
class StoreConfig:
    """Where the study's runs are kept and when a silent worker counts as dead."""

    url: str = ""  # "": study.sqlite in the study folder; postgresql://USER@HOST[:PORT]/DATABASE for many machines
    stale_seconds: float = 600.0  # a run whose heartbeat is older than this is handed out again
    heartbeat_seconds: float = 30.0  # how often a worker's heartbeat is written

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_seconds <= self.stale_seconds / 2:
            raise XraySSLError(
                f"heartbeat every {self.heartbeat_seconds:g} s must be > 0 and at most half the "
                f"{self.stale_seconds:g} s after which a silent worker counts as dead"
            )
        if self.url:
            backend.parse_url(self.url)


class Store:
    """The runs of the study in ``folder``. ``create`` makes a new store (nothing is written otherwise)."""

    def __init__(self, folder: str | Path, config: StoreConfig | None = None, *, create: bool = False) -> None:
        self.folder = Path(folder)
        self.config = config or StoreConfig()
        self.host = socket.gethostname()
        location = backend.locate(self.folder, self.config.url, create)
        new_folder, recorded = create and not self.folder.exists(), False
        if not location.sqlite:
            backend.check_reachable(location)
            if create and not (self.folder / LOCATION).is_file():
                location, recorded = backend.record_location(self.folder, location)
        self.location = location
        self.path = self.folder / (DB_NAME if location.sqlite else LOCATION)  # its parent is the study folder
        self.engine = backend.engine_for(location)
        try:
            if create:
                self._create()
            else:
                self._check()
        except DBAPIError as exc:
            if recorded:  # e.g. no right to create a schema: leave no store.json pointing at nothing
                (self.folder / LOCATION).unlink(missing_ok=True)
            if new_folder:
                with contextlib.suppress(OSError):
                    self.folder.rmdir()  # only if empty: another process may be starting the same study
            raise XraySSLError(f"{self.shown}: {backend.first_line(exc)}") from None

    @property
    def shown(self) -> str:
        return str(self.path) if self.location.sqlite else f"{self.location.shown()} (schema {self.location.schema})"

    @property
    def postgres(self) -> bool:
        return not self.location.sqlite

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(xrayssl_write=True)  # SQLite: BEGIN IMMEDIATE (see backend)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def _insert_ignore(self, table: Table):
        return (pg_insert if self.postgres else sqlite_insert)(table).on_conflict_do_nothing()

    def _create(self) -> None:
        if self.location.sqlite:
            self.folder.mkdir(parents=True, exist_ok=True)
        with self._write() as db:
            if self.postgres:  # two shards starting one study at once must not both create its tables
                db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
                db.execute(CreateSchema(self.location.schema, if_not_exists=True))
            _metadata.create_all(db)
            db.execute(self._insert_ignore(META).values(key="store_version", value=json.dumps(STORE_VERSION)))

    def _check(self) -> None:
        with self._read() as db:
            if not inspect(db).has_table("meta", schema=self.location.schema):
                raise XraySSLError(f"{self.folder}: not a study folder ({self.shown} holds no study)")
        version = self.get_meta("store_version") or 1  # stores from before the version was recorded are 1
        if version > STORE_VERSION:
            raise XraySSLError(
                f"{self.shown}: study store version {version}, this xrayssl reads up to {STORE_VERSION}; update it"
            )

    # --- study-wide values -------------------------------------------------
    def get_meta(self, key: str) -> Any:
        with self._read() as db:
            value = db.execute(select(META.c.value).where(META.c.key == key)).scalar()
        return None if value is None else json.loads(value)

    def set_meta_once(self, key: str, value: Any) -> Any:
        """Store ``value`` unless the key exists; return what is stored (first writer wins)."""
        with self._write() as db:
            db.execute(self._insert_ignore(META).values(key=key, value=json.dumps(value)))
            return json.loads(db.execute(select(META.c.value).where(META.c.key == key)).scalar_one())

    def set_meta(self, key: str, value: Any) -> None:
        """Replace a study-wide value (a grown study's config)."""
        with self._write() as db:
            db.execute(META.delete().where(META.c.key == key))
            db.execute(META.insert().values(key=key, value=json.dumps(value)))

    # --- runs ----------------------------------------------------------------
    def reopen(self, kind: str) -> int:
        """Hand finished runs of ``kind`` out again (the final step of a grown study); returns how many."""
        with self._write() as db:
            return db.execute(
                update(RUNS).where(RUNS.c.kind == kind, RUNS.c.status != "running").values(status="pending")
            ).rowcount

    def add_runs(self, runs: list[tuple[str, str, dict[str, Any]]]) -> int:
        """(id, kind, params) rows; existing ids are kept as they are. Returns how many were new."""
        rows = [
            {"id": rid, "ord": i, "kind": kind, "params": json.dumps(params, sort_keys=True)}
            for i, (rid, kind, params) in enumerate(runs)
        ]
        with self._write() as db:
            before = db.execute(select(func.count()).select_from(RUNS)).scalar_one()
            if rows:
                db.execute(self._insert_ignore(RUNS), rows)
            return db.execute(select(func.count()).select_from(RUNS)).scalar_one() - before

    def retry_failed(self) -> int:
        with self._write() as db:
            return db.execute(
                update(RUNS).where(RUNS.c.status == "failed").values(status="pending", error=None)
            ).rowcount

    def owner_dead(self, run: dict[str, Any], now: float | None = None) -> str | None:
        """Why the worker holding a running run counts as dead (None: alive): its pid is gone from this host,
        or, on any host, its heartbeat is older than ``stale_seconds``."""
        now = time.time() if now is None else now
        silent = now - (run["heartbeat"] or 0)
        if silent > self.config.stale_seconds:
            return f"no heartbeat for {silent / 60:.0f} min"
        if run["host"] == self.host and not pid_alive(run["pid"]):
            return "its process has exited"
        return None

    def claim(self, shard: int = 0, n_shards: int = 1) -> dict[str, Any] | None:
        """Atomically take the next pending run of this shard (or a run whose worker died)."""
        now = time.time()
        with self._write() as db:
            self._release_dead(db, now)
            row = self._next(db, RUNS.c.kind != FINAL_KIND, RUNS.c.ord % n_shards == shard)
            if row is None and self._all_but_final_done(db):  # the final step, by whichever process gets here
                row = self._next(db, RUNS.c.kind == FINAL_KIND)
            if row is None:
                return None
            db.execute(
                update(RUNS)
                .where(RUNS.c.id == row.id)
                .values(
                    status="running",
                    host=self.host,
                    pid=os.getpid(),
                    heartbeat=now,
                    started=now,
                    attempts=RUNS.c.attempts + 1,
                )
            )
        return {"id": row.id, "kind": row.kind, "params": json.loads(row.params)}

    def _next(self, db: Connection, *where: Any) -> Any:
        # FOR UPDATE SKIP LOCKED: PostgreSQL locks this row until the claim commits, and concurrent claimers
        # skip it instead of waiting; SQLite has no row locks (and needs none under BEGIN IMMEDIATE)
        query = (
            select(RUNS.c.id, RUNS.c.kind, RUNS.c.params)
            .where(RUNS.c.status == "pending", *where)
            .order_by(RUNS.c.ord)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return db.execute(query).first()

    def _all_but_final_done(self, db: Connection) -> bool:
        left = select(func.count()).select_from(RUNS).where(RUNS.c.kind != FINAL_KIND, RUNS.c.status != "done")
        return db.execute(left).scalar_one() == 0

    def _release_dead(self, db: Connection, now: float) -> None:
        running = db.execute(select(RUNS).where(RUNS.c.status == "running")).mappings().all()
        for run in running:
            if self.owner_dead(dict(run), now):
                # only that claim: another process may have released and re-claimed the run meanwhile
                same_claim = (RUNS.c.host == run["host"], RUNS.c.pid == run["pid"], RUNS.c.started == run["started"])
                db.execute(
                    update(RUNS)
                    .where(RUNS.c.id == run["id"], RUNS.c.status == "running", *same_claim)
                    .values(status="pending")
                )

    def heartbeat(self, run_id: str) -> bool:
        """Say this worker still runs ``run_id``; False when the run is no longer this worker's."""
        with self._write() as db:
            mine = (
                RUNS.c.id == run_id,
                RUNS.c.status == "running",
                RUNS.c.pid == os.getpid(),
                RUNS.c.host == self.host,
            )
            return db.execute(update(RUNS).where(*mine).values(heartbeat=time.time())).rowcount == 1

    def finish(self, run_id: str, result: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(status="done", finished=time.time(), result=json.dumps(result), error=None)
            )

    def fail(self, run_id: str, error: str) -> None:
        with self._write() as db:
            db.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(status="failed", finished=time.time(), error=error[-4000:])
            )

    def counts(self) -> dict[str, int]:
        with self._read() as db:
            rows = db.execute(select(RUNS.c.status, func.count()).group_by(RUNS.c.status)).all()
        return {status: n for status, n in rows}

    def runs(self, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """The runs (params and result decoded), in the plan's order; results in today's keys."""
        query = select(RUNS).order_by(RUNS.c.ord)
        if kind:
            query = query.where(RUNS.c.kind == kind)
        if status:
            query = query.where(RUNS.c.status == status)
        with self._read() as db:
            rows = db.execute(query).mappings().all()
        out = []
        for r in rows:
            d = dict(r)
            d["params"] = json.loads(d["params"])
            d["result"] = upgraded(json.loads(d["result"])) if d["result"] else None
            out.append(d)
        return out


# results stored before label tasks held AUROC under these names: read as the primary metric's (binary: AUROC)
LEGACY_KEYS = {"test_score": "test_auroc", "test_score_ci": "test_auroc_ci", "val_score": "val_auroc",
               "val_score_by_C": "val_auroc_by_C"}  # fmt: skip


def upgraded(result: Any) -> Any:
    """A run's stored result in today's keys (``metric``, ``test_score``, ...), whenever it was written."""
    if not isinstance(result, dict) or "test_score" in result or "test_auroc" not in result:
        return result
    out = {k: v for k, v in result.items() if k not in LEGACY_KEYS.values()}
    out.update({new: result.get(old) for new, old in LEGACY_KEYS.items()}, metric=result.get("metric", "auroc"))
    return out
