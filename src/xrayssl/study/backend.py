"""Where a study's run store lives and how to reach it.

Two places, one code path (SQLAlchemy Core):

* ``study.sqlite`` in the study folder, the default. Right for one machine; across machines only while the
  folder's file system really locks files, which many network file systems do not (see docs/studies.md).
* a PostgreSQL database named by ``--store postgresql://USER@HOST[:PORT]/DATABASE``, for many machines.
  Each study gets its own schema in that database. The study folder's ``store.json`` records the URL and the
  schema so that a resume, ``--status`` and the report find the runs. The password is never recorded:
  libpq reads it from ``PGPASSWORD`` or ``~/.pgpass`` (or give ``--store`` with it again).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from xrayssl.errors import XraySSLError

DB_NAME = "study.sqlite"
LOCATION = "store.json"
LOCATION_VERSION = 1
POSTGRES_EXTRA = "pip install 'xrayssl[postgres]'"
# Other network file systems' SQLite locking is unreliable (sqlite.org: "How To Corrupt An SQLite Database File")
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs",
              "fuse.sshfs", "fuse.glusterfs", "fuse.gcsfuse", "fuse.s3fs", "davfs"}  # fmt: skip


@dataclass(frozen=True)
class Location:
    """A study's store: the URL to connect with and, on PostgreSQL, the schema that holds its tables."""

    url: URL
    schema: str | None = None

    @property
    def sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def shown(self) -> str:
        """The URL without its password, for messages and for store.json."""
        return without_password(self.url).render_as_string(hide_password=False)


def without_password(url: URL) -> URL:
    # URL.set(password=None) would keep it: None there means "unchanged"
    return URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)


def parse_url(text_url: str) -> URL:
    """A ``--store`` value -> a PostgreSQL URL using psycopg 3 (SQLAlchemy's plain postgresql:// means psycopg2)."""
    try:
        url = make_url(text_url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        shown = text_url.split("@")[-1][:120]  # what follows the credentials: never echo a password
        raise XraySSLError(
            f"--store '...@{shown}': not a database URL; write postgresql://USER@HOST[:PORT]/DATABASE"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        shown = without_password(url).render_as_string(hide_password=False)
        raise XraySSLError(
            f"--store '{shown}': only postgresql://USER@HOST/DATABASE is supported "
            "(the default, SQLite in the study folder, needs no --store)"
        )
    if "+" not in url.drivername:
        url = url.set(drivername="postgresql+psycopg")
    if not url.database:
        raise XraySSLError(f"--store '{text_url}': name the database, e.g. postgresql://USER@HOST/DATABASE")
    return url


_PASSWORDS: dict[tuple, URL] = {}  # database -> the URL with the password that --store gave in this process


def _database_key(url: URL) -> tuple:
    return (url.get_backend_name(), url.host or "", url.port or 5432, url.database, url.username or "")


def _same_database(a: URL, b: URL) -> bool:
    return _database_key(a) == _database_key(b)


def locate(folder: Path, store_url: str, create: bool) -> Location:
    """The store of the study in ``folder``; with ``create``, choose one for a new study (writing nothing yet)."""
    recorded = read_location(folder)
    given = parse_url(store_url) if store_url else None
    if recorded is not None:
        if given is None:  # the password given earlier in this process (finalize, the report), else libpq's
            return Location(_PASSWORDS.get(_database_key(recorded.url), recorded.url), recorded.schema)
        if not _same_database(given, recorded.url):
            raise XraySSLError(
                f"{folder} keeps its runs in {recorded.shown()}, not in {Location(given).shown()}; "
                "resume it without --store or with the same URL"
            )
        if given.password:
            _PASSWORDS[_database_key(given)] = given
        return Location(given, recorded.schema)
    if (folder / DB_NAME).is_file():
        if given is not None:
            raise XraySSLError(
                f"{folder} keeps its runs in {DB_NAME}; resume it without --store "
                "(a study cannot move to PostgreSQL: start it again in a new folder)"
            )
        return Location(URL.create("sqlite", database=str(folder / DB_NAME)))
    if not create:
        raise XraySSLError(f"{folder}: not a study folder (no {DB_NAME} or {LOCATION}); run `xrayssl study` first")
    if given is None:
        return Location(URL.create("sqlite", database=str(folder / DB_NAME)))
    if given.password:
        _PASSWORDS[_database_key(given)] = given
    slug = re.sub(r"[^a-z0-9]+", "_", folder.resolve().name.lower()).strip("_")[:30]
    return Location(given, f"xrayssl_{slug}_{uuid.uuid4().hex[:8]}")


def read_location(folder: Path) -> Location | None:
    path = folder / LOCATION
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        version, url, schema = data["format_version"], data["url"], data["schema"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise XraySSLError(f"{path}: unreadable ({exc}); it should name the study's database") from None
    if version != LOCATION_VERSION:
        raise XraySSLError(f"{path}: format version {version}, this xrayssl reads version {LOCATION_VERSION}")
    if not re.fullmatch(r"[a-z0-9_]{1,63}", str(schema)):  # it goes into DDL: only a plain identifier
        raise XraySSLError(f"{path}: schema '{schema}' is not a plain identifier")
    return Location(parse_url(url), schema)


def record_location(folder: Path, location: Location) -> tuple[Location, bool]:
    """Write store.json unless another process starting the same study won the race: the location kept, and
    whether this call wrote it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"format_version": LOCATION_VERSION, "url": location.shown(), "schema": location.schema}
    tmp = folder / f".{LOCATION}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    won = True
    try:
        os.link(tmp, folder / LOCATION)  # atomic and exclusive, also on NFS: the complete file or none
    except FileExistsError:
        won = False
    except OSError:  # a file system without hard links: exclusive create instead
        try:
            with open(folder / LOCATION, "x") as f:
                f.write(tmp.read_text())
        except FileExistsError:
            won = False
    finally:
        tmp.unlink(missing_ok=True)
    kept = read_location(folder)
    return (Location(location.url, kept.schema) if kept else location), won


_ENGINES: dict[tuple[int, str], Engine] = {}


def engine_for(location: Location) -> Engine:
    """One engine (connection pool) per database and process, shared by every Store object."""
    key = (os.getpid(), location.url.render_as_string(hide_password=False))
    if key not in _ENGINES:
        _ENGINES[key] = _sqlite_engine(location.url) if location.sqlite else _postgres_engine(location)
    engine = _ENGINES[key]
    return engine.execution_options(schema_translate_map={None: location.schema}) if location.schema else engine


def _sqlite_engine(url: URL) -> Engine:
    # a new connection per use (as sqlite3 is cheap to open) so that no handle outlives its transaction
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 120, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" hook below issues BEGIN itself
        cursor = dbapi_connection.cursor()
        # the rollback journal, not WAL: WAL needs shared memory, which machines sharing a folder do not have
        cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("PRAGMA busy_timeout=120000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # a write takes the write lock before it reads, so that a claim's read and update are one step
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("xrayssl_write") else "BEGIN")

    return engine


def _postgres_engine(location: Location) -> Engine:
    try:
        return create_engine(
            location.url,
            pool_size=2,  # a worker's claims and its heartbeat thread
            max_overflow=2,
            pool_pre_ping=True,  # a connection dropped by the server or a network blip is replaced, not used
            connect_args={"connect_timeout": 10, "application_name": "xrayssl"},
        )
    except ImportError:
        raise XraySSLError(
            f"--store {location.shown()}: the PostgreSQL driver (psycopg) is not installed; {POSTGRES_EXTRA}"
        ) from None


def check_reachable(location: Location) -> None:
    """Connect once, so that a wrong URL or a server that is down gives one line before anything is written."""
    try:
        with engine_for(location).connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        hint = "" if location.url.password else "; the URL has no password: libpq looks in PGPASSWORD and ~/.pgpass"
        raise XraySSLError(f"{location.shown()}: cannot reach the study's database ({first_line(exc)}){hint}") from None


def first_line(exc: DBAPIError) -> str:
    lines = str(exc.orig or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def network_filesystem(path: Path, mounts: str | None = None) -> str | None:
    """The type of a network file system holding ``path`` (Linux: from /proc/self/mounts), else None."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return None
    target, best, fstype = str(Path(path).resolve()), "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])  # \040 is a space
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, fstype = point, fields[2]
    return fstype if fstype in NETWORK_FS else None
