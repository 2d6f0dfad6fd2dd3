"""Every ClickHouse migration runs on a current ClickHouse engine too.

Production runs ClickHouse 24.x and later; the local stack runs Debian's 18.16.
chdb embeds a current engine in-process: apply every migration of
schemas/clickhouse/ in order (split into statements the way the processor's
runner does), twice (they are idempotent), then check that the rollup views
give exact unions on the modern engine as well.
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


@pytest.fixture()
def db(tmp_path):
    s = session.Session(str(tmp_path / "chdb"))
    s.query("CREATE DATABASE IF NOT EXISTS analytics")
    yield s
    s.close()


def migrate(s):
    files = sorted(MIGRATIONS.glob("*.sql"))
    assert files, "no migrations found"
    s.query("USE analytics")
    for f in files:
        for stmt in statements(f.read_text()):
            s.query(stmt)
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
    ]:
        assert expected in tables, f"{expected} missing after {len(files)} migrations"


def insert(s, tenant, campaign, user, kind, day, first=0, status=""):
    s.query(
        "INSERT INTO analytics.events_raw (tenant_id, campaign_id, job_id, user_id, event_id, "
        "event_kind, node_id, choice, first_message, warning_message, lifecycle_kind, status, "
        "audience_size, script_json, answer_title, question, occurred_at, occurred_at_ms, "
        "local_date, kafka_topic, kafka_partition, kafka_offset) VALUES "
        f"('{tenant}', '{campaign}', 'j', '{user}', '{tenant}-{campaign}-{user}-{kind}-{day}-{first}', "
        f"'{kind}', 'n', 'c', {first}, 0, '', '{status}', NULL, '', NULL, NULL, "
        f"toDateTime('{day} 12:00:00', 'UTC'), toUnixTimestamp(toDateTime('{day} 12:00:00', 'UTC')) * 1000, "
        f"toDate('{day}'), 't', 0, 0)"
    )


def test_rollups_are_exact_unions_on_a_current_engine(db):
    migrate(db)
    # u1 active Monday and Wednesday of one week: once in the week.
    insert(db, "acme", "c1", "u1", "notification", "2026-11-16", first=1)
    insert(db, "acme", "c1", "u1", "interaction", "2026-11-16")
    insert(db, "acme", "c1", "u1", "interaction", "2026-11-18")
    insert(db, "acme", "c1", "u2", "notification", "2026-11-18", first=1)
    # Next week, and another tenant that must never mix in.
    insert(db, "acme", "c1", "u3", "interaction", "2026-11-23")
    insert(db, "other", "c9", "u1", "interaction", "2026-11-18")
    insert(db, "acme", "c1", "", "lifecycle", "2026-11-17", status="RUNNING")

    def period(table, start):
        return rows(
            db,
            "SELECT uniqExactMerge(active_users), uniqExactMerge(sent_users), "
            "uniqExactMerge(interacted_users), sumMerge(interactions) "
            f"FROM analytics.{table} WHERE tenant_id = 'acme' AND period_start = toDate('{start}')",
        )[0]

    assert period("rollup_campaign_daily", "2026-11-16") == ["1", "1", "1", "1"]
    assert period("rollup_campaign_daily", "2026-11-18") == ["2", "1", "1", "1"]
    # The week is the union of its days (u1 once), not their sum.
    assert period("rollup_campaign_weekly", "2026-11-16") == ["2", "2", "1", "2"]
    assert period("rollup_campaign_weekly", "2026-11-23") == ["1", "0", "1", "1"]
    assert period("rollup_campaign_monthly", "2026-11-01") == ["3", "2", "2", "3"]
    status = rows(db, "SELECT campaign_id, status FROM analytics.campaign_status_changes")
    assert status == [["c1", "RUNNING"]]
