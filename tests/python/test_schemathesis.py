"""Fuzz the query API's OpenAPI spec against the live server (schemathesis).

The real `query-api` binary runs against the real ClickHouse server of the
local stack (CLICKHOUSE_URL), on a database of its own migrated by the real
`processor migrate` and holding a little data of two tenants, so that found
and not-found paths are both exercised, and with HTTP ingestion on: posted
events go to topics of their own on the broker of the stack (KAFKA_BROKERS),
created by the real `loadgen`. Schemathesis generates requests from
/openapi.json (valid and invalid) and checks every response: no 5xx, every
status, content type, header and body as the spec declares, and requests
without the key rejected. Read routes get a tenant key (an editor, so the
alert rule routes are exercised too, on a PostgreSQL database of their own),
the ingestion routes a producer key. The report routes run on the same
PostgreSQL database, with a report worker and the scheduler (files in a
directory of their own).
"""

import json
import os
import pathlib
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

REPO = pathlib.Path(__file__).resolve().parents[2]
CLICKHOUSE_URL = os.environ.get("CLICKHOUSE_URL", "http://127.0.0.1:8123")
KAFKA_BROKERS = os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092")
# The tenant of the producer key: the one of the OpenAPI document's example
# event, so that the examples phase posts an event that is accepted.
PRODUCER_TENANT = "acme"
INGEST_PATHS = ("/v1/events", "/v1/events/batch")
ALERT_WRITE_PATHS = ("/v1/alert-rules", "/v1/alert-rules/{id}", "/v1/alerts", "/v1/channels",
                     "/v1/silences")
REPORT_WRITE_PATHS = ("/v1/report-definitions", "/v1/report-definitions/{id}",
                      "/v1/report-definitions/{id}/schedule", "/v1/report-templates",
                      "/v1/report-templates/{id}", "/v1/report-templates/{id}/instantiate")
DASHBOARD_WRITE_PATHS = ("/v1/dashboards", "/v1/dashboards/{id}")
# The tenants registry: a platform admin key; zone names and a change's
# earliest instant are rules OpenAPI cannot express.
TENANT_PATHS = ("/v1/tenants", "/v1/tenants/{id}")
# A tenant's keys' roles: a key's id must name a key of the tenant (and not
# the caller's own), which OpenAPI cannot express.
KEY_ROLE_PATHS = ("/v1/keys/{id}/role",)
# A signed link's signature cannot be generated: any generated link is a 403.
SIGNED_PATHS = ("/v1/report-files/{id}/{format}",)


def binary(name):
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = target / "debug" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: cargo build --workspace --bins (make test does)")
    return str(path)


def clickhouse(sql, database=None, data=None):
    url = CLICKHOUSE_URL + "/?query=" + urllib.parse.quote(sql)
    if database:
        url += "&database=" + database
    body = None if data is None else data.encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as r:
            return r.read().decode()
    except OSError as e:
        pytest.fail(f"ClickHouse at {CLICKHOUSE_URL} is not reachable ({e}); start it with `make up`")


def insert(database, table, rows):
    lines = "\n".join(json.dumps(r) for r in rows)
    clickhouse(f"INSERT INTO {table} FORMAT JSONEachRow", database, lines)


def seed(database):
    """Two tenants' reports and journeys behind a checkpoint, and raw events
    that feed the rollups."""
    insert(database, "checkpoints", [
        {"partition": 0, "version": 10, "lifecycle_offset": 3,
         "notifications_offset": 5, "interactions_offset": 7},
    ])
    nodes = json.dumps([{"node_id": "end", "reached_users": 1, "choices": {"yes": 1}}])
    funnel = json.dumps([
        {"node_id": "start", "users": 2, "conversion_from_previous": 100.0, "drop_off": 0},
        {"node_id": "end", "users": 1, "conversion_from_previous": 50.0, "drop_off": 1},
    ])
    reports, journeys = [], []
    for tenant, campaign in [("t1", "c1"), ("t1", "c2"), ("t2", "c9")]:
        for job in ["", "j1"]:
            reports.append({
                "tenant_id": tenant, "campaign_id": campaign, "job_id": job,
                "partition": 0, "version": 5, "status": "RUNNING",
                "target_users": 3, "sent_users": 2, "interacted_users": 1,
                "completed_users": 1, "interaction_rate": 50.0, "completion_rate": 50.0,
                "total_interactions": 1, "messages_sent": 2, "warnings_sent": 0,
                "avg_completion_seconds": 12.5, "nodes_json": nodes, "funnel_json": funnel,
                "first_event_at_ms": 1793527200000, "last_event_at_ms": 1793530800000,
                "snapshot_at": "2026-11-01 10:00:00",
            })
        for user, completed in [("u1", 1), ("u2", 0)]:
            journeys.append({
                "tenant_id": tenant, "campaign_id": campaign, "job_id": "j1",
                "user_id": user, "partition": 0, "version": 5,
                "step_node_ids": ["end"] if completed else ["n2"],
                "step_choices": ["yes"], "step_occurred_at_ms": [1793530800000],
                "step_event_ids": [f"e-{tenant}-{campaign}-{user}"],
                "total_interactions": 1, "completed": completed,
                "exit_node": "end" if completed else "",
                "completion_seconds": 12.5 if completed else None,
                "snapshot_at": "2026-11-01 10:00:00",
            })
    insert(database, "campaign_reports", reports)
    insert(database, "journeys", journeys)
    raw = []
    for i, (tenant, kind, status) in enumerate([
        ("t1", "lifecycle", "RUNNING"), ("t1", "notification", ""),
        ("t1", "interaction", ""), ("t2", "notification", ""),
    ]):
        raw.append({
            "tenant_id": tenant, "campaign_id": "c1" if tenant == "t1" else "c9",
            "job_id": "j1", "user_id": "" if kind == "lifecycle" else "u1",
            "event_id": f"raw-{i}", "event_kind": kind, "node_id": "end",
            "choice": "yes" if kind == "interaction" else "",
            "first_message": 1 if kind == "notification" else 0, "warning_message": 0,
            "lifecycle_kind": "STATUS_CHANGED" if kind == "lifecycle" else "",
            "status": status, "audience_size": None, "script_json": "",
            "answer_title": None, "question": None,
            "occurred_at": "2026-11-01 10:00:00", "occurred_at_ms": 1793527200000 + i,
            "local_date": "2026-11-01", "kafka_topic": "t", "kafka_partition": 0,
            "kafka_offset": i,
        })
    insert(database, "events_raw", raw)


def create_topics(topics):
    """The ingestion topics, by the real loadgen (it creates them, then
    produces a handful of records nobody reads)."""
    lifecycle, notifications, interactions = topics
    result = subprocess.run(
        [binary("loadgen"), "--tenants", "1", "--campaigns", "1", "--jobs", "1",
         "--users", "1", "--days", "1", "--poison", "0", "--duplicate-ratio", "0",
         "--brokers", KAFKA_BROKERS, "--create-topics", "2",
         "--topic-lifecycle", lifecycle, "--topic-notifications", notifications,
         "--topic-interactions", interactions],
        capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"cannot create topics on {KAFKA_BROKERS} (`make up`?): {result.stderr}")


def create_alert_topics(topics):
    """The alert topics (rules, transitions) and the tenants topic, by
    confluent-kafka's admin client: the rule and tenant publishers and the
    alert store of the server use them."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": KAFKA_BROKERS})
    futures = admin.create_topics([NewTopic(t, num_partitions=1) for t in topics])
    for topic, future in futures.items():
        try:
            future.result(30)
        except Exception as e:  # noqa: BLE001 - any failure fails the fixture
            pytest.fail(f"cannot create topic {topic} on {KAFKA_BROKERS}: {e}")


# The keys of the running server, set by the `server` fixture: "read" (the
# tenant t1), "produce" (a producer of PRODUCER_TENANT), "admin" (a platform
# admin, for the tenants registry).
KEY = {}


@schemathesis.auth()
class BearerKey:
    """Every generated request carries a key, as the spec's bearer scheme
    says (schemathesis also checks requests without it): the producer key on
    the ingestion routes, the platform admin's on the tenants registry, the
    tenant's key elsewhere."""

    def get(self, case, ctx):
        return dict(KEY)

    def set(self, case, data, ctx):
        if case.operation.path in INGEST_PATHS:
            key = data["produce"]
        elif case.operation.path in TENANT_PATHS:
            key = data["admin"]
        else:
            key = data["read"]
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {key}"


DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgres://campaign@127.0.0.1:5433/campaign_analytics")


def psql(sql):
    """Run one statement on the PostgreSQL server of DATABASE_URL (psql,
    from Debian's postgresql-client)."""
    result = subprocess.run(["psql", DATABASE_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"PostgreSQL of {DATABASE_URL} (`make up`?): {result.stderr}")


def postgres_database(name):
    """A new database on the server of DATABASE_URL; its URL."""
    psql(f'CREATE DATABASE "{name}"')
    base, _, query = DATABASE_URL.partition("?")
    server = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{server}/{name}" + (f"?{query}" if query else "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    database = "schemathesis_" + uuid.uuid4().hex[:12]
    env = dict(os.environ, CLICKHOUSE_URL=CLICKHOUSE_URL, CLICKHOUSE_DATABASE=database)
    subprocess.run([binary("processor"), "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    seed(database)

    topics = [f"{database}-{t}" for t in ("lifecycle", "notifications", "interactions")]
    create_topics(topics)
    alert_topics = [f"{database}-alert-rules", f"{database}-alerts", f"{database}-tenants"]
    create_alert_topics(alert_topics)
    # The alert routes on a metadata database of their own.
    metadata_url = postgres_database(database)

    def digest(key):
        return subprocess.run([binary("query-api"), "hash-key", key], check=True,
                              capture_output=True, text=True).stdout.strip()

    key, producer, admin = secrets.token_hex(16), secrets.token_hex(16), secrets.token_hex(16)
    keys = tmp_path_factory.mktemp("keys") / "keys.toml"
    # A tenant admin: an editor of t1 that also reads its audit log.
    keys.write_text(f'[[keys]]\ntenant = "t1"\nrole = "admin"\nuser = "fuzz"\n'
                    f'sha256 = "{digest(key)}"\n\n'
                    f'[[keys]]\nrole = "producer"\ntenant = "{PRODUCER_TENANT}"\n'
                    f'sha256 = "{digest(producer)}"\n\n'
                    f'[[keys]]\nrole = "admin"\nuser = "platform"\n'
                    f'sha256 = "{digest(admin)}"\n')
    addr = f"127.0.0.1:{free_port()}"
    log = open(tmp_path_factory.mktemp("log") / "query-api.log", "w")
    proc = subprocess.Popen(
        [binary("query-api"), "serve"],
        env=dict(env, LISTEN_ADDR=addr, API_KEYS_FILE=str(keys),
                 RATE_LIMIT_PER_SECOND="100000", RATE_LIMIT_BURST="100000",
                 KAFKA_BROKERS=KAFKA_BROKERS, TOPIC_LIFECYCLE=topics[0],
                 TOPIC_NOTIFICATIONS=topics[1], TOPIC_INTERACTIONS=topics[2],
                 TOPIC_ALERT_RULES=alert_topics[0], TOPIC_ALERTS=alert_topics[1],
                 TOPIC_TENANTS=alert_topics[2],
                 ALERT_STORE_GROUP=f"{database}-alert-store", DATABASE_URL=metadata_url,
                 REPORT_STORAGE=str(tmp_path_factory.mktemp("reports"))),
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://{addr}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"query-api exited with {proc.returncode}; log {log.name}")
            try:
                with urllib.request.urlopen(base + "/readyz") as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"query-api not ready after 30 s; log {log.name}")
        KEY.update(read=key, produce=producer, admin=admin)
        yield base, key
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        clickhouse(f"DROP DATABASE IF EXISTS {database}")
        psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def api_schema(server):
    base, _ = server
    return schemathesis.openapi.from_url(base + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# Derandomized: the same examples every run, so a CI failure reproduces.
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_response_conforms_to_the_spec(case, server):
    if case.operation.path == "/v1/ws":
        pytest.skip("a WebSocket upgrade; tests/alerts_api.rs covers it")
    # Two valid dates can still be out of order or too far apart (a 400 by
    # the contract), which OpenAPI cannot express: the overview is exempt
    # from "valid data must be accepted". An event that breaks the contract
    # is rejected on its own inside a 202 (ingestion.md: the valid events of
    # a batch are accepted even when others are not), and a batch of more
    # than 1000 events is a 413 (ingestion.md), which schemathesis does not
    # count as a rejection: the ingestion routes are exempt from "invalid
    # data must be rejected" (the answer still has to match the spec, and a
    # body that is not JSON or not a batch is 400).
    # The bodies of the alert write routes have rules OpenAPI cannot
    # express (a rule condition's fields per kind it can: a oneOf): channel
    # ids must name live channels of the tenant, a job_id needs a
    # campaign_id, a silence must end after it starts. They are exempt from
    # "valid data must be accepted" (their errors are 400s with the usual
    # body, which is still checked, and tests/alerts_api.rs covers them).
    # So do the report write routes (a range's from must not be after its
    # to, parameters depend on the kind, a cron expression must parse;
    # query-api/tests/reports_api.rs covers them), the dashboard write
    # routes (a widget's parameters depend on its type, a campaign widget
    # needs a campaign_id; query-api/tests/dashboards_api.rs covers them),
    # the tenant write routes (an IANA zone name, a zone change not earlier
    # than the change delay; tests/tenants.rs covers them), a key's role
    # (the id of one of the tenant's keys; query-api/tests/keys_api.rs covers
    # it), and signed links.
    excluded = []
    write_paths = (ALERT_WRITE_PATHS + REPORT_WRITE_PATHS + DASHBOARD_WRITE_PATHS + TENANT_PATHS
                   + KEY_ROLE_PATHS)
    if case.operation.path in ("/v1/overview",) + SIGNED_PATHS or (
            case.method in ("POST", "PUT", "PATCH") and case.operation.path in write_paths):
        excluded.append(positive_data_acceptance)
    if case.operation.path in INGEST_PATHS:
        excluded.append(negative_data_rejection)
    # Event streams never end: schemathesis reads one until the request
    # timeout (10 s by default); what a stream sends first comes at once.
    kwargs = {"timeout": 2} if case.operation.path.endswith("/stream") else {}
    case.call_and_validate(excluded_checks=excluded, **kwargs)


def post(base, path, key, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_the_documented_example_event_is_accepted(server, api_schema):
    base, _ = server
    with urllib.request.urlopen(base + "/openapi.json") as r:
        example = json.load(r)["components"]["schemas"]["Event"]["example"]
    status, body = post(base, "/v1/events", KEY["produce"], example)
    assert (status, body) == (202, {"accepted": 1, "rejected": []})
    status, body = post(base, "/v1/events/batch", KEY["produce"],
                        {"events": [example, dict(example, tenant_id="other")]})
    assert status == 202
    assert body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(1, "tenant_mismatch")]
    # The tenant key may not post, the producer key may not read.
    assert post(base, "/v1/events", KEY["read"], example)[0] == 403
    request = urllib.request.Request(base + "/v1/campaigns",
                                     headers={"Authorization": f"Bearer {KEY['produce']}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request)
    assert e.value.code == 403


def test_the_spec_lists_every_route(server):
    base, _ = server
    with urllib.request.urlopen(base + "/openapi.json") as r:
        spec = json.load(r)
    for path in [
        "/v1/campaigns",
        "/v1/campaigns/{campaign_id}/report",
        "/v1/campaigns/{campaign_id}/jobs",
        "/v1/campaigns/{campaign_id}/jobs/{job_id}/report",
        "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys",
        "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys/{user_id}",
        "/v1/overview",
        "/v1/events",
        "/v1/events/batch",
        "/v1/report-definitions",
        "/v1/report-definitions/{id}/schedule",
        "/v1/report-runs/{id}/download",
        "/v1/report-templates",
        "/v1/audit",
        "/v1/dashboards",
        "/v1/dashboards/{id}/data",
        "/v1/tenants",
        "/v1/tenants/{id}",
        "/v1/me",
        "/healthz",
        "/readyz",
    ]:
        assert path in spec["paths"], path
