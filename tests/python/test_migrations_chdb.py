"""Every ClickHouse migration runs on a current ClickHouse engine too.

Production runs ClickHouse 24.x and later; the local stack runs Debian's 18.16.
chdb embeds a current engine in-process: apply every migration of
schemas/clickhouse/ in order (split into statements the way the processor's
runner does), twice (they are idempotent), then check that the rollup views
give exact unions on the modern engine as well, read with the same two-level
query as the query API's overview (merged per campaign, summed over campaigns).
processor/tests/rollups.rs checks the same on the 18.16 server.
"""

import pathlib

import pytest
from chdb import session

MIGRATIONS = pathlib.Path(__file__).resolve().parents[2] / "schemas" / "clickhouse"


def statements(sql: str):
    """Split like schemas::migrations::Migration::statements."""
    out, current = [], []
    for line in sql.splitlines():
        trimmed = line.strip()
        if not trimmed or trimmed.startswith("--"):
            continue
        if trimmed.endswith(";"):
            current.append(trimmed[:-1])
            stmt = "\n".join(current).strip()
            if stmt:
                out.append(stmt)
            current = []
        else:
            current.append(line)
    rest = "\n".join(current).strip()
    if rest:
        out.append(rest)
    return out


def test_statements_split_like_the_runner():
    sql = "-- comment\nCREATE TABLE a\n(\n    x UInt8\n);\n\n-- another\nSELECT 1;\nSELECT 2"
    assert statements(sql) == ["CREATE TABLE a\n(\n    x UInt8\n)", "SELECT 1", "SELECT 2"]


@pytest.fixture()
def db(tmp_path):
    s = session.Session(str(tmp_path / "chdb"))
    s.query("CREATE DATABASE IF NOT EXISTS analytics")
    yield s
    s.close()


def already_added(stmt, error):
    """Like the runner: an ADD COLUMN whose column exists is done (18.16 has
    no ADD COLUMN IF NOT EXISTS)."""
    upper = stmt.upper()
    return upper.startswith("ALTER TABLE") and " ADD COLUMN " in upper and "already exists" in str(error)


def repartition(s, stmt):
    """`REPARTITION TABLE t <engine clause>`: the rebuild the runner does
    (storage/src/repartition.rs), unless t has a partition key already."""
    _, _, table, clause = stmt.split(None, 3)
    key = rows(s, f"SELECT partition_key FROM system.tables WHERE database = 'analytics' AND name = '{table}'")
    if key and key[0] and key[0][0]:
        return
    s.query(f"DROP TABLE IF EXISTS analytics.{table}__rebuilt")
    s.query(f"CREATE TABLE analytics.{table}__rebuilt AS analytics.{table} {clause}")
    s.query(f"INSERT INTO analytics.{table}__rebuilt SELECT * FROM analytics.{table}")
    s.query(f"RENAME TABLE analytics.{table} TO analytics.{table}__before_rebuild")
    s.query(f"RENAME TABLE analytics.{table}__rebuilt TO analytics.{table}")
    s.query(f"DROP TABLE analytics.{table}__before_rebuild")


def migrate(s):
    files = sorted(MIGRATIONS.glob("*.sql"))
    assert files, "no migrations found"
    s.query("USE analytics")
    for f in files:
        for stmt in statements(f.read_text()):
            if stmt.upper().startswith("REPARTITION TABLE "):
                repartition(s, stmt)
                continue
            try:
                s.query(stmt)
            except Exception as e:  # chdb raises its own error types
                if not already_added(stmt, e):
                    raise
    return files


def rows(s, sql):
    out = s.query(sql, "TabSeparated").bytes().decode()
    return [line.split("\t") for line in out.splitlines() if line]


def test_every_migration_applies_and_is_idempotent(db):
    files = migrate(db)
    migrate(db)
    tables = {r[0] for r in rows(db, "SELECT name FROM system.tables WHERE database = 'analytics'")}
    for expected in [
        "events_raw",
        "rollup_campaign_daily",
        "rollup_campaign_weekly",
        "rollup_campaign_monthly",
        "campaign_status_changes",
        "checkpoints",
        "campaign_reports",
        "journeys",
        "campaign_state",
        "snapshot_intents",
        "partition_epochs",
        "events_incoming",
    ]:
        assert expected in tables, f"{expected} missing after {len(files)} migrations"


def claim(s, epoch):
    """Partition 0's owner is `epoch` from now on (what the processor does
    when it is assigned the partition)."""
    s.query(
        "INSERT INTO analytics.partition_epochs (partition, epoch, owner) "
        f"VALUES (0, {epoch}, 'test')"
    )


def insert(s, tenant, campaign, user, kind, day, first=0, status="", seq=0, epoch=1):
    """Through the processor's write path: events_incoming, which the views
    move on only for the partition's current epoch."""
    event_id = f"{tenant}-{campaign}-{user}-{kind}-{day}-{first}-{seq}-{epoch}"
    s.query(
        "INSERT INTO analytics.events_incoming (tenant_id, campaign_id, job_id, user_id, event_id, "
        "event_kind, node_id, choice, first_message, warning_message, lifecycle_kind, status, "
        "audience_size, script_json, answer_title, question, occurred_at, occurred_at_ms, "
        "local_date, kafka_topic, kafka_partition, kafka_offset, epoch) VALUES "
        f"('{tenant}', '{campaign}', 'j', '{user}', '{event_id}', "
        f"'{kind}', 'n', 'c', {first}, 0, '', '{status}', NULL, '', NULL, NULL, "
        f"toDateTime('{day} 12:00:00', 'UTC'), toUnixTimestamp(toDateTime('{day} 12:00:00', 'UTC')) * 1000, "
        f"toDate('{day}'), 't', 0, 0, {epoch})"
    )


def periods(s, table, tenant):
    """(period_start, campaigns, active, sent, interacted, interactions) per period."""
    out = rows(
        s,
        "SELECT toString(period_start), count(), sum(t), sum(s), sum(i), sum(n) FROM ("
        " SELECT tenant_id, period_start, campaign_id,"
        "  uniqExactMerge(active_users) AS t, uniqExactMerge(sent_users) AS s,"
        "  uniqExactMerge(interacted_users) AS i, sumMerge(interactions) AS n"
        f" FROM analytics.{table} WHERE tenant_id = '{tenant}'"
        " GROUP BY tenant_id, period_start, campaign_id)"
        " GROUP BY period_start ORDER BY period_start",
    )
    return [(r[0], *map(int, r[1:])) for r in out]


def test_rollups_are_exact_unions_on_a_current_engine(db):
    migrate(db)
    claim(db, 1)
    # Monday 2026-11-16 starts a week; Monday 2026-11-30 starts one that ends
    # in December. u1 is active on Monday and Wednesday of the first week.
    insert(db, "acme", "c1", "u1", "notification", "2026-11-16", first=1)
    insert(db, "acme", "c1", "u1", "interaction", "2026-11-16")
    insert(db, "acme", "c1", "u1", "interaction", "2026-11-18")
    insert(db, "acme", "c1", "u2", "notification", "2026-11-18", first=1)
    insert(db, "acme", "c1", "u2", "notification", "2026-11-19")  # a reminder
    insert(db, "acme", "c2", "u1", "interaction", "2026-11-19")  # u1 again, other campaign
    insert(db, "acme", "c1", "u3", "interaction", "2026-11-23")
    insert(db, "acme", "c1", "u1", "interaction", "2026-11-30")
    insert(db, "acme", "c1", "u1", "interaction", "2026-12-01")
    insert(db, "acme", "c1", "", "lifecycle", "2026-11-17", status="RUNNING")
    insert(db, "acme", "c1", "", "lifecycle", "2026-11-20")  # no status
    insert(db, "acme", "c3", "", "lifecycle", "2026-11-20", status="NEW")
    # Another tenant with the same campaign and user ids: never mixed in.
    insert(db, "other", "c1", "u1", "interaction", "2026-11-18")
    insert(db, "other", "c1", "u9", "interaction", "2026-11-18")

    assert periods(db, "rollup_campaign_daily", "acme") == [
        ("2026-11-16", 1, 1, 1, 1, 1),
        ("2026-11-17", 1, 0, 0, 0, 0),
        ("2026-11-18", 1, 2, 1, 1, 1),
        ("2026-11-19", 2, 2, 0, 1, 1),
        ("2026-11-20", 2, 0, 0, 0, 0),
        ("2026-11-23", 1, 1, 0, 1, 1),
        ("2026-11-30", 1, 1, 0, 1, 1),
        ("2026-12-01", 1, 1, 0, 1, 1),
    ]
    # A week is the union of its days per campaign (c1: u1, u2; c2: u1), not
    # their sum (5 active user-days).
    assert periods(db, "rollup_campaign_weekly", "acme") == [
        ("2026-11-16", 3, 3, 2, 2, 3),
        ("2026-11-23", 1, 1, 0, 1, 1),
        ("2026-11-30", 1, 1, 0, 1, 2),
    ]
    assert periods(db, "rollup_campaign_monthly", "acme") == [
        ("2026-11-01", 3, 4, 2, 3, 5),
        ("2026-12-01", 1, 1, 0, 1, 1),
    ]
    for table, start in [
        ("rollup_campaign_daily", "2026-11-18"),
        ("rollup_campaign_weekly", "2026-11-16"),
        ("rollup_campaign_monthly", "2026-11-01"),
    ]:
        assert periods(db, table, "other") == [(start, 1, 2, 0, 2, 2)], table

    for table in ["rollup_campaign_daily", "rollup_campaign_weekly", "rollup_campaign_monthly"]:
        db.query(f"OPTIMIZE TABLE analytics.{table} FINAL")
    assert periods(db, "rollup_campaign_weekly", "acme")[0] == ("2026-11-16", 3, 3, 2, 2, 3)

    status = rows(
        db,
        "SELECT tenant_id, campaign_id, status, toString(local_date) "
        "FROM analytics.campaign_status_changes ORDER BY tenant_id, campaign_id",
    )
    assert status == [["acme", "c1", "RUNNING", "2026-11-17"], ["acme", "c3", "NEW", "2026-11-20"]]


def test_rows_of_an_earlier_epoch_are_dropped_on_a_current_engine(db):
    migrate(db)
    claim(db, 1)
    insert(db, "acme", "c1", "u1", "interaction", "2026-11-16")
    claim(db, 2)
    # A zombie of epoch 1 writes after the claim: nothing of it lands.
    insert(db, "acme", "c1", "u2", "interaction", "2026-11-16", epoch=1)
    insert(db, "acme", "c1", "u3", "interaction", "2026-11-16", epoch=2)
    raw = rows(db, "SELECT user_id FROM analytics.events_raw ORDER BY user_id")
    assert raw == [["u1"], ["u3"]]
    assert periods(db, "rollup_campaign_daily", "acme") == [("2026-11-16", 1, 2, 0, 2, 2)]


def test_snapshot_rows_land_in_the_month_of_their_version_after_the_rebuild(db):
    # Rows written before the rebuild (migrations up to 0006) survive it,
    # and the fenced views write into the rebuilt table.
    files = sorted(MIGRATIONS.glob("*.sql"))
    db.query("USE analytics")
    for f in files[:6]:
        for stmt in statements(f.read_text()):
            try:
                db.query(stmt)
            except Exception as e:
                if not already_added(stmt, e):
                    raise
    claim(db, 1)
    epoch_base = 1 << 41
    nov = 1_795_000_000_000  # 2026-11-18 (UTC)
    jan = 1_799_000_000_000  # 2027-01-03 (UTC)
    cols = "partition, tenant_id, campaign_id, version, evicted, state_json"
    db.query(f"INSERT INTO analytics.campaign_state_incoming ({cols}) VALUES (0, 't', 'old', {epoch_base + nov}, 0, '{{}}')")
    migrate(db)
    db.query(f"INSERT INTO analytics.campaign_state_incoming ({cols}) VALUES (0, 't', 'new', {epoch_base + jan}, 0, '{{}}')")
    got = rows(db, "SELECT campaign_id, _partition_id FROM analytics.campaign_state ORDER BY campaign_id")
    assert got == [["new", "202701"], ["old", "202611"]]
    for table in ["campaign_reports", "journeys", "campaign_state"]:
        key = rows(db, f"SELECT partition_key FROM system.tables WHERE database = 'analytics' AND name = '{table}'")
        assert "bitAnd(version" in key[0][0], (table, key)
