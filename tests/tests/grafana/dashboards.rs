//! The provisioned dashboards (deploy/grafana/provisioning/dashboards/
//! campaign-analytics/*.json): their queries, and the ClickHouse ones with
//! their macros and template variables replaced as Grafana and the
//! ClickHouse plugin replace them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// The Grafana plugin id of the ClickHouse datasource.
pub const CLICKHOUSE: &str = "vertamedia-clickhouse-datasource";
pub const PROMETHEUS: &str = "prometheus";

pub fn grafana_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana")
}

/// Where the dashboard provider reads the JSON files from, in the tree.
pub fn dashboards_dir() -> PathBuf {
    grafana_dir().join("provisioning/dashboards/campaign-analytics")
}

/// Every dashboard: (file name, JSON), by file name.
pub fn load() -> Vec<(String, Value)> {
    let dir = dashboards_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboard in {}", dir.display());
    files
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, json)
        })
        .collect()
}

/// One query of a dashboard: a panel's target or a query variable.
#[derive(Debug, Clone)]
pub struct Query {
    /// `file.json: panel title (refId)` or `file.json: variable $name`.
    pub place: String,
    pub dashboard: String,
    pub panel: String,
    /// The datasource's plugin type.
    pub datasource: String,
    pub text: String,
    /// A panel target's `format` (ClickHouse: time_series or table).
    pub format: Option<String>,
}

/// Every panel, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn datasource_type(ds: &Value) -> Option<String> {
    ds["type"].as_str().map(str::to_string)
}

/// Every query of a dashboard, with the type of the datasource it runs on
/// (the target's, else the panel's).
pub fn queries(file: &str, dashboard: &Value) -> Vec<Query> {
    let uid = dashboard["uid"].as_str().unwrap_or(file).to_string();
    let mut out = Vec::new();
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or_default();
        let text = match &v["query"] {
            Value::String(s) => s.clone(),
            q => q["query"].as_str().unwrap_or_default().to_string(),
        };
        out.push(Query {
            place: format!("{file}: variable ${name}"),
            dashboard: uid.clone(),
            panel: format!("${name}"),
            datasource: datasource_type(&v["datasource"])
                .unwrap_or_else(|| panic!("{file}: variable ${name} has no datasource type")),
            text,
            format: None,
        });
    }
    for p in panels(dashboard) {
        let title = p["title"].as_str().unwrap_or_default();
        for t in p["targets"].as_array().into_iter().flatten() {
            let datasource = datasource_type(&t["datasource"])
                .or_else(|| datasource_type(&p["datasource"]))
                .unwrap_or_else(|| panic!("{file}: {title}: a target without a datasource type"));
            let text = match datasource.as_str() {
                PROMETHEUS => t["expr"].as_str(),
                _ => t["query"].as_str(),
            }
            .unwrap_or_default()
            .to_string();
            out.push(Query {
                place: format!(
                    "{file}: {title} ({})",
                    t["refId"].as_str().unwrap_or_default()
                ),
                dashboard: uid.clone(),
                panel: title.to_string(),
                datasource,
                text,
                format: t["format"].as_str().map(str::to_string),
            });
        }
    }
    out
}

/// The values a ClickHouse query is expanded with: the plugin's `$from`
/// and `$to` (the time range in Unix seconds) and the dashboard's
/// template variables by name.
pub fn variables(from_s: i64, to_s: i64, values: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("from".into(), from_s.to_string());
    vars.insert("to".into(), to_s.to_string());
    vars
}

/// `sql` with every `$name` / `${name}` replaced by its value, as Grafana
/// (template variables: single value, no multi-select, so inserted as they
/// are) and the plugin (`$from`, `$to`) do. An unknown name, a format
/// (`${x:csv}`) or any other macro of the plugin (`$timeFilter`, ...) is
/// an error: the dashboards use only these, and this says so.
pub fn expand(sql: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in: {sql}"))?;
            (&braced[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = vars
            .get(name)
            .ok_or_else(|| format!("${name} is neither a variable of the dashboard nor a macro the test knows ($from, $to)"))?;
        out.push_str(value);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_and_variables_expand_and_unknown_ones_fail() {
        let vars = variables(
            1_700_000_000,
            1_700_086_400,
            &[("database", "db1"), ("tenant", "t0")],
        );
        assert_eq!(
            expand(
                "SELECT 1 FROM $database.x WHERE tenant_id = '$tenant' AND t >= $from * 1000 AND t <= ${to}",
                &vars
            ),
            Ok("SELECT 1 FROM db1.x WHERE tenant_id = 't0' AND t >= 1700000000 * 1000 AND t <= 1700086400".into())
        );
        for bad in [
            "SELECT 1 WHERE $timeFilter",
            "SELECT ${tenant:sqlstring}",
            "SELECT $__from",
            "SELECT ${tenant",
        ] {
            assert!(expand(bad, &vars).is_err(), "{bad} was expanded");
        }
    }
}
