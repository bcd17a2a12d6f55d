"""The store's tables, and opening a database file: pragmas, creation, the version check.

Wheels are keyed by sha256 (the bytes, wherever they were found); every other table refers to
a wheel by its integer ``id``, because a nightly run adds one ``run_wheels`` row per wheel of
the mirror and a 64-character key there would cost five times the space. Policies are
referred to the same way, by a small id for their digest.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

from wheelscan.store.errors import StoreError, full_disk, store_error, transaction

# 2: wheels.strict. A version-1 store is migrated in place (one column added)
# 3: verdicts.abi3 (issue #17), migrated in place; older verdicts have none until reevaluate
SCHEMA_VERSION = 3
_MIGRATIONS = {
    "1": ("ALTER TABLE wheels ADD COLUMN strict INTEGER NOT NULL DEFAULT 0",),
    "2": ("ALTER TABLE verdicts ADD COLUMN abi3 BLOB",),
}

# split on ";" to run inside one transaction (executescript would commit first): no ";"
# in the comments
_TABLES = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,            -- schema_version, and policy_digest: the verdicts reports show
    value TEXT NOT NULL
);
CREATE TABLE wheels (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    location TEXT NOT NULL,          -- where it was last read from
    size INTEGER,
    upload_time TEXT,                -- ISO 8601, when the index gives one
    facts BLOB,                      -- zstd(compact JSON of facts_to_json), NULL if unreadable
    facts_version INTEGER,
    strict INTEGER NOT NULL DEFAULT 0,  -- 1: facts read with --strict (every byte checked)
    -- why the wheel could not be read (facts NULL): a property of the bytes, not the policy
    read_error_code TEXT,
    read_error_reason TEXT,
    read_error_member TEXT
);
CREATE TABLE policies (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    first_used TEXT NOT NULL
);
CREATE TABLE verdicts (
    wheel_id INTEGER NOT NULL REFERENCES wheels (id),
    policy_id INTEGER NOT NULL REFERENCES policies (id),
    verdict BLOB,                    -- zstd(compact JSON of Verdict.to_json()), NULL on error
    overall_tag TEXT,
    libc TEXT,
    arch TEXT,
    over_claim INTEGER NOT NULL,     -- 1 when a declared tag does not hold
    under_claim TEXT,
    error_code TEXT,                 -- the wheel was read but cannot be judged
    error_reason TEXT,
    error_member TEXT,
    abi3 BLOB,                       -- zstd(compact JSON of Abi3Verdict.to_json()), NULL: no
                                     -- stable-ABI promise
    PRIMARY KEY (wheel_id, policy_id)
);
-- the report's tallies: tags, claims and errors under one policy
CREATE INDEX verdicts_by_tag ON verdicts (policy_id, overall_tag, over_claim);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
    started TEXT NOT NULL,
    updated TEXT NOT NULL,           -- the last commit: when an interrupted run stopped
    finished TEXT,
    policy_id INTEGER NOT NULL REFERENCES policies (id),
    wheelscan_version TEXT NOT NULL,
    backend TEXT NOT NULL,           -- the ELF backend: native or reference
    seen INTEGER NOT NULL DEFAULT 0,
    skipped_known INTEGER NOT NULL DEFAULT 0,
    audited INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    bytes_read INTEGER NOT NULL DEFAULT 0,
    elf_bytes INTEGER NOT NULL DEFAULT 0,
    worker_seconds REAL NOT NULL DEFAULT 0,   -- the sum of every wheel's seconds
    seconds REAL                     -- wall clock, set when the run ends
);
CREATE TABLE run_wheels (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    wheel_id INTEGER NOT NULL REFERENCES wheels (id),
    PRIMARY KEY (run_id, wheel_id)
) WITHOUT ROWID;
-- wheels a run could not even hash (missing file, network down): no sha256, so no wheel row
CREATE TABLE run_failures (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    location TEXT NOT NULL,
    filename TEXT NOT NULL,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    size INTEGER,
    upload_time TEXT,
    error_code TEXT NOT NULL,
    error_reason TEXT NOT NULL,
    error_member TEXT,
    PRIMARY KEY (run_id, location)
) WITHOUT ROWID;
-- a local file seen before with this size and mtime is not hashed again
CREATE TABLE locations (
    location TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    wheel_id INTEGER NOT NULL REFERENCES wheels (id)
) WITHOUT ROWID;
"""

# every table a store has had since its first schema version
_TABLE_NAMES = tuple(re.findall(r"^CREATE TABLE (\w+)", _TABLES, re.MULTILINE))

# what a path that is not a regular file is, as a refusal names it
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular(path: Path) -> None:
    """StoreError for a path that exists and is not a regular file (``--db /dev/null``):
    SQLite would read it as an empty database, and write its -wal beside it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # none yet (a new store), or one SQLite's own open explains
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise StoreError(
            "not-a-store",
            f"{path}: {kind}, not a store file",
            "name a store file with --db (`wheelscan audit` makes one)",
        )


def connect(path: Path, busy_timeout: float, create: bool = True) -> sqlite3.Connection:
    """Open (``create``: creating if new) a store file; StoreError if it is not one this code
    reads. Without ``create`` a file with no tables (an empty file: a typo's ``: > x.db``)
    is refused as not a store, before anything is written to it (``reevaluate``: only an
    audit makes a store)."""
    _check_regular(path)
    try:
        # isolation_level=None: transactions are begun explicitly (errors.transaction), so
        # Python's sqlite3 never opens one behind our back
        connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as e:
        raise store_error(e, path, "open") from e
    try:
        # a file that is no store is refused before WAL is set, which would write to it
        tables = _tables(connection)
        if (tables or not create) and "meta" not in tables:
            _check(connection, path)
        # WAL: readers (a report) never block the writer; FULL: a committed batch survives
        # power loss too, at one fsync per batch
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        _check_or_create(connection, path)
    except sqlite3.Error as e:
        connection.close()
        raise store_error(e, path, "open") from e
    except StoreError:
        connection.close()
        raise
    return connection


def connect_readonly(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open an existing store for reading only: never creates, writes or converts anything.

    ``mode=ro`` first: it sees what a running audit has committed so far (WAL), and needs
    only to create or map ``-shm`` beside the file. Where even that is impossible (a
    read-only mount, a directory or ``-shm`` this user cannot write), the file is opened
    ``immutable``: SQLite then takes no lock and reads the main file alone, which is all there
    is when nobody can write it (a writer closing cleanly leaves no ``-wal`` behind).
    """
    _check_regular(path)
    # the path's bytes: a name that is not UTF-8 (Latin-1 "caf\xe9.db") has no text form
    location = quote(os.fsencode(path.absolute()))
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        if "immutable" in flags:
            _check_no_wal(path)
        try:
            connection = sqlite3.connect(
                f"file:{location}?{flags}", uri=True, timeout=busy_timeout, isolation_level=None
            )
        except sqlite3.Error as e:
            last = e
            continue
        try:
            _check(connection, path, writable=False)
        except sqlite3.Error as e:
            connection.close()
            last = e
            # only a file this process cannot write may be read as immutable: a writable one
            # may be being written, and immutable would read it torn; nor can a full disk
            # take a writer's commits (nor the -shm a reading makes: SQLITE_IOERR_SHMSIZE)
            if _writable(path) and not full_disk(path):
                break
            continue
        except StoreError:
            connection.close()
            raise
        return connection
    assert last is not None
    raise store_error(last, path, "open for reading") from last


def _check_no_wal(path: Path) -> None:
    """Refuse to read ``path`` immutable while commits wait in its -wal: SQLite would read
    the main file alone, an older store (or none at all) that the report would show as now."""
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            "unreadable-wal",
            f"{path}: its last commits are in {wal}, which SQLite reads only through a "
            f"{path.name}-shm it cannot create here",
            "copy the store with its -wal file to a writable directory and report on the "
            "copy, or open it once where it can be written (that moves the commits in)",
        )


def _writable(path: Path) -> bool:
    """Whether this process could write the store: its file, and its directory (for -shm)."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    return os.access(path, os.W_OK) and os.access(path.absolute().parent, os.W_OK)


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {name for (name,) in rows}


def _check_or_create(connection: sqlite3.Connection, path: Path) -> None:
    if not _tables(connection):
        with transaction(connection, path, "create the schema"):
            if not _tables(connection):  # another process may have created it meanwhile
                for statement in _TABLES.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
    _check(connection, path)


def _check(connection: sqlite3.Connection, path: Path, writable: bool = True) -> None:
    """StoreError unless ``connection`` is a store of the schema this code reads; an older
    schema is migrated, or (``writable`` False: a report) read as it is: every migration
    only adds what readers do not need."""
    tables = _tables(connection)
    if not tables:
        # what an audit stopped as it began leaves (SQLite made the file, then set its
        # journal: tables come last), or a typo's ``: > x.db``; SQLite reads both as empty
        empty = path.is_file() and path.stat().st_size == 0
        # an audit with no SOURCE is refused: the hint names one (SOURCE...)
        made = f"`wheelscan audit --db {path} SOURCE...` makes it a store; or choose another --db"
        raise StoreError(
            "not-a-store",
            f"{path}: {'an empty file' if empty else 'an SQLite file with no tables'}, "
            "not a wheelscan store",
            f"nothing was ever stored in it: {made}"
            if empty
            else f"an audit stopped as it began leaves such a file: {made}",
        )
    if "meta" not in tables:
        raise StoreError(
            "not-a-store",
            f"{path}: an SQLite file, not a wheelscan store",
            "choose another --db (`wheelscan audit` makes a store)",
        )
    found = _schema_version(connection)
    if found is None:
        # another application's table of the same name: a file that is no store of ours
        raise StoreError(
            "not-a-store",
            f"{path}: an SQLite file whose meta table names no schema version, "
            "not a wheelscan store",
            "choose another --db (`wheelscan audit` makes a store)",
        )
    missing = [name for name in _TABLE_NAMES if name not in tables]
    if missing:
        # every version had every table (migrations only add columns): one lost since, by a
        # hand's edit or a partial restore, would end a command's first query in a traceback
        raise StoreError(
            "corrupt",
            f"{path}: a wheelscan store without its table{'s' * (len(missing) > 1)} "
            f"{', '.join(missing)}",
            "it is damaged: restore it or start a new --db",
        )
    if found in _MIGRATIONS and not writable:
        return
    if found in _MIGRATIONS:
        with transaction(connection, path, f"migrate the schema from version {found}"):
            # read again under the write lock: two writers opening an old store at once both
            # saw the old version above, and the one that waited for the lock finds it
            # migrated already (its steps again would fail: duplicate column)
            found = _schema_version(connection)
            if found in _MIGRATIONS:
                # each version's steps in turn: a version-1 store takes 1 -> 2 -> 3
                for version in range(int(found), SCHEMA_VERSION):
                    for statement in _MIGRATIONS[str(version)]:
                        connection.execute(statement)
                connection.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
                found = str(SCHEMA_VERSION)
    if found != str(SCHEMA_VERSION):
        raise StoreError(
            "schema-version",
            f"{path}: store schema version {found}, this wheelscan reads version {SCHEMA_VERSION}",
            "open it with the wheelscan that wrote it, or start a new --db (verdicts can be "
            "re-derived, but facts need the wheels read again)",
        )


def _schema_version(connection: sqlite3.Connection) -> str | None:
    """The store's schema version; None where ``meta`` holds none, or is not ours (no
    ``key`` or ``value`` column: SQLite's generic error, where a busy or damaged file has
    its own, which the caller maps)."""
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError as e:
        if getattr(e, "sqlite_errorname", "") == "SQLITE_ERROR":
            return None
        raise
    return str(row[0]) if row else None
