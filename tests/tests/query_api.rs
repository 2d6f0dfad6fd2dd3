//! The query API end to end: loadgen traffic through the real processor
//! into the real ClickHouse, then every endpoint of the real `query-api`
//! binary against loadgen's expected figures, for two tenants, with tenant
//! and admin keys; and no key ever sees another tenant's data.

use std::collections::BTreeSet;

use benches::loadgen::expected_json::{self as expected, ExpectedFile};
use integration_tests::api::{self, QueryApi};
use integration_tests::compare::{assert_no_differences, differences};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{loadgen, wait_caught_up, ProcessorSpec};
use integration_tests::server::free_port;
use integration_tests::{clickhouse_url, fresh_database};
use serde_json::Value;

/// Two tenants in different time zones, several jobs, duplicates, poison.
#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "21", "--tenants", "2", "--campaigns", "5", "--jobs", "2", "--users", "25",
    "--days", "50", "--duplicate-ratio", "0.1", "--poison", "4",
];

type ReportKey = (String, String, Option<String>);
type JourneyKey = (String, String, String, String);

fn report_key(r: &expected::Report) -> ReportKey {
    (r.tenant_id.clone(), r.campaign_id.clone(), r.job_id.clone())
}

fn journey_key(j: &expected::Journey) -> JourneyKey {
    (
        j.tenant_id.clone(),
        j.campaign_id.clone(),
        j.job_id.clone(),
        j.user_id.clone(),
    )
}

/// A report of the API as the expected file spells it; checks `as_of`.
fn report(v: &Value) -> expected::Report {
    let as_of = v["as_of"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(as_of).is_ok(),
        "as_of is not an RFC 3339 time: {v}"
    );
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a report ({e}): {v}"))
}

/// A journey of the API (it names only the user) with its context added.
fn journey(v: &Value, tenant: &str, campaign: &str, job: &str) -> expected::Journey {
    let mut v = v.clone();
    v["tenant_id"] = tenant.into();
    v["campaign_id"] = campaign.into();
    v["job_id"] = job.into();
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a journey ({e}): {v}"))
}

/// Follow `next_cursor` from the first page to the last; every item once.
async fn all_pages(api: &QueryApi, path: &str, field: &str, key: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_string(),
        };
        let page: Value = api.get_json(&url, key).await;
        let got = page[field]
            .as_array()
            .unwrap_or_else(|| panic!("{url}: no {field} array: {page}"));
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(!got.is_empty(), "{url}: an empty page with a next cursor");
                cursor = Some(c.to_string());
            }
            None => return items,
        }
    }
    panic!("{path}: pagination does not end");
}

/// Every endpoint, as tenant `tenant` with `key`, against the expected
/// figures; `suffix` is appended to every query (`tenant_id=` for admins).
async fn check_tenant(api: &QueryApi, exp: &ExpectedFile, tenant: &str, key: &str, suffix: &str) {
    let q = |path: &str| {
        if suffix.is_empty() {
            path.to_string()
        } else if path.contains('?') {
            format!("{path}&{suffix}")
        } else {
            format!("{path}?{suffix}")
        }
    };
    let mine: Vec<&expected::Report> = exp
        .reports
        .iter()
        .filter(|r| r.tenant_id == tenant)
        .collect();
    let campaigns: Vec<expected::Report> = mine
        .iter()
        .filter(|r| r.job_id.is_none())
        .map(|r| (*r).clone())
        .collect();
    assert!(campaigns.len() >= 2, "traffic has campaigns for {tenant}");

    // The list, in small pages and in one.
    let paged = all_pages(api, &q("/v1/campaigns?limit=2"), "campaigns", key).await;
    let got: Vec<expected::Report> = paged.iter().map(report).collect();
    let ids: BTreeSet<&str> = got.iter().map(|r| r.campaign_id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "every campaign once across the pages");
    assert_no_differences(&differences(
        "listed campaign",
        &campaigns,
        &got,
        report_key,
    ));
    let one: Value = api.get_json(&q("/v1/campaigns?limit=1000"), key).await;
    assert!(one["next_cursor"].is_null(), "one page holds all: {one}");
    assert_eq!(
        one["campaigns"].as_array().map(Vec::len),
        Some(campaigns.len())
    );

    // Exports of the list: CSV (header + one line a campaign) and NDJSON.
    let csv = api
        .get_as(&q("/v1/campaigns?format=csv"), Some(key), None)
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(csv
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/csv"));
    let text = csv.text();
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.contains("campaign_id") && header.contains("sent_users"),
        "{header}"
    );
    assert_eq!(lines.count(), campaigns.len(), "CSV: {text}");
    let by_accept = api
        .get_as(&q("/v1/campaigns"), Some(key), Some("text/csv"))
        .await;
    assert_eq!(by_accept.status, 200);
    assert_eq!(by_accept.text(), text, "Accept: text/csv is ?format=csv");
    let nd = api
        .get_as(&q("/v1/campaigns?format=ndjson"), Some(key), None)
        .await;
    assert_eq!(nd.status, 200, "{}", nd.text());
    let got: Vec<expected::Report> = nd
        .text()
        .lines()
        .map(|l| report(&serde_json::from_str(l).expect("an NDJSON line")))
        .collect();
    assert_no_differences(&differences(
        "NDJSON campaign",
        &campaigns,
        &got,
        report_key,
    ));

    for c in &campaigns {
        let cid = &c.campaign_id;
        let v: Value = api
            .get_json(&q(&format!("/v1/campaigns/{cid}/report")), key)
            .await;
        assert_no_differences(&differences(
            "campaign report",
            std::slice::from_ref(c),
            &[report(&v)],
            report_key,
        ));

        let jobs_exp: Vec<expected::Report> = mine
            .iter()
            .filter(|r| r.campaign_id == *cid && r.job_id.is_some())
            .map(|r| (*r).clone())
            .collect();
        let v: Value = api
            .get_json(&q(&format!("/v1/campaigns/{cid}/jobs")), key)
            .await;
        let jobs: Vec<expected::Report> = v["jobs"]
            .as_array()
            .unwrap_or_else(|| panic!("no jobs array: {v}"))
            .iter()
            .map(report)
            .collect();
        assert_no_differences(&differences("job", &jobs_exp, &jobs, report_key));

        for j in &jobs_exp {
            let jid = j.job_id.clone().unwrap_or_default();
            let v: Value = api
                .get_json(&q(&format!("/v1/campaigns/{cid}/jobs/{jid}/report")), key)
                .await;
            assert_no_differences(&differences(
                "job report",
                std::slice::from_ref(j),
                &[report(&v)],
                report_key,
            ));

            let want: Vec<expected::Journey> = exp
                .journeys
                .iter()
                .flatten()
                .filter(|x| x.tenant_id == tenant && x.campaign_id == *cid && x.job_id == jid)
                .cloned()
                .collect();
            let path = q(&format!("/v1/campaigns/{cid}/jobs/{jid}/journeys?limit=4"));
            let got: Vec<expected::Journey> = all_pages(api, &path, "journeys", key)
                .await
                .iter()
                .map(|v| journey(v, tenant, cid, &jid))
                .collect();
            assert_no_differences(&differences("journey", &want, &got, journey_key));

            for completed in [true, false] {
                let path = q(&format!(
                    "/v1/campaigns/{cid}/jobs/{jid}/journeys?completed={completed}&limit=1000"
                ));
                let got: Vec<expected::Journey> = all_pages(api, &path, "journeys", key)
                    .await
                    .iter()
                    .map(|v| journey(v, tenant, cid, &jid))
                    .collect();
                let subset: Vec<expected::Journey> = want
                    .iter()
                    .filter(|x| x.completed == completed)
                    .cloned()
                    .collect();
                assert_no_differences(&differences(
                    &format!("journey (completed={completed})"),
                    &subset,
                    &got,
                    journey_key,
                ));
            }

            if let Some(first) = want.first() {
                let uid = &first.user_id;
                let v: Value = api
                    .get_json(
                        &q(&format!("/v1/campaigns/{cid}/jobs/{jid}/journeys/{uid}")),
                        key,
                    )
                    .await;
                assert_no_differences(&differences(
                    "one journey",
                    std::slice::from_ref(first),
                    &[journey(&v, tenant, cid, &jid)],
                    journey_key,
                ));
            }
        }
    }

    // The overview per granularity over the whole traffic.
    for (granularity, periods) in [
        ("day", &exp.rollups.day),
        ("week", &exp.rollups.week),
        ("month", &exp.rollups.month),
    ] {
        let want: Vec<expected::Period> = periods
            .iter()
            .filter(|p| p.tenant_id == tenant)
            .cloned()
            .collect();
        let from = want.iter().map(|p| p.period_start).min().expect("periods");
        let to = want.iter().map(|p| p.period_start).max().expect("periods");
        let path = q(&format!(
            "/v1/overview?granularity={granularity}&from={from}&to={to}"
        ));
        let v: Value = api.get_json(&path, key).await;
        assert_eq!(v["tenant_id"], tenant, "{v}");
        assert_eq!(v["granularity"], granularity, "{v}");
        assert_eq!(v["timezone"], exp.tenants[tenant].timezone.as_str(), "{v}");
        let got: Vec<expected::Period> = v["periods"]
            .as_array()
            .unwrap_or_else(|| panic!("no periods: {v}"))
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p["tenant_id"] = tenant.into();
                serde_json::from_value(p.clone())
                    .unwrap_or_else(|e| panic!("not a period ({e}): {p}"))
            })
            .collect();
        assert_no_differences(&differences(
            &format!("{granularity} overview"),
            &want,
            &got,
            |p| (p.tenant_id.clone(), p.period_start),
        ));
        let csv = api
            .get_as(&format!("{path}&format=csv"), Some(key), None)
            .await;
        assert_eq!(csv.status, 200, "{}", csv.text());
        assert_eq!(csv.text().lines().count(), want.len() + 1, "{}", csv.text());
    }
}

/// Every tenant-scoped route of `other`'s data, asked with `key` (of
/// another tenant): 404, exactly as if nothing existed.
async fn check_isolation(api: &QueryApi, exp: &ExpectedFile, key: &str, mine: &str, other: &str) {
    let own: BTreeSet<&str> = exp
        .reports
        .iter()
        .filter(|r| r.tenant_id == mine)
        .map(|r| r.campaign_id.as_str())
        .collect();
    let foreign: Vec<&expected::Journey> = exp
        .journeys
        .iter()
        .flatten()
        .filter(|j| j.tenant_id == other && !own.contains(j.campaign_id.as_str()))
        .collect();
    assert!(!foreign.is_empty(), "{other} has campaigns {mine} has not");
    let mut checked = 0;
    for j in foreign.iter().step_by(7) {
        let (c, job, u) = (&j.campaign_id, &j.job_id, &j.user_id);
        for path in [
            format!("/v1/campaigns/{c}/report"),
            format!("/v1/campaigns/{c}/jobs"),
            format!("/v1/campaigns/{c}/jobs/{job}/report"),
            format!("/v1/campaigns/{c}/jobs/{job}/journeys"),
            format!("/v1/campaigns/{c}/jobs/{job}/journeys/{u}"),
            format!("/v1/campaigns/{c}/report?format=csv"),
            format!("/v1/campaigns/{c}/report?tenant_id={other}"),
        ] {
            let r = api.get_as(&path, Some(key), None).await;
            assert_eq!(r.status, 404, "{mine}'s key on {path}: {}", r.text());
            assert_eq!(r.error_code().as_deref(), Some("not_found"), "{path}");
            checked += 1;
        }
    }
    for path in [
        format!("/v1/campaigns?tenant_id={other}"),
        format!("/v1/overview?granularity=month&tenant_id={other}"),
    ] {
        let r = api.get_as(&path, Some(key), None).await;
        assert_eq!(r.status, 404, "{mine}'s key on {path}: {}", r.text());
        checked += 1;
    }
    // What a tenant's key lists never names the other tenant.
    let list = api
        .get_as("/v1/campaigns?format=ndjson", Some(key), None)
        .await;
    assert_eq!(list.status, 200);
    for line in list.text().lines() {
        let v: Value = serde_json::from_str(line).expect("NDJSON");
        assert_eq!(v["tenant_id"], mine, "{line}");
    }
    assert!(checked > 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_equals_the_expected_figures_and_tenants_stay_apart() {
    let topics = Topics::unique("api", 4);
    kafka::create(&topics).await;
    let exp = loadgen(&topics, TRAFFIC);
    assert_eq!(exp.tenants.len(), 2);
    let (db, client) = fresh_database("e2e_api").await;
    let spec = ProcessorSpec::new(&topics, &db, &exp);
    let mut p = spec.start("api");
    wait_caught_up(
        &client,
        &topics,
        &exp,
        std::time::Duration::from_secs(180),
        &mut [&mut p],
    )
    .await;
    p.stop();

    let keys = api::keys(exp.tenants.keys());
    let api = QueryApi::start(&clickhouse_url(), &db, &keys, &spec.tenant_timezones, true).await;
    let tenants: Vec<&String> = exp.tenants.keys().collect();

    for t in &tenants {
        check_tenant(&api, &exp, t, &keys.tenants[t.as_str()], "").await;
        check_tenant(&api, &exp, t, &keys.admin, &format!("tenant_id={t}")).await;
    }
    check_isolation(
        &api,
        &exp,
        &keys.tenants[tenants[0]],
        tenants[0],
        tenants[1],
    )
    .await;
    check_isolation(
        &api,
        &exp,
        &keys.tenants[tenants[1]],
        tenants[1],
        tenants[0],
    )
    .await;

    // Keys: none or a wrong one is 401; an admin must name the tenant.
    for key in [None, Some("not-a-key")] {
        let r = api.get_as("/v1/campaigns", key, None).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("unauthorized"));
    }
    let r = api.get_as("/v1/campaigns", Some(&keys.admin), None).await;
    assert_eq!(r.status, 400, "admin without tenant_id: {}", r.text());
    let r = api
        .get_as(
            "/v1/overview?from=2026-13-01",
            Some(&keys.tenants[tenants[0]]),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());

    // The access log never holds a key.
    let log = std::fs::read_to_string(&api.log).unwrap_or_default();
    assert!(log.contains("/v1/campaigns"), "access log lines: {log}");
    for k in keys.tenants.values().chain([&keys.admin]) {
        assert!(!log.contains(k.as_str()), "a key is in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_unreachable_is_503_and_not_ready() {
    let keys = api::keys([&"t1".to_string()]);
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let api = QueryApi::start(&nowhere, "campaign_analytics", &keys, "", false).await;
    assert_eq!(api.get_as("/healthz", None, None).await.status, 200);
    let r = api.get_as("/readyz", None, None).await;
    assert_eq!(r.status, 503, "{}", r.text());
    for path in [
        "/v1/campaigns",
        "/v1/campaigns/c1/report",
        "/v1/campaigns/c1/jobs/j1/journeys/u1",
        "/v1/overview?granularity=week",
    ] {
        let r = api.get_as(path, Some(&keys.tenants["t1"]), None).await;
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        assert!(r
            .header("content-type")
            .unwrap_or_default()
            .contains("json"));
        assert!(
            r.error_code().is_some(),
            "{path}: not a JSON error: {}",
            r.text()
        );
    }
}
