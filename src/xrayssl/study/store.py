"""The study's runs and results in one SQLite file inside the study folder.

Claims are atomic (``BEGIN IMMEDIATE`` takes the write lock before reading), so any number of processes,
on one machine or on several sharing the folder, each get a different run. The rollback journal is used
rather than WAL because WAL needs shared memory and does not work across machines on a network folder.
A run claimed by a process that died is handed out again: at once when that process was on this host,
otherwise when its heartbeat is older than ``stale_seconds``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DB_NAME = "study.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | running | done | failed
    host TEXT, pid INTEGER, heartbeat REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL, finished REAL,
    result TEXT, error TEXT
);
"""
FINAL_KIND = "finalize"  # claimable only once every other run is done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    def __init__(self, folder: str | Path, stale_seconds: float = 600.0) -> None:
        self.path = Path(folder) / DB_NAME
        self.stale_seconds = stale_seconds
        self.host = socket.gethostname()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA busy_timeout=120000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- study-wide values -------------------------------------------------
    def get_meta(self, key: str) -> Any:
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def set_meta_once(self, key: str, value: Any) -> Any:
        """Store ``value`` unless the key exists; return what is stored (first writer wins)."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))
            return json.loads(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()["value"])

    # --- runs ----------------------------------------------------------------
    def add_runs(self, runs: list[tuple[str, str, dict[str, Any]]]) -> int:
        """(id, kind, params) rows; existing ids are kept as they are. Returns how many were new."""
        with self._write() as db:
            before = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            db.executemany(
                "INSERT OR IGNORE INTO runs (id, ord, kind, params) VALUES (?, ?, ?, ?)",
                [(rid, i, kind, json.dumps(params, sort_keys=True)) for i, (rid, kind, params) in enumerate(runs)],
            )
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] - before

    def retry_failed(self) -> int:
        with self._write() as db:
            return db.execute("UPDATE runs SET status = 'pending', error = NULL WHERE status = 'failed'").rowcount

    def claim(self, shard: int = 0, n_shards: int = 1) -> dict[str, Any] | None:
        """Atomically take the next pending run of this shard (or a run whose owner died)."""
        now = time.time()
        with self._write() as db:
            for row in db.execute("SELECT id, host, pid, heartbeat FROM runs WHERE status = 'running'").fetchall():
                dead = (row["host"] == self.host and not _alive(row["pid"])) or (
                    (row["heartbeat"] or 0) < now - self.stale_seconds
                )
                if dead:
                    db.execute("UPDATE runs SET status = 'pending' WHERE id = ?", (row["id"],))
            row = db.execute(
                "SELECT * FROM runs WHERE status = 'pending' AND kind != ? AND ord % ? = ? ORDER BY ord LIMIT 1",
                (FINAL_KIND, n_shards, shard),
            ).fetchone()
            if row is None:  # the final step, once everything else is done, by whichever process gets here
                left = db.execute(
                    "SELECT COUNT(*) FROM runs WHERE kind != ? AND status != 'done'", (FINAL_KIND,)
                ).fetchone()[0]
                if left == 0:
                    row = db.execute(
                        "SELECT * FROM runs WHERE status = 'pending' AND kind = ? ORDER BY ord LIMIT 1", (FINAL_KIND,)
                    ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE runs SET status = 'running', host = ?, pid = ?, heartbeat = ?, started = ?,"
                " attempts = attempts + 1 WHERE id = ?",
                (self.host, os.getpid(), now, now, row["id"]),
            )
            return {"id": row["id"], "kind": row["kind"], "params": json.loads(row["params"])}

    def heartbeat(self, run_id: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running' AND pid = ? AND host = ?",
                (time.time(), run_id, os.getpid(), self.host),
            )

    def finish(self, run_id: str, result: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = 'done', finished = ?, result = ?, error = NULL WHERE id = ?",
                (time.time(), json.dumps(result), run_id),
            )

    def fail(self, run_id: str, error: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = 'failed', finished = ?, error = ? WHERE id = ?",
                (time.time(), error[-4000:], run_id),
            )

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status").fetchall()
        return {r["status"]: r["n"] for r in rows}

    def runs(self, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM runs WHERE 1 = 1", []
        if kind:
            query, args = query + " AND kind = ?", [*args, kind]
        if status:
            query, args = query + " AND status = ?", [*args, status]
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY ord", args).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["params"] = json.loads(d["params"])
            d["result"] = json.loads(d["result"]) if d["result"] else None
            out.append(d)
        return out
