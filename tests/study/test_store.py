"""The study's run store on SQLite and on PostgreSQL: atomic claims across processes, dead workers' runs handed
out again, --status telling dead workers from live ones, workers that die with their parent, and the URL's
one-line errors. PostgreSQL tests need a server: XRAYSSL_TEST_POSTGRES=postgresql://USER:PASSWORD@HOST/DB
(.ci/run starts one); without it they skip."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text, update

from xrayssl.errors import XraySSLError
from xrayssl.study import backend
from xrayssl.study.backend import DB_NAME, LOCATION, Location, network_filesystem, parse_url
from xrayssl.study.store import RUNS, Store, StoreConfig

POSTGRES_ENV = "XRAYSSL_TEST_POSTGRES"
FAKE = str(Path(__file__).with_name("study_fake.py"))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server for the store tests (.ci/run starts one)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(f"psycopg is not installed: {backend.POSTGRES_EXTRA}")
    try:
        backend.check_reachable(Location(parse_url(url)))
    except XraySSLError as exc:
        pytest.skip(f"{POSTGRES_ENV}: PostgreSQL not reachable: {exc}")
    return url


def _drop_schemas(folder: Path, url: str) -> None:
    """The schemas of the studies a test made, so that the test database does not fill up."""
    engine = backend.engine_for(Location(parse_url(url)))
    for found in folder.rglob(LOCATION):
        schema = json.loads(found.read_text())["schema"]
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """ "" (SQLite in the study folder, the default) or the test server's URL."""
    if request.param == "sqlite":
        yield ""
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    _drop_schemas(tmp_path, url)


def _python(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kw.pop("env", {})}
    return subprocess.Popen([sys.executable, *args], env=env, **kw)


# --- claims across processes -------------------------------------------------------------------------------
WORKER = textwrap.dedent(
    """
    import os, sys, time
    from xrayssl.study.store import Store, StoreConfig
    store = Store(sys.argv[1], StoreConfig(url=sys.argv[4]))
    shard, n = int(sys.argv[2]), int(sys.argv[3])
    while (run := store.claim(shard, n)) is not None:
        time.sleep(0.002)
        store.finish(run["id"], {"pid": os.getpid()})
    """
)


@pytest.mark.parametrize("n_shards", [1, 2])
@pytest.mark.slow
def test_concurrent_claims_lose_and_duplicate_nothing(tmp_path, store_url, n_shards):
    store = Store(tmp_path / "s", StoreConfig(url=store_url), create=True)
    store.add_runs([(f"r{i:03d}", "ssl", {"i": i}) for i in range(240)] + [("finalize", "finalize", {})])
    procs = [_python("-c", WORKER, str(tmp_path / "s"), str(w % n_shards), str(n_shards), store_url) for w in range(4)]
    assert all(p.wait(120) == 0 for p in procs)
    runs = store.runs()
    assert len(runs) == 241 and all(r["status"] == "done" for r in runs)
    assert all(r["attempts"] == 1 for r in runs)  # nobody ran a run twice
    assert runs[-1]["id"] == "finalize" and runs[-1]["finished"] >= max(r["finished"] for r in runs[:-1])
    pids = {r["result"]["pid"] for r in runs}
    assert len(pids) > 1  # the work really was shared
    if n_shards == 2:  # a shard's processes only take that shard's runs
        by_pid: dict[int, set[int]] = {}
        for r in runs[:-1]:
            by_pid.setdefault(r["result"]["pid"], set()).add(int(r["id"][1:]) % 2)
        assert all(len(s) == 1 for s in by_pid.values())


def _claimed_by(store: Store, run_id: str, host: str, pid: int, heartbeat: float) -> None:
    with store._write() as db:
        db.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(status="running", host=host, pid=pid, heartbeat=heartbeat, started=heartbeat, attempts=1)
        )


def _exited_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_runs_of_dead_workers_are_handed_out_again(tmp_path, store_url):
    store = Store(tmp_path / "s", StoreConfig(url=store_url, stale_seconds=60), create=True)
    store.add_runs([("a", "ssl", {}), ("b", "ssl", {}), ("c", "ssl", {}), ("d", "ssl", {})])
    now, here = time.time(), socket.gethostname()
    _claimed_by(store, "a", here, _exited_pid(), now)  # this host, process gone
    _claimed_by(store, "b", "elsewhere", 1, now - 3600)  # another host, silent for an hour
    _claimed_by(store, "c", "elsewhere", 1, now)  # another host, beating
    _claimed_by(store, "d", here, os.getpid(), now)  # this host, alive
    got = {store.claim()["id"], store.claim()["id"]}
    assert got == {"a", "b"} and store.claim() is None
    assert {r["id"]: r["attempts"] for r in store.runs()} == {"a": 2, "b": 2, "c": 1, "d": 1}


def test_status_tells_dead_workers_from_live_ones(tmp_path, store_url, capsys):
    from xrayssl.cli.main import main

    out = tmp_path / "s"
    store = Store(out, StoreConfig(url=store_url), create=True)
    store.add_runs([(k, "ssl", {}) for k in "abcde"])
    now, here = time.time(), socket.gethostname()
    dead_pid = _exited_pid()
    _claimed_by(store, "a", here, dead_pid, now)
    _claimed_by(store, "b", "elsewhere", 4242, now - 3600)
    _claimed_by(store, "c", "elsewhere", 4343, now - 5)
    _claimed_by(store, "d", here, os.getpid(), now - 5)
    assert main(["study", "--out", str(out), "--status", *(["--store", store_url] if store_url else [])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{out}: 2 dead, 1 pending, 2 running"
    dead = [line for line in lines if line.lstrip().startswith("dead")]
    live = [line for line in lines if line.lstrip().startswith("running")]
    assert len(dead) == 2 and len(live) == 2
    assert f"a on {here} (pid {dead_pid}: its process has exited" in dead[0]
    assert "b on elsewhere (pid 4242: no heartbeat for 60 min" in dead[1]
    assert re.search(r"c on elsewhere \(pid 4343, heartbeat \d+ s ago\)", live[0]) and f"pid {os.getpid()}," in live[1]
    assert {store.claim()["id"], store.claim()["id"]} == {"a", "b"}  # the dead workers' runs, handed out again


# --- a study over two shard processes, with the real runner and heartbeats ---------------------------------
@pytest.mark.slow
def test_two_shard_processes_run_every_run_exactly_once(tmp_path, store_url):
    out = tmp_path / "s"
    env = {"XRAYSSL_FAKE_SECONDS": "0.15"}
    shards = [  # both start the study at once: one creates it, the other joins
        _python(
            FAKE,
            str(out),
            "--start",
            "--shard",
            f"{i}/2",
            "--store",
            store_url,
            "--heartbeat",
            "0.05",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in shards]
    assert [p.returncode for p in shards] == [0, 0], logs
    store = Store(out, StoreConfig(url=store_url))
    runs = store.runs()
    assert len(runs) == 29 and all(r["status"] == "done" and r["attempts"] == 1 for r in runs), logs
    pids = [p.pid for p in shards]
    for r in runs[:-1]:  # each run by its own shard's process
        assert r["result"]["pid"] == pids[r["ord"] % 2]
        assert r["heartbeat"] > r["started"]  # the heartbeat thread wrote while the run slept
    assert runs[-1]["kind"] == "finalize" and runs[-1]["finished"] >= max(r["finished"] for r in runs[:-1])
    assert {d.name for d in (out / "runs").iterdir()} == {Path(r["result"]["run"]).name for r in runs}
    assert (out / DB_NAME).is_file() == (not store_url) and (out / LOCATION).is_file() == bool(store_url)


# --- workers die with their parent -------------------------------------------------------------------------
def _wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _gone(pid: int) -> bool:
    from xrayssl.study.store import pid_alive

    return not pid_alive(pid)


@pytest.mark.slow
def test_workers_stop_when_the_study_process_is_killed(tmp_path):
    out = tmp_path / "s"
    parent = _python(FAKE, str(out), "--start", "--workers", "2", env={"XRAYSSL_FAKE_SECONDS": "120"},
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:

        def two_running():
            if not (out / DB_NAME).is_file():
                return None
            with contextlib.suppress(XraySSLError):  # the store may be half made yet
                running = Store(out).runs(status="running")
                return running if len(running) == 2 else None
            return None

        running = _wait_for(two_running, 120, "two workers to claim a run each")
        workers = [r["pid"] for r in running]
        assert parent.pid not in workers and all(not _gone(pid) for pid in workers)
        parent.kill()
        parent.wait()
        _wait_for(lambda: all(_gone(pid) for pid in workers), 10, "the workers to exit")
    finally:
        with contextlib.suppress(ProcessLookupError):
            parent.kill()
    store = Store(out)
    assert all(store.owner_dead(r) == "its process has exited" for r in store.runs(status="running"))
    assert {store.claim()["id"], store.claim()["id"]} == {r["id"] for r in running}


ORPHAN = textwrap.dedent(
    """
    import os, subprocess, sys, time
    if sys.argv[1] == "parent":  # start the child, say its pid, wait to be killed
        child = subprocess.Popen([sys.executable, "-c", sys.argv[2], "child", sys.argv[3]])
        print(child.pid, flush=True)
        time.sleep(60)
    else:
        from xrayssl.study.lifeline import exit_with_parent
        print(exit_with_parent(os.getppid(), use_prctl=sys.argv[2] == "prctl", poll_seconds=0.1), flush=True)
        time.sleep(60)
    """
)


@pytest.mark.parametrize("mechanism", ["prctl", "thread"])
def test_a_worker_exits_when_its_parent_dies(mechanism):
    if mechanism == "prctl" and not sys.platform.startswith("linux"):
        pytest.skip("prctl is Linux only")
    parent = _python("-c", ORPHAN, "parent", ORPHAN, mechanism, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        time.sleep(0.5)  # the child has set up its lifeline
        assert not _gone(child)
    finally:
        parent.kill()
        parent.wait()
    _wait_for(lambda: _gone(child), 5, f"the child to exit ({mechanism})")


# --- where the store is, and its errors --------------------------------------------------------------------
def test_store_url_errors_are_one_line_and_leave_nothing_behind(tmp_path, monkeypatch):
    out = tmp_path / "s"
    for url, message in [
        ("mysql://u@h/db", "only postgresql://"),
        ("postgresql://u@h", "name the database"),
        ("::", "not a database URL"),
        ("postgresql://u:secret@localhost:abc/db", "not a database URL"),  # a port that is no number
    ]:
        with pytest.raises(XraySSLError, match=message) as err:
            Store(out, StoreConfig(url=url), create=True)
        assert "secret" not in str(err.value)
    if importlib.util.find_spec("psycopg"):
        with pytest.raises(XraySSLError, match="cannot reach the study's database") as err:  # nothing on port 9
            Store(out, StoreConfig(url="postgresql://u:secret@127.0.0.1:9/db"), create=True)
        assert "secret" not in str(err.value)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # the postgres extra not installed
    with pytest.raises(XraySSLError, match=r"pip install 'xrayssl\[postgres\]'") as err:
        Store(out, StoreConfig(url="postgresql://u:secret@127.0.0.1:9/other"), create=True)
    assert "secret" not in str(err.value)
    assert not out.exists()
    with pytest.raises(XraySSLError, match="not a study folder"):
        Store(out)
    assert not out.exists()
    with pytest.raises(XraySSLError, match="heartbeat"):
        StoreConfig(heartbeat_seconds=400)


def test_a_database_refusing_the_study_leaves_no_folder(tmp_path, postgres_url):
    with backend.engine_for(Location(parse_url(postgres_url))).connect() as conn:
        if conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
            pytest.skip("the test role is a superuser: it may create schemas anywhere")
    url = parse_url(postgres_url).set(database="postgres")  # exists, and the test role may not create in it
    with pytest.raises(XraySSLError, match="permission denied"):
        Store(tmp_path / "s", StoreConfig(url=url.render_as_string(hide_password=False)), create=True)
    assert not (tmp_path / "s").exists()


def test_sqlite_folder_refuses_a_postgres_url(tmp_path):
    Store(tmp_path, create=True)
    with pytest.raises(XraySSLError, match=r"keeps its runs in study\.sqlite"):
        Store(tmp_path, StoreConfig(url="postgresql://u@127.0.0.1:9/db"))


def test_postgres_location_is_recorded_without_the_password(tmp_path, postgres_url, monkeypatch):
    url = parse_url(postgres_url)
    try:
        store = Store(tmp_path, StoreConfig(url=postgres_url), create=True)
        store.add_runs([("a", "ssl", {"x": 1})])
        recorded = json.loads((tmp_path / LOCATION).read_text())
        assert recorded["schema"] == store.location.schema and not (tmp_path / DB_NAME).exists()
        assert parse_url(recorded["url"]).password is None
        # a resume, --status or the report: found from the folder alone, with the password --store gave
        # earlier in this process (the final step, the report after the runs) ...
        assert Store(tmp_path).runs()[0]["params"] == {"x": 1}
        if url.password:  # ... or, in a new process, where libpq looks for it
            monkeypatch.setattr(backend, "_PASSWORDS", {})
            monkeypatch.delenv("PGPASSWORD", raising=False)
            with pytest.raises(XraySSLError, match="the URL has no password: libpq looks in PGPASSWORD"):
                Store(tmp_path)
            monkeypatch.setenv("PGPASSWORD", url.password)
            assert Store(tmp_path).runs()[0]["params"] == {"x": 1}
        other = url.set(database=f"{url.database}_other").render_as_string(hide_password=False)
        with pytest.raises(XraySSLError, match="keeps its runs in postgresql"):
            Store(tmp_path, StoreConfig(url=other))
    finally:
        _drop_schemas(tmp_path, postgres_url)
    with pytest.raises(XraySSLError, match="holds no study"):  # its schema was dropped
        Store(tmp_path, StoreConfig(url=postgres_url))


def test_network_filesystems_are_recognised():
    mounts = textwrap.dedent(
        """
        /dev/sda1 / ext4 rw 0 0
        server:/export /mnt/lab nfs4 rw 0 0
        //nas/share /mnt/my\\040share cifs rw 0 0
        tmpfs /mnt/lab/local tmpfs rw 0 0
        """
    )
    assert network_filesystem(Path("/mnt/lab/study"), mounts) == "nfs4"
    assert network_filesystem(Path("/mnt/my share/study"), mounts) == "cifs"
    assert network_filesystem(Path("/mnt/lab/local/study"), mounts) is None  # the deepest mount decides
    assert network_filesystem(Path("/mnt/labx"), mounts) is None
    assert network_filesystem(Path("/home/me"), mounts) is None
