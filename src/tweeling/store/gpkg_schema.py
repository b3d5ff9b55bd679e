"""DDL of the twin's GeoPackage: the standard GeoPackage tables plus Tweeling's own.

Layout per vector layer ``L``:

* ``L`` — a GeoPackage feature table with the layer's *current baseline* state (one row per
  object, typed columns, plus the version's id, transaction and time axes in ``tw_*``
  columns, so that reading the current state needs no join). This is what GDAL and QGIS
  see. ``rtree_L_geom`` indexes it.
* ``tw_L_versions`` — every version of every object on every branch, with both time axes and
  the transaction that wrote and ended it. ``tw_L_versions_rtree`` indexes the versions that
  are *not* in ``L`` (superseded, ended, or on a scenario branch): each version sits in exactly
  one spatial index, so a bulk import pays for one R-tree insert per feature, not two.
"""

from __future__ import annotations

import sqlite3

import pyproj

from tweeling.core.errors import WorkspaceError
from tweeling.core.features import FieldType, LayerSchema

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10400  # GeoPackage 1.4
# 2: scenarios (branch bases, interventions, parameters, frozen versions); 3: model runs;
# 4: findings; 5: people, sessions, tokens, the audit log, shares, participation;
# 6: the job queue (shared by all server processes of a twin)
STORE_FORMAT = 6

_GPKG_TYPES = {
    FieldType.TEXT: "TEXT",
    FieldType.INTEGER: "INTEGER",
    FieldType.REAL: "REAL",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.DATETIME: "DATETIME",
    FieldType.JSON: "TEXT",
}


# Tweeling's own bookkeeping tables, in SQL that both backends take (the PostGIS backend
# translates the column types: store.pg_schema.pg_ddl).
TW_BASE_DDL = [
    "CREATE TABLE tw_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE tw_layers (name TEXT PRIMARY KEY, kind TEXT NOT NULL, schema TEXT NOT NULL, "
    "created_txn INTEGER NOT NULL, changed_txn INTEGER)",
    "CREATE TABLE tw_transactions (txn INTEGER PRIMARY KEY, at TEXT NOT NULL, "
    'kind TEXT NOT NULL, source TEXT, path TEXT, "user" TEXT, summary TEXT)',
    "CREATE TABLE tw_branches (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
    "parent_id INTEGER, base_txn INTEGER, created_at TEXT NOT NULL, author TEXT, "
    "description TEXT, status TEXT NOT NULL, updated_at TEXT, head_txn INTEGER)",
    "CREATE TABLE tw_sources (source TEXT PRIMARY KEY, path TEXT, layers TEXT NOT NULL, "
    "last_txn INTEGER NOT NULL)",
    "CREATE TABLE tw_rasters (name TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL, "
    "txn_from INTEGER NOT NULL, txn_to INTEGER, recorded_at TEXT NOT NULL, record_end TEXT, "
    "source TEXT, metadata TEXT NOT NULL, PRIMARY KEY (name, txn_from))",
]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def versions_table(layer: str) -> str:
    return f"tw_{layer}_versions"


def create_base_tables(con: sqlite3.Connection) -> None:
    """The GeoPackage core tables (spec clause 1.1) and Tweeling's bookkeeping tables."""
    con.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
    con.executescript(
        """
        CREATE TABLE gpkg_spatial_ref_sys (
            srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
            description TEXT);
        CREATE TABLE gpkg_contents (
            table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
            identifier TEXT UNIQUE, description TEXT DEFAULT '',
            last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
        CREATE TABLE gpkg_geometry_columns (
            table_name TEXT NOT NULL, column_name TEXT NOT NULL,
            geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL,
            z TINYINT NOT NULL, m TINYINT NOT NULL,
            CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
            CONSTRAINT uk_gc_table_name UNIQUE (table_name),
            CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
        CREATE TABLE gpkg_extensions (
            table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
            definition TEXT NOT NULL, scope TEXT NOT NULL,
            CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
        """
    )
    for sql in TW_BASE_DDL:
        con.execute(sql)
    create_scenario_tables(con)
    create_run_tables(con)
    create_findings_table(con)
    create_people_tables(con)
    create_job_tables(con)
    _insert_srs(con)
    # The import log is a plain table GDAL/QGIS can show. Registering one 'attributes' table
    # also keeps GDAL from listing Tweeling's internal tables as layers.
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) VALUES "
        "('tw_transactions', 'attributes', 'tw_transactions', 'Tweeling import log')"
    )
    from tweeling import __version__

    con.execute("INSERT INTO tw_meta VALUES ('store_format', ?)", (str(STORE_FORMAT),))
    con.execute("INSERT INTO tw_meta VALUES ('tweeling_version', ?)", (__version__,))


SCENARIO_DDL = [
    "CREATE TABLE IF NOT EXISTS tw_branch_bases (branch INTEGER NOT NULL, "
    "txn INTEGER NOT NULL, base_txn INTEGER NOT NULL, PRIMARY KEY (branch, txn))",
    "CREATE TABLE IF NOT EXISTS tw_interventions (id INTEGER PRIMARY KEY, "
    "branch INTEGER NOT NULL, txn INTEGER NOT NULL, kind TEXT NOT NULL, layer TEXT, "
    "object_id TEXT, title TEXT NOT NULL, rationale TEXT, author TEXT, at TEXT NOT NULL, "
    "detail TEXT)",
    "CREATE INDEX IF NOT EXISTS tw_interventions_branch ON tw_interventions (branch, id)",
    "CREATE TABLE IF NOT EXISTS tw_parameters (id INTEGER PRIMARY KEY, "
    "branch INTEGER NOT NULL, name TEXT NOT NULL, value TEXT, unit TEXT, "
    "txn_from INTEGER NOT NULL, txn_to INTEGER, deleted INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS tw_parameters_branch ON tw_parameters (branch, name)",
    "CREATE TABLE IF NOT EXISTS tw_frozen (branch INTEGER NOT NULL, label TEXT NOT NULL, "
    "txn INTEGER NOT NULL, hash TEXT NOT NULL, at TEXT NOT NULL, author TEXT, note TEXT, "
    "PRIMARY KEY (branch, label))",
]


def create_scenario_tables(con: sqlite3.Connection) -> None:
    """Scenario bookkeeping (see store.gpkg_branches). Feature versions of scenarios live in
    the layers' version tables (``branch`` = the scenario's id), like the baseline's.

    * ``tw_branch_bases`` — which state of its parent a scenario is built on, per edit that
      set it (creation, rebase): reading a scenario as of transaction T uses the base of
      the latest row with ``txn <= T``, so frozen versions keep their base after a rebase.
    * ``tw_interventions`` — the log of interventions (title, rationale, author, time).
    * ``tw_parameters`` — versioned scenario parameters (name, JSON value, unit).
    * ``tw_frozen`` — immutable named versions: scenario, label, transaction, content hash.
    """
    for sql in SCENARIO_DDL:
        con.execute(sql)


RUNS_DDL = (
    "CREATE TABLE IF NOT EXISTS tw_runs (id TEXT PRIMARY KEY, model TEXT NOT NULL, "
    "model_version TEXT NOT NULL, code_hash TEXT NOT NULL, scenario TEXT NOT NULL, "
    'inputs TEXT NOT NULL, parameters TEXT NOT NULL, extent TEXT NOT NULL, "user" TEXT, '
    "started_at TEXT NOT NULL, duration_s REAL NOT NULL, result_hash TEXT NOT NULL, "
    "outputs TEXT NOT NULL, notes TEXT NOT NULL)"
)
FINDINGS_DDL = (
    "CREATE TABLE IF NOT EXISTS tw_findings (scenario TEXT NOT NULL, on_date TEXT NOT "
    "NULL, content_hash TEXT NOT NULL, rules_hash TEXT NOT NULL, computed_at TEXT NOT "
    'NULL, "user" TEXT, findings TEXT NOT NULL, PRIMARY KEY (scenario, on_date))'
)


def create_run_tables(con: sqlite3.Connection) -> None:
    """``tw_runs``: model runs with their provenance (see services.runs); result files live
    in the workspace's ``runs/<id>/`` folder."""
    con.execute(RUNS_DDL)


def create_findings_table(con: sqlite3.Connection) -> None:
    """``tw_findings``: the legal check of a scenario version on a date (services.rules),
    with the content hash of what it checked, so that a changed scenario shows as stale."""
    con.execute(FINDINGS_DDL)


def check_format(con: sqlite3.Connection, path) -> None:
    """Refuse what is not a Tweeling store, or one of a newer format (naming the versions);
    bring one of an older format up to date (:func:`migrate`)."""
    from tweeling import __version__

    try:
        meta = dict(con.execute("SELECT key, value FROM tw_meta").fetchall())
        found = int(meta["store_format"])
    except (sqlite3.DatabaseError, KeyError, ValueError):
        raise WorkspaceError(f"{path} is not a Tweeling store") from None
    if found > STORE_FORMAT:
        writer = meta.get("tweeling_version", "a newer version")
        raise WorkspaceError(
            f"{path} has store format {found}, written by Tweeling {writer}; this Tweeling "
            f"({__version__}) reads store formats up to {STORE_FORMAT}: upgrade Tweeling to "
            "open it (nothing was changed)"
        )
    if found < STORE_FORMAT:
        migrate(con, found)


def migrate(con: sqlite3.Connection, found: int) -> None:
    """Bring a store of an older format up to :data:`STORE_FORMAT` (in one transaction).
    Another process may have migrated it meanwhile (two servers started at once): the
    format is read again under the write lock, and a store already migrated is left."""
    from tweeling import __version__

    con.execute("BEGIN IMMEDIATE")
    row = con.execute("SELECT value FROM tw_meta WHERE key = 'store_format'").fetchone()
    found = int(row[0])
    if found >= STORE_FORMAT:
        con.execute("COMMIT")
        return
    try:
        if found < 2:
            con.execute("ALTER TABLE tw_layers ADD COLUMN changed_txn INTEGER")
            con.execute("UPDATE tw_layers SET changed_txn = (SELECT max(txn) FROM tw_transactions)")
            con.execute("ALTER TABLE tw_branches ADD COLUMN updated_at TEXT")
            con.execute("ALTER TABLE tw_branches ADD COLUMN head_txn INTEGER")
            create_scenario_tables(con)
            vector = con.execute("SELECT name FROM tw_layers WHERE kind = 'vector'").fetchall()
            for (name,) in vector:
                con.execute(branch_index(name))
        if found < 3:
            create_run_tables(con)
        if found < 4:
            create_findings_table(con)
        if found < 5:
            create_people_tables(con)
        if found < 6:
            create_job_tables(con)
        con.execute("UPDATE tw_meta SET value = ? WHERE key = 'store_format'", (str(STORE_FORMAT),))
        con.execute(
            "INSERT INTO tw_meta VALUES ('tweeling_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (__version__,),
        )
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


PEOPLE_DDL = [
    "CREATE TABLE IF NOT EXISTS tw_people (id INTEGER PRIMARY KEY, "
    "username TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL DEFAULT '', "
    "role TEXT NOT NULL, password_hash TEXT, disabled INTEGER NOT NULL DEFAULT 0, "
    "created_at TEXT NOT NULL, oidc_issuer TEXT, oidc_subject TEXT, "
    "UNIQUE (oidc_issuer, oidc_subject))",
    "CREATE TABLE IF NOT EXISTS tw_sessions (hash TEXT PRIMARY KEY, "
    "person_id INTEGER NOT NULL, csrf TEXT NOT NULL, via TEXT NOT NULL, "
    "created_at TEXT NOT NULL, expires_at TEXT NOT NULL, seen_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tw_sessions_person ON tw_sessions (person_id)",
    "CREATE TABLE IF NOT EXISTS tw_tokens (id INTEGER PRIMARY KEY, "
    "person_id INTEGER NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, "
    "scope TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, "
    "revoked_at TEXT, used_at TEXT)",
    "CREATE TABLE IF NOT EXISTS tw_login_failures (key TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tw_login_failures_key ON tw_login_failures (key, at)",
    "CREATE TABLE IF NOT EXISTS tw_audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, "
    "actor TEXT NOT NULL, actor_id INTEGER, action TEXT NOT NULL, object TEXT NOT NULL, "
    "scenario TEXT, version INTEGER, data TEXT NOT NULL, prev TEXT NOT NULL, "
    "hash TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tw_audit_actor ON tw_audit (actor, seq)",
    "CREATE INDEX IF NOT EXISTS tw_audit_scenario ON tw_audit (scenario, seq)",
    "CREATE INDEX IF NOT EXISTS tw_audit_object ON tw_audit (object, seq)",
    "CREATE INDEX IF NOT EXISTS tw_audit_at ON tw_audit (at)",
    "CREATE TABLE IF NOT EXISTS tw_scenario_shares (branch INTEGER NOT NULL, "
    "person_id INTEGER NOT NULL, can_edit INTEGER NOT NULL DEFAULT 0, "
    "PRIMARY KEY (branch, person_id))",
    "CREATE TABLE IF NOT EXISTS tw_rounds (id INTEGER PRIMARY KEY, title TEXT NOT NULL, "
    "question TEXT NOT NULL, opens_at TEXT NOT NULL, closes_at TEXT NOT NULL, "
    "alternatives TEXT NOT NULL, allowed TEXT NOT NULL, documents TEXT NOT NULL, "
    "variant_quota INTEGER NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL, "
    "updated_at TEXT)",
    "CREATE TABLE IF NOT EXISTS tw_variants (branch INTEGER PRIMARY KEY, "
    "round_id INTEGER NOT NULL, public INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS tw_variants_round ON tw_variants (round_id)",
    "CREATE TABLE IF NOT EXISTS tw_comments (id INTEGER PRIMARY KEY, "
    "round_id INTEGER NOT NULL, scenario TEXT, parent_id INTEGER, author_id INTEGER, "
    "author TEXT NOT NULL, body TEXT NOT NULL, theme TEXT, geometry BLOB, object TEXT, "
    "created_at TEXT NOT NULL, edited_at TEXT, hidden_at TEXT, hidden_by TEXT, "
    "hidden_reason TEXT)",
    "CREATE INDEX IF NOT EXISTS tw_comments_round ON tw_comments (round_id, id)",
    "CREATE TABLE IF NOT EXISTS tw_supports (comment_id INTEGER NOT NULL, "
    "person_id INTEGER NOT NULL, at TEXT NOT NULL, PRIMARY KEY (comment_id, person_id))",
    "CREATE TABLE IF NOT EXISTS tw_notifications (id INTEGER PRIMARY KEY, "
    "person_id INTEGER NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, "
    "text TEXT NOT NULL, link TEXT, read_at TEXT)",
    "CREATE INDEX IF NOT EXISTS tw_notifications_person ON tw_notifications (person_id, id)",
]


def create_people_tables(con: sqlite3.Connection) -> None:
    """People and trust (store format 5; see store.gpkg_people, gpkg_audit, gpkg_rounds):

    * ``tw_people`` — accounts: username, role, Argon2id password hash (or an OpenID Connect
      issuer and subject), disabled flag.
    * ``tw_sessions`` / ``tw_tokens`` — browser sessions and personal API tokens, stored as
      SHA-256 hashes of their secrets (the secrets themselves are never stored).
    * ``tw_login_failures`` — recent failed sign-ins per username and per client (throttling).
    * ``tw_audit`` — the hash-chained audit log (core.audit); its head is in ``tw_meta``.
    * ``tw_branches.owner_id``, ``tw_scenario_shares`` — who owns a scenario and with whom
      it is shared.
    * ``tw_rounds``, ``tw_variants``, ``tw_comments``, ``tw_supports``,
      ``tw_notifications`` — consultation rounds, participants' variants, comments with
      supports, and messages to people (a hidden comment's author is told why).
    """
    cols = {r[1] for r in con.execute("PRAGMA table_info(tw_branches)")}
    if "owner_id" not in cols:
        con.execute("ALTER TABLE tw_branches ADD COLUMN owner_id INTEGER")
    for sql in PEOPLE_DDL:
        con.execute(sql)


JOBS_DDL = [
    "CREATE TABLE IF NOT EXISTS tw_jobs (id TEXT PRIMARY KEY, process TEXT NOT NULL, "
    "inputs TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, "
    "status TEXT NOT NULL, message TEXT NOT NULL, progress INTEGER NOT NULL, started TEXT, "
    'finished TEXT, "user" TEXT NOT NULL, person_id INTEGER, failure TEXT, result TEXT, '
    "worker TEXT, who TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tw_jobs_status ON tw_jobs (status, created)",
    "CREATE INDEX IF NOT EXISTS tw_jobs_who ON tw_jobs (who, created)",
    "CREATE TABLE IF NOT EXISTS tw_workers (id TEXT PRIMARY KEY, seen_at TEXT NOT NULL)",
]


def create_job_tables(con) -> None:
    """The job queue (store format 6; see store.gpkg_jobs): ``tw_jobs`` holds every job of
    the OGC API - Processes with its status, progress and result; ``tw_workers`` the server
    processes taking jobs, with when each was last seen (a job of a process gone silent is
    failed by the others)."""
    for sql in JOBS_DDL:
        con.execute(sql)


def branch_index(layer: str) -> str:
    """Scenario versions by branch: a partial index, so baseline imports never touch it."""
    vt = versions_table(layer)
    return (
        f"CREATE INDEX IF NOT EXISTS {quote(vt + '_branch')} ON {quote(vt)} "
        "(branch, txn_from) WHERE branch <> 0"
    )


def _insert_srs(con: sqlite3.Connection) -> None:
    rows = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
    ]
    for code in (4326, 28992, 7415):
        crs = pyproj.CRS.from_epsg(code)
        rows.append((crs.name, code, "EPSG", code, crs.to_wkt("WKT1_GDAL"), crs.name))
    con.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", rows)


def srs_id_for(schema: LayerSchema) -> int:
    """RD New for 2D layers; RD New + NAP (compound) for layers with heights in z."""
    return 7415 if schema.has_z else 28992


def create_layer(con: sqlite3.Connection, schema: LayerSchema, description: str) -> None:
    """Create the feature table, its spatial index and the version table of one layer."""
    name = schema.name
    q = quote(name)
    cols = ", ".join(f"{quote(f)} {_GPKG_TYPES[t]}" for f, t in schema.fields.items())
    cols = (", " + cols) if cols else ""
    srs = srs_id_for(schema)
    con.execute(
        f"CREATE TABLE {q} (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {schema.geometry_type}, "
        f"tw_id TEXT NOT NULL, tw_vid INTEGER NOT NULL, tw_txn INTEGER NOT NULL, "
        f"tw_valid_from TEXT, tw_valid_to TEXT, tw_recorded_at TEXT NOT NULL, "
        f"tw_record_end TEXT{cols})"
    )
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, 'features', ?, ?, ?)",
        (name, name, description, srs),
    )
    con.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, ?, 0)",
        (name, schema.geometry_type, srs, 1 if schema.has_z else 0),
    )
    # Spatial index per the GeoPackage RTree extension. We maintain it ourselves (no triggers:
    # those need SpatiaLite-style SQL functions that plain SQLite lacks).
    con.execute(
        f"CREATE VIRTUAL TABLE {quote('rtree_' + name + '_geom')} "
        "USING rtree(id, minx, maxx, miny, maxy)"
    )
    con.execute(
        "INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', "
        "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        (name,),
    )
    vt = quote(versions_table(name))
    # Separate statements: executescript() would commit the surrounding import transaction.
    for sql in (
        f"CREATE TABLE {vt} (vid INTEGER PRIMARY KEY, tw_id TEXT NOT NULL, "
        "branch INTEGER NOT NULL, txn_from INTEGER NOT NULL, txn_to INTEGER, valid_from TEXT, "
        "valid_to TEXT, recorded_at TEXT NOT NULL, record_end TEXT, "
        "deleted INTEGER NOT NULL DEFAULT 0, source TEXT, hash TEXT NOT NULL, geom BLOB, "
        "props TEXT NOT NULL, minx REAL, miny REAL, maxx REAL, maxy REAL)",
        f"CREATE VIRTUAL TABLE {quote(versions_table(name) + '_rtree')} "
        "USING rtree(id, minx, maxx, miny, maxy)",
    ):
        con.execute(sql)
    for _, sql in identifier_indexes(name):
        con.execute(sql)
    con.execute(branch_index(name))


def identifier_indexes(layer: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the identifier indexes of a layer.

    A bulk import into an empty layer drops them and creates them at the end (one sort instead
    of a B-tree insert per row); the unique one then also catches duplicate identifiers.
    """
    vt = versions_table(layer)
    return [
        (
            f"{layer}_tw_id",
            f"CREATE UNIQUE INDEX {quote(layer + '_tw_id')} ON {quote(layer)} (tw_id)",
        ),
        (f"{vt}_id", f"CREATE INDEX {quote(vt + '_id')} ON {quote(vt)} (tw_id, branch)"),
    ]


def add_fields(con: sqlite3.Connection, layer: str, fields: dict[str, FieldType]) -> None:
    """Additive schema evolution: new attribute columns on an existing layer."""
    for name, ftype in fields.items():
        con.execute(f"ALTER TABLE {quote(layer)} ADD COLUMN {quote(name)} {_GPKG_TYPES[ftype]}")
