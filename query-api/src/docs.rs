//! `/docs`: the OpenAPI document rendered as one self-contained HTML page
//! on the server (no script, no font or stylesheet from elsewhere: it
//! works offline and behind any firewall). Pure: the document's JSON in,
//! the page out; rendered once per process.
//!
//! The page: the API's description, a table of contents by tag, each
//! operation with its parameters, request body and responses, and every
//! schema with its properties (links between them).

use std::fmt::Write as _;

use serde_json::{Map, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// HTML-escape text.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text with `code` spans (backticks) and paragraphs (blank
/// lines): the little Markdown the doc comments use.
fn prose(text: &str) -> String {
    let mut html = String::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        html.push_str("<p>");
        for (i, part) in para.split('`').enumerate() {
            if i % 2 == 1 {
                let _ = write!(html, "<code>{}</code>", esc(part));
            } else {
                html.push_str(&esc(part));
            }
        }
        html.push_str("</p>");
    }
    html
}

/// An anchor id from any text.
fn anchor(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The name of a `$ref` (`#/components/schemas/Name` → `Name`).
fn ref_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// A schema in a line: a link for a reference, else its type and limits.
fn schema_summary(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = ref_name(r);
        return format!("<a href=\"#schema-{}\">{}</a>", anchor(name), esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            let is_null = |p: &&Value| p.get("type").and_then(Value::as_str) == Some("null");
            let shown: Vec<String> = parts
                .iter()
                .filter(|p| !is_null(p))
                .map(schema_summary)
                .collect();
            let nullable = if parts.iter().any(|p| is_null(&p)) {
                " or null"
            } else {
                ""
            };
            return format!("{}{nullable}", shown.join(" | "));
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    let mut text = esc(&ty);
    if ty.starts_with("array") {
        if let Some(items) = schema.get("items") {
            text = format!("array of {}", schema_summary(items));
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        let _ = write!(text, " ({})", esc(format));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", esc(&v.to_string().replace('"', ""))))
            .collect();
        let _ = write!(text, ": {}", values.join(", "));
    }
    let mut limits = Vec::new();
    for (key, label) in [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
    ] {
        if let Some(v) = schema.get(key) {
            limits.push(format!("{label} {v}"));
        }
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        limits.push(format!("pattern <code>{}</code>", esc(p)));
    }
    if !limits.is_empty() {
        let _ = write!(text, "; {}", limits.join(", "));
    }
    text
}

/// The operations of the document: (tag, method, path, operation).
fn operations(doc: &Value) -> Vec<(String, &'static str, &str, &Value)> {
    let mut ops = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
                    ops.push((tag, method, path.as_str(), op));
                }
            }
        }
    }
    ops
}

fn op_id(method: &str, path: &str) -> String {
    format!("op-{method}-{}", anchor(path))
}

fn parameters_html(op: &Value) -> String {
    let Some(params) = op.get("parameters").and_then(Value::as_array) else {
        return String::new();
    };
    if params.is_empty() {
        return String::new();
    }
    let mut html = String::from(
        "<h4>Parameters</h4><table><thead><tr><th>name</th><th>in</th><th>type</th>\
         <th>description</th></tr></thead><tbody>",
    );
    for p in params {
        let required = if p["required"].as_bool() == Some(true) {
            " <span class=\"req\">required</span>"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<tr><td><code>{}</code>{required}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(p["name"].as_str().unwrap_or_default()),
            esc(p["in"].as_str().unwrap_or_default()),
            schema_summary(&p["schema"]),
            prose(p["description"].as_str().unwrap_or_default()),
        );
    }
    html.push_str("</tbody></table>");
    html
}

fn content_html(content: &Value) -> String {
    let Some(content) = content.as_object() else {
        return String::new();
    };
    content
        .iter()
        .map(|(media, body)| {
            format!(
                "<code>{}</code> {}",
                esc(media),
                body.get("schema").map(schema_summary).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn operation_html(method: &str, path: &str, op: &Value) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<section class=\"op\" id=\"{}\"><h3><span class=\"m m-{method}\">{}</span> <code>{}</code></h3>",
        op_id(method, path),
        method.to_uppercase(),
        esc(path)
    );
    for key in ["summary", "description"] {
        if let Some(text) = op.get(key).and_then(Value::as_str) {
            html.push_str(&prose(text));
        }
    }
    if op
        .get("security")
        .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()))
    {
        html.push_str(
            "<p class=\"auth\">Needs <code>Authorization: Bearer &lt;key&gt;</code>.</p>",
        );
    }
    html.push_str(&parameters_html(op));
    if let Some(body) = op.get("requestBody") {
        let _ = write!(
            html,
            "<h4>Request body</h4><p>{}</p>",
            content_html(&body["content"])
        );
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        html.push_str("<h4>Responses</h4><table><tbody>");
        for (status, response) in responses {
            let description = response["description"].as_str().unwrap_or_default();
            let _ = write!(
                html,
                "<tr><td class=\"status s{}\">{}</td><td>{}{}</td></tr>",
                status.chars().next().unwrap_or('0'),
                esc(status),
                prose(description),
                content_html(&response["content"])
            );
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</section>");
    html
}

fn schema_html(name: &str, schema: &Value) -> String {
    let mut html = format!(
        "<section class=\"schema\" id=\"schema-{}\"><h3>{}</h3>",
        anchor(name),
        esc(name)
    );
    if let Some(text) = schema.get("description").and_then(Value::as_str) {
        html.push_str(&prose(text));
    }
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if properties.is_empty() {
        let _ = write!(html, "<p>{}</p>", schema_summary(schema));
    } else {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        html.push_str(
            "<table><thead><tr><th>field</th><th>type</th><th>description</th></tr></thead><tbody>",
        );
        for (field, property) in properties {
            let req = if required.contains(&field.as_str()) {
                " <span class=\"req\">required</span>"
            } else {
                ""
            };
            let _ = write!(
                html,
                "<tr><td><code>{}</code>{req}</td><td>{}</td><td>{}</td></tr>",
                esc(field),
                schema_summary(property),
                prose(property["description"].as_str().unwrap_or_default())
            );
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</section>");
    html
}

const STYLE: &str = "\
:root{--fg:#1d2330;--muted:#5b6475;--line:#e3e7ee;--accent:#2563eb;--bg:#fafbfc}\
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',\
Roboto,sans-serif;color:var(--fg);background:#fff}\
nav{position:fixed;top:0;left:0;bottom:0;width:290px;overflow:auto;background:var(--bg);\
border-right:1px solid var(--line);padding:20px 16px;font-size:13px}\
nav h2{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);\
margin:18px 0 6px}nav a{display:block;color:var(--fg);text-decoration:none;padding:2px 0;\
white-space:nowrap;overflow:hidden;text-overflow:ellipsis}nav a:hover{color:var(--accent)}\
main{margin-left:290px;padding:28px 40px;max-width:1100px}\
h1{margin:0 0 8px;font-size:28px}h2.tag{margin:40px 0 8px;padding-bottom:6px;\
border-bottom:2px solid var(--line)}h3{margin:0 0 8px;font-size:17px}h4{margin:14px 0 6px;\
font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}\
section.op,section.schema{border:1px solid var(--line);border-radius:8px;padding:16px 18px;\
margin:14px 0}code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f3f7;\
padding:1px 4px;border-radius:4px}table{border-collapse:collapse;width:100%;font-size:14px}\
th,td{text-align:left;vertical-align:top;border-top:1px solid var(--line);padding:6px 8px}\
th{color:var(--muted);font-weight:600}td p{margin:0 0 4px}\
.m{display:inline-block;min-width:62px;text-align:center;border-radius:5px;color:#fff;\
font-size:12px;padding:2px 6px;font-weight:700}.m-get{background:#15803d}.m-post{background:#2563eb}\
.m-put{background:#b45309}.m-patch{background:#7c3aed}.m-delete{background:#b91c1c}\
.req{color:#b91c1c;font-size:11px}.status{font-weight:700;width:70px}.s2{color:#15803d}\
.s4{color:#b45309}.s5{color:#b91c1c}.auth{color:var(--muted);font-size:13px}\
@media (max-width:800px){nav{position:static;width:auto;border-right:0}main{margin:0;padding:16px}}";

/// The page of an OpenAPI document (its JSON).
pub fn render(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or_default();
    let mut ops = operations(doc);
    let tag_order: Vec<String> = doc["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let rank = |tag: &str| {
        tag_order
            .iter()
            .position(|t| t == tag)
            .unwrap_or(usize::MAX)
    };
    ops.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.2.cmp(b.2)));
    let schemas = doc["components"]["schemas"].as_object();

    let mut nav = String::new();
    let mut body = String::new();
    let mut current = None;
    for (tag, method, path, op) in &ops {
        if current.as_deref() != Some(tag.as_str()) {
            let _ = write!(nav, "<h2>{}</h2>", esc(tag));
            let description = doc["tags"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["name"] == tag.as_str()))
                .and_then(|t| t["description"].as_str())
                .unwrap_or_default();
            let _ = write!(
                body,
                "<h2 class=\"tag\" id=\"tag-{}\">{}</h2>{}",
                anchor(tag),
                esc(tag),
                prose(description)
            );
            current = Some(tag.clone());
        }
        let _ = write!(
            nav,
            "<a href=\"#{}\"><span class=\"m m-{method}\">{}</span> {}</a>",
            op_id(method, path),
            method.to_uppercase(),
            esc(path)
        );
        body.push_str(&operation_html(method, path, op));
    }
    if let Some(schemas) = schemas {
        nav.push_str("<h2>schemas</h2>");
        body.push_str("<h2 class=\"tag\" id=\"schemas\">schemas</h2>");
        for (name, schema) in schemas {
            let _ = write!(
                nav,
                "<a href=\"#schema-{}\">{}</a>",
                anchor(name),
                esc(name)
            );
            body.push_str(&schema_html(name, schema));
        }
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <nav><strong>{title}</strong><div>version {version} · \
         <a href=\"/openapi.json\" style=\"display:inline\">openapi.json</a></div>{nav}</nav>\
         <main><h1>{title}</h1>{intro}{body}</main></body></html>",
        title = esc(title),
        version = esc(version),
        intro = prose(doc["info"]["description"].as_str().unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_parameters_and_schemas_are_rendered_and_escaped() {
        let doc = json!({
            "info": {"title": "T <api>", "version": "1", "description": "Use `key` here.\n\nSecond."},
            "tags": [{"name": "b", "description": "B things"}, {"name": "a"}],
            "paths": {
                "/v1/a/{id}": {"get": {"tags": ["a"], "summary": "Get an A",
                    "parameters": [{"name": "id", "in": "path", "required": true,
                        "schema": {"type": "string", "pattern": "^[a-z]+$"}}],
                    "responses": {"200": {"description": "The A.", "content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/A"}}}},
                        "404": {"description": "No such A."}}}},
                "/v1/b": {"post": {"tags": ["b"], "security": [{"bearer": []}],
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {"201": {"description": "Made."}}}}
            },
            "components": {"schemas": {"A": {"type": "object", "required": ["x"],
                "properties": {"x": {"type": "integer", "minimum": 0, "description": "An <x>."},
                               "kind": {"type": "string", "enum": ["p", "q"]}}}}}
        });
        let html = render(&doc);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<title>T &lt;api&gt;</title>"));
        assert!(html.contains("<p>Use <code>key</code> here.</p><p>Second.</p>"));
        // Tags in the document's order: b before a.
        let (b, a) = (
            html.find("id=\"tag-b\"").unwrap(),
            html.find("id=\"tag-a\"").unwrap(),
        );
        assert!(b < a);
        assert!(html.contains("<code>/v1/a/{id}</code>"));
        assert!(html.contains("pattern <code>^[a-z]+$</code>"));
        assert!(html.contains("<a href=\"#schema-A\">A</a>"));
        assert!(html.contains("id=\"schema-A\""));
        assert!(html.contains("An &lt;x&gt;."));
        assert!(html.contains("<code>p</code>, <code>q</code>"));
        assert!(html.contains("Needs <code>Authorization: Bearer &lt;key&gt;</code>."));
        assert!(!html.contains("<script"), "no script: it works offline");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "nothing from elsewhere"
        );
    }
}
