//! A report definition as a client sends it ([`DefinitionInput`]) and
//! checked ([`ValidDefinition`]): what to report on ([`Kind`] and
//! [`Parameters`]) and in which files ([`Format`]).
//!
//! The parameters are held as raw JSON and read by hand, so that an error
//! names the parameter at fault (`parameters.granularity: ...`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{invalid, ValidationError};
use crate::fields;
use crate::range::RangeInput;

/// At most this many characters in a name (trimmed).
pub const MAX_NAME_CHARS: usize = 200;
/// At most this many characters in a description.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// At most this many tags (after removing duplicates).
pub const MAX_TAGS: usize = 20;
/// At most this many characters in a tag (trimmed).
pub const MAX_TAG_CHARS: usize = 50;
/// At most this many characters in a campaign or job id.
pub const MAX_ID_CHARS: usize = 64;
/// At most this many campaign ids in `campaign_ids`.
pub const MAX_CAMPAIGN_IDS: usize = 1000;
/// The job statuses `status` may filter on.
pub const STATUSES: [&str; 6] = [
    "NEW",
    "PREPARING",
    "WAITING",
    "RUNNING",
    "COMPLETED",
    "ERROR",
];

/// An `overview` without a range covers the last 30 complete days.
pub const DEFAULT_OVERVIEW_RANGE: RangeInput = RangeInput::LastNDays { n: 30 };

/// A definition as a client sends it (`POST`, and `PUT`, which replaces).
/// [`ValidDefinition`] serializes to the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionInput {
    /// Required, 1 to [`MAX_NAME_CHARS`] characters after trimming.
    pub name: String,
    /// At most [`MAX_DESCRIPTION_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// At most [`MAX_TAGS`], each 1 to [`MAX_TAG_CHARS`] characters.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `campaign_reports`, `journeys` or `overview`.
    pub kind: String,
    /// The kind's [`Parameters`] as a JSON object; default `{}`.
    #[serde(default = "empty_object")]
    pub parameters: Value,
    /// At least one of `csv`, `json`, `xlsx`, `pdf`, `html`.
    #[serde(default)]
    pub formats: Vec<String>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One, several or all campaigns: their all-jobs and job reports.
    CampaignReports,
    /// The journeys of one job.
    Journeys,
    /// The tenant's figures over time.
    Overview,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::CampaignReports, Kind::Journeys, Kind::Overview];

    /// The name clients use.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CampaignReports => "campaign_reports",
            Kind::Journeys => "journeys",
            Kind::Overview => "overview",
        }
    }

    /// The kind of a name, if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The parameters this kind takes (`campaign_id` is a shorthand for a
    /// single-element `campaign_ids`).
    fn parameters(self) -> &'static [&'static str] {
        match self {
            Kind::CampaignReports => &["campaign_ids", "campaign_id", "status", "range"],
            Kind::Journeys => &["campaign_id", "campaign_ids", "job_id", "completed"],
            Kind::Overview => &["granularity", "range"],
        }
    }
}

/// A file format of a report's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 4180, one file per table.
    Csv,
    /// The query API's JSON.
    Json,
    /// A workbook, one sheet per table.
    Xlsx,
    /// A printable document with charts.
    Pdf,
    /// A web page with charts.
    Html,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Csv,
        Format::Json,
        Format::Xlsx,
        Format::Pdf,
        Format::Html,
    ];

    /// The name clients use, also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
            Format::Pdf => "pdf",
            Format::Html => "html",
        }
    }

    /// The format of a name, if any.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// The time step of an overview.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One point per day (the default).
    #[default]
    Day,
    /// One point per ISO week.
    Week,
    /// One point per calendar month.
    Month,
}

impl Granularity {
    fn from_name(name: &str) -> Option<Granularity> {
        match name {
            "day" => Some(Granularity::Day),
            "week" => Some(Granularity::Week),
            "month" => Some(Granularity::Month),
            _ => None,
        }
    }
}

/// The checked parameters of a definition; which ones are set depends on
/// its [`Kind`]:
///
/// - `campaign_reports`: optional `campaign_ids` (default: every
///   campaign), `status` and `range` (only campaigns with events in it);
/// - `journeys`: exactly one campaign id, a `job_id`, optional `completed`;
/// - `overview`: `granularity` (default day) and `range` (default the last
///   30 complete days), both always set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parameters {
    /// The campaigns, 1 to [`MAX_CAMPAIGN_IDS`], no duplicates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_ids: Option<Vec<String>>,
    /// One of [`STATUSES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The job whose journeys are exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Only completed (true) or only uncompleted (false) journeys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    /// The overview's time step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<Granularity>,
    /// The days reported on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeInput>,
}

/// A checked [`DefinitionInput`], waiting for its id, tenant and version.
/// Serializes to canonical JSON of the input's shape (trimmed text, tags
/// without duplicates, `campaign_ids` rather than `campaign_id`, defaults
/// spelled out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidDefinition {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    tags: Vec<String>,
    kind: Kind,
    parameters: Parameters,
    formats: Vec<Format>,
}

impl DefinitionInput {
    /// Parses a request body; a malformed body (bad JSON, an unknown or
    /// missing top-level field, a wrong type) is a [`ValidationError`]
    /// carrying serde's description.
    pub fn from_json(body: &str) -> Result<DefinitionInput, ValidationError> {
        serde_json::from_str(body).map_err(|e| invalid(format!("invalid definition: {e}")))
    }

    /// Checks every field; the first problem found is the error.
    pub fn validate(&self) -> Result<ValidDefinition, ValidationError> {
        let kind = Kind::from_name(&self.kind).ok_or_else(|| {
            invalid(format!(
                "kind: unknown kind \"{}\"; use campaign_reports, journeys or overview",
                self.kind
            ))
        })?;
        Ok(ValidDefinition {
            name: name(&self.name)?,
            description: description(self.description.as_deref())?,
            tags: tags(&self.tags)?,
            kind,
            parameters: Parameters::parse(&self.parameters, kind)?,
            formats: formats(&self.formats)?,
        })
    }
}

impl ValidDefinition {
    /// The trimmed name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trimmed description, if not empty.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The trimmed tags, without duplicates, in the order given.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// What the report is about.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The checked parameters, defaults applied.
    pub fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    /// The output formats, in the order given.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }
}

const ALL_PARAMETERS: [&str; 7] = [
    "campaign_ids",
    "campaign_id",
    "status",
    "job_id",
    "completed",
    "granularity",
    "range",
];

impl Parameters {
    /// Reads and checks the parameters of a definition of `kind` from a JSON
    /// object; a `null` member counts as absent.
    pub fn parse(value: &Value, kind: Kind) -> Result<Parameters, ValidationError> {
        let object = fields::object(value, "parameters", "the report's parameters")?;
        check_keys(object, kind)?;
        let given = |key: &str| object.get(key).filter(|v| !v.is_null());
        let campaign_ids = match (given("campaign_id"), given("campaign_ids")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "parameters.campaign_id: give campaign_id or campaign_ids, not both",
                ))
            }
            (Some(id), None) => Some(vec![id_value(id, "parameters.campaign_id")?]),
            (None, Some(ids)) => Some(campaign_ids(ids)?),
            (None, None) => None,
        };
        let parameters = Parameters {
            campaign_ids,
            status: given("status")
                .map(|v| status(v, "parameters.status"))
                .transpose()?,
            job_id: given("job_id")
                .map(|id| id_value(id, "parameters.job_id"))
                .transpose()?,
            completed: given("completed").map(completed).transpose()?,
            granularity: given("granularity")
                .map(|v| granularity(v, "parameters.granularity"))
                .transpose()?,
            range: given("range")
                .map(|range| RangeInput::parse(range, "parameters.range"))
                .transpose()?,
        };
        parameters.complete_for(kind)
    }

    /// Checks what `kind` requires and fills in its defaults.
    fn complete_for(self, kind: Kind) -> Result<Parameters, ValidationError> {
        match kind {
            Kind::CampaignReports => Ok(self),
            Kind::Journeys => {
                match self.campaign_ids.as_deref() {
                    None => return Err(invalid(
                        "parameters.campaign_id: missing; kind journeys needs the job's campaign",
                    )),
                    Some([_]) => {}
                    Some(ids) => {
                        return Err(invalid(format!(
                        "parameters.campaign_ids: kind journeys takes exactly one campaign, got {}",
                        ids.len()
                    )))
                    }
                }
                if self.job_id.is_none() {
                    return Err(invalid(
                        "parameters.job_id: missing; kind journeys exports the journeys of one job",
                    ));
                }
                Ok(self)
            }
            Kind::Overview => Ok(Parameters {
                granularity: Some(self.granularity.unwrap_or_default()),
                range: Some(self.range.unwrap_or(DEFAULT_OVERVIEW_RANGE)),
                ..self
            }),
        }
    }
}

/// Unknown parameters, and known ones the kind does not take, are errors.
fn check_keys(object: &Map<String, Value>, kind: Kind) -> Result<(), ValidationError> {
    fields::reject_unknown(object, "parameters", &ALL_PARAMETERS)?;
    let allowed = kind.parameters();
    let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) else {
        return Ok(());
    };
    let why = match (kind, key.as_str()) {
        (Kind::Journeys, "range") => " (a job's journeys are exported whole, not by date)",
        _ => "",
    };
    Err(invalid(format!(
        "parameters.{key}: not allowed for kind {}{why}; allowed: {}",
        kind.as_str(),
        allowed.join(", ")
    )))
}

pub(crate) fn name(text: &str) -> Result<String, ValidationError> {
    let name = text.trim();
    if name.is_empty() {
        return Err(invalid("name: must not be empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "name: at most {MAX_NAME_CHARS} characters, got {chars}"
        )));
    }
    Ok(name.to_owned())
}

pub(crate) fn description(text: Option<&str>) -> Result<Option<String>, ValidationError> {
    let Some(description) = text.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(invalid(format!(
            "description: at most {MAX_DESCRIPTION_CHARS} characters, got {chars}"
        )));
    }
    Ok(Some(description.to_owned()))
}

fn tags(texts: &[String]) -> Result<Vec<String>, ValidationError> {
    let mut tags: Vec<String> = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        let tag = text.trim();
        let chars = tag.chars().count();
        if !(1..=MAX_TAG_CHARS).contains(&chars) || tag.chars().any(char::is_control) {
            return Err(invalid(format!(
                "tags[{index}]: must be 1 to {MAX_TAG_CHARS} characters without control \
                 characters, got \"{tag}\""
            )));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!(
            "tags: at most {MAX_TAGS} different tags, got {}",
            tags.len()
        )));
    }
    Ok(tags)
}

fn formats(names: &[String]) -> Result<Vec<Format>, ValidationError> {
    const USE: &str = "use csv, json, xlsx, pdf or html";
    if names.is_empty() {
        return Err(invalid(format!("formats: at least one; {USE}")));
    }
    let mut formats = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let format = Format::from_name(name).ok_or_else(|| {
            invalid(format!(
                "formats[{index}]: unknown format \"{name}\"; {USE}"
            ))
        })?;
        if formats.contains(&format) {
            return Err(invalid(format!(
                "formats[{index}]: \"{name}\" is listed twice"
            )));
        }
        formats.push(format);
    }
    Ok(formats)
}

/// A campaign or job id: 1 to [`MAX_ID_CHARS`] characters, no control
/// characters.
pub(crate) fn id_value(value: &Value, path: &str) -> Result<String, ValidationError> {
    let id = fields::string(value, path)?;
    let chars = id.chars().count();
    if !(1..=MAX_ID_CHARS).contains(&chars) {
        return Err(invalid(format!(
            "{path}: must be 1 to {MAX_ID_CHARS} characters, got {chars}"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{path}: must not contain control characters"
        )));
    }
    Ok(id.to_owned())
}

fn campaign_ids(value: &Value) -> Result<Vec<String>, ValidationError> {
    let items = fields::array(value, "parameters.campaign_ids")?;
    if items.is_empty() {
        return Err(invalid(
            "parameters.campaign_ids: must not be empty (omit it for every campaign)",
        ));
    }
    if items.len() > MAX_CAMPAIGN_IDS {
        return Err(invalid(format!(
            "parameters.campaign_ids: at most {MAX_CAMPAIGN_IDS}, got {}",
            items.len()
        )));
    }
    let mut seen = HashSet::new();
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let path = format!("parameters.campaign_ids[{index}]");
            let id = id_value(item, &path)?;
            if seen.insert(id.clone()) {
                Ok(id)
            } else {
                Err(invalid(format!("{path}: \"{id}\" is listed twice")))
            }
        })
        .collect()
}

pub(crate) fn status(value: &Value, path: &str) -> Result<String, ValidationError> {
    let status = fields::string(value, path)?;
    if STATUSES.contains(&status) {
        Ok(status.to_owned())
    } else {
        Err(invalid(format!(
            "{path}: unknown status \"{status}\"; use {}",
            STATUSES.join(", ")
        )))
    }
}

fn completed(value: &Value) -> Result<bool, ValidationError> {
    value
        .as_bool()
        .ok_or_else(|| invalid("parameters.completed: must be true or false"))
}

pub(crate) fn granularity(value: &Value, path: &str) -> Result<Granularity, ValidationError> {
    let name = fields::string(value, path)?;
    Granularity::from_name(name).ok_or_else(|| {
        invalid(format!(
            "{path}: unknown granularity \"{name}\"; use day, week or month"
        ))
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;

    fn input(value: Value) -> DefinitionInput {
        serde_json::from_value(value).unwrap()
    }

    fn overview(parameters: Value) -> Value {
        json!({"name": "Overview", "kind": "overview", "parameters": parameters, "formats": ["pdf"]})
    }

    fn campaigns(parameters: Value) -> Value {
        json!({"name": "Campaigns", "kind": "campaign_reports", "parameters": parameters, "formats": ["xlsx"]})
    }

    fn journeys(parameters: Value) -> Value {
        json!({"name": "Journeys", "kind": "journeys", "parameters": parameters, "formats": ["csv"]})
    }

    fn valid(value: Value) -> ValidDefinition {
        input(value).validate().unwrap()
    }

    fn error(value: Value) -> String {
        input(value).validate().unwrap_err().0
    }

    #[test]
    fn a_full_campaign_reports_definition() {
        let definition = valid(json!({
            "name": "  Weekly numbers ",
            "description": " For the board ",
            "tags": ["board", " weekly", "board"],
            "kind": "campaign_reports",
            "parameters": {"campaign_ids": ["c1", "c2"], "status": "RUNNING", "range": {"type": "previous_week"}},
            "formats": ["xlsx", "pdf", "csv"],
        }));
        assert_eq!(definition.name(), "Weekly numbers");
        assert_eq!(definition.description(), Some("For the board"));
        assert_eq!(definition.tags(), ["board", "weekly"]);
        assert_eq!(definition.kind(), Kind::CampaignReports);
        assert_eq!(
            definition.formats(),
            [Format::Xlsx, Format::Pdf, Format::Csv]
        );
        let parameters = definition.parameters();
        assert_eq!(
            parameters.campaign_ids.as_deref(),
            Some(&["c1".to_owned(), "c2".to_owned()][..])
        );
        assert_eq!(parameters.status.as_deref(), Some("RUNNING"));
        assert_eq!(parameters.range, Some(RangeInput::PreviousWeek));
        assert_eq!(
            serde_json::to_value(&definition).unwrap(),
            json!({
                "name": "Weekly numbers",
                "description": "For the board",
                "tags": ["board", "weekly"],
                "kind": "campaign_reports",
                "parameters": {"campaign_ids": ["c1", "c2"], "status": "RUNNING", "range": {"type": "previous_week"}},
                "formats": ["xlsx", "pdf", "csv"],
            })
        );
    }

    #[test]
    fn campaign_reports_default_to_every_campaign() {
        let definition = valid(campaigns(json!({})));
        assert_eq!(*definition.parameters(), Parameters::default());
        let parsed = DefinitionInput::from_json(
            r#"{"name": "All", "kind": "campaign_reports", "formats": ["json"]}"#,
        )
        .unwrap();
        assert_eq!(
            parsed.validate().unwrap().parameters(),
            &Parameters::default()
        );
    }

    #[test]
    fn canonical_json_reads_back_the_same() {
        for value in [
            campaigns(
                json!({"campaign_id": "c1", "range": {"type": "between", "from": "2026-11-01", "to": "2026-11-07"}}),
            ),
            journeys(json!({"campaign_id": "c1", "job_id": "j1", "completed": true})),
            overview(json!({})),
        ] {
            let definition = valid(value);
            let stored = serde_json::to_value(&definition).unwrap();
            assert_eq!(valid(stored.clone()), definition);
            assert_eq!(serde_json::to_value(valid(stored.clone())).unwrap(), stored);
        }
    }

    #[test]
    fn campaign_id_is_a_shorthand() {
        let definition = valid(campaigns(json!({"campaign_id": "c1"})));
        assert_eq!(
            definition.parameters().campaign_ids,
            Some(vec!["c1".to_owned()])
        );
        assert_eq!(
            serde_json::to_value(&definition).unwrap()["parameters"],
            json!({"campaign_ids": ["c1"]})
        );
        assert_eq!(
            error(campaigns(
                json!({"campaign_id": "c1", "campaign_ids": ["c2"]})
            )),
            "parameters.campaign_id: give campaign_id or campaign_ids, not both"
        );
    }

    #[test]
    fn null_parameters_count_as_absent() {
        let definition = valid(campaigns(json!({"status": null, "campaign_ids": null})));
        assert_eq!(*definition.parameters(), Parameters::default());
    }

    #[test]
    fn journeys_need_one_campaign_and_a_job() {
        let definition = valid(journeys(
            json!({"campaign_ids": ["c1"], "job_id": "j1", "completed": false}),
        ));
        assert_eq!(definition.parameters().job_id.as_deref(), Some("j1"));
        assert_eq!(definition.parameters().completed, Some(false));
        assert_eq!(
            error(journeys(json!({"job_id": "j1"}))),
            "parameters.campaign_id: missing; kind journeys needs the job's campaign"
        );
        assert_eq!(
            error(journeys(
                json!({"campaign_ids": ["c1", "c2"], "job_id": "j1"})
            )),
            "parameters.campaign_ids: kind journeys takes exactly one campaign, got 2"
        );
        assert_eq!(
            error(journeys(json!({"campaign_id": "c1"}))),
            "parameters.job_id: missing; kind journeys exports the journeys of one job"
        );
        assert_eq!(
            error(journeys(json!({"campaign_id": "c1", "job_id": "j1", "range": {"type": "previous_week"}}))),
            "parameters.range: not allowed for kind journeys (a job's journeys are exported whole, \
             not by date); allowed: campaign_id, campaign_ids, job_id, completed"
        );
        assert_eq!(
            error(journeys(json!({"campaign_id": "c1", "job_id": "j1", "status": "RUNNING"}))),
            "parameters.status: not allowed for kind journeys; allowed: campaign_id, campaign_ids, job_id, completed"
        );
        assert_eq!(
            error(journeys(
                json!({"campaign_id": "c1", "job_id": "j1", "completed": "yes"})
            )),
            "parameters.completed: must be true or false"
        );
    }

    #[test]
    fn overview_gets_its_defaults() {
        let definition = valid(overview(json!({})));
        assert_eq!(definition.parameters().granularity, Some(Granularity::Day));
        assert_eq!(
            definition.parameters().range,
            Some(RangeInput::LastNDays { n: 30 })
        );
        assert_eq!(
            serde_json::to_value(&definition).unwrap()["parameters"],
            json!({"granularity": "day", "range": {"type": "last_n_days", "n": 30}})
        );
        let monthly = valid(overview(
            json!({"granularity": "month", "range": {"type": "previous_month"}}),
        ));
        assert_eq!(monthly.parameters().granularity, Some(Granularity::Month));
        let today = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        let range = monthly.parameters().range.map(|r| r.resolve(today));
        assert_eq!(
            range.map(|(from, _)| from.to_string()).as_deref(),
            Some("2025-12-01")
        );
    }

    #[test]
    fn overview_takes_no_campaign_filters() {
        for (key, value) in [
            ("campaign_ids", json!(["c1"])),
            ("campaign_id", json!("c1")),
            ("status", json!("RUNNING")),
            ("job_id", json!("j1")),
            ("completed", json!(true)),
        ] {
            assert_eq!(
                error(overview(json!({ key: value }))),
                format!(
                    "parameters.{key}: not allowed for kind overview; allowed: granularity, range"
                )
            );
        }
        assert_eq!(
            error(overview(json!({"granularity": "hour"}))),
            "parameters.granularity: unknown granularity \"hour\"; use day, week or month"
        );
    }

    #[test]
    fn campaign_reports_take_no_job_parameters() {
        for key in ["job_id", "completed", "granularity"] {
            let message = error(campaigns(json!({ key: "x" })));
            assert_eq!(
                message,
                format!(
                    "parameters.{key}: not allowed for kind campaign_reports; \
                     allowed: campaign_ids, campaign_id, status, range"
                )
            );
        }
    }

    #[test]
    fn rejects_unknown_parameters() {
        assert_eq!(
            error(campaigns(json!({"campaign": "c1"}))),
            "parameters.campaign: unknown field; allowed: campaign_ids, campaign_id, status, \
             job_id, completed, granularity, range"
        );
        assert_eq!(
            error(campaigns(json!(["c1"]))),
            "parameters: must be an object with the report's parameters"
        );
    }

    #[test]
    fn checks_status_and_ids() {
        assert_eq!(
            error(campaigns(json!({"status": "running"}))),
            "parameters.status: unknown status \"running\"; use NEW, PREPARING, WAITING, RUNNING, COMPLETED, ERROR"
        );
        assert_eq!(
            error(campaigns(json!({"campaign_ids": []}))),
            "parameters.campaign_ids: must not be empty (omit it for every campaign)"
        );
        assert_eq!(
            error(campaigns(json!({"campaign_ids": ["c1", "c2", "c1"]}))),
            "parameters.campaign_ids[2]: \"c1\" is listed twice"
        );
        assert_eq!(
            error(campaigns(json!({"campaign_ids": ["c1", ""]}))),
            "parameters.campaign_ids[1]: must be 1 to 64 characters, got 0"
        );
        assert_eq!(
            error(campaigns(json!({"campaign_ids": ["c1", 7]}))),
            "parameters.campaign_ids[1]: must be a string"
        );
        assert_eq!(
            error(campaigns(json!({"campaign_ids": "c1"}))),
            "parameters.campaign_ids: must be a list"
        );
        assert_eq!(
            error(campaigns(json!({"campaign_id": "a".repeat(65)}))),
            "parameters.campaign_id: must be 1 to 64 characters, got 65"
        );
        assert_eq!(
            error(journeys(json!({"campaign_id": "c1", "job_id": "j\n1"}))),
            "parameters.job_id: must not contain control characters"
        );
        let many: Vec<String> = (0..=MAX_CAMPAIGN_IDS).map(|i| format!("c{i}")).collect();
        assert_eq!(
            error(campaigns(json!({"campaign_ids": many}))),
            "parameters.campaign_ids: at most 1000, got 1001"
        );
        assert!(input(campaigns(
            json!({"campaign_ids": &many[..MAX_CAMPAIGN_IDS]})
        ))
        .validate()
        .is_ok());
    }

    #[test]
    fn range_errors_name_the_parameter() {
        assert_eq!(
            error(campaigns(
                json!({"range": {"type": "between", "from": "2026-11-08", "to": "2026-11-07"}})
            )),
            "parameters.range: from 2026-11-08 is after to 2026-11-07"
        );
    }

    #[test]
    fn checks_kind_and_formats() {
        let mut value = overview(json!({}));
        value["kind"] = json!("funnel");
        assert_eq!(
            error(value),
            "kind: unknown kind \"funnel\"; use campaign_reports, journeys or overview"
        );
        let with_formats = |formats: Value| {
            let mut value = overview(json!({}));
            value["formats"] = formats;
            value
        };
        assert_eq!(
            error(with_formats(json!(["csv", "docx"]))),
            "formats[1]: unknown format \"docx\"; use csv, json, xlsx, pdf or html"
        );
        assert_eq!(
            error(with_formats(json!([]))),
            "formats: at least one; use csv, json, xlsx, pdf or html"
        );
        assert_eq!(
            error(with_formats(json!(["pdf", "csv", "pdf"]))),
            "formats[2]: \"pdf\" is listed twice"
        );
        let all = valid(with_formats(json!(["csv", "json", "xlsx", "pdf", "html"])));
        assert_eq!(all.formats(), Format::ALL);
    }

    #[test]
    fn checks_name_description_and_tags() {
        let with = |key: &str, value: Value| {
            let mut definition = overview(json!({}));
            definition[key] = value;
            definition
        };
        assert_eq!(error(with("name", json!("   "))), "name: must not be empty");
        assert_eq!(
            error(with("name", json!("n".repeat(201)))),
            "name: at most 200 characters, got 201"
        );
        assert!(input(with("name", json!("n".repeat(200))))
            .validate()
            .is_ok());
        assert_eq!(
            error(with("description", json!("d".repeat(2001)))),
            "description: at most 2000 characters, got 2001"
        );
        assert_eq!(valid(with("description", json!("  "))).description(), None);
        assert_eq!(
            error(with("tags", json!(["a", " "]))),
            "tags[1]: must be 1 to 50 characters without control characters, got \"\""
        );
        assert!(
            error(with("tags", json!(["t".repeat(51)]))).starts_with("tags[0]: must be 1 to 50")
        );
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(
            error(with("tags", json!(many))),
            "tags: at most 20 different tags, got 21"
        );
        let repeated: Vec<&str> = std::iter::repeat_n("same", 30).collect();
        assert_eq!(valid(with("tags", json!(repeated))).tags(), ["same"]);
    }

    #[test]
    fn malformed_bodies_are_validation_errors() {
        let unknown = DefinitionInput::from_json(
            r#"{"name": "x", "kind": "overview", "formats": ["pdf"], "owner": "me"}"#,
        );
        assert!(unknown
            .unwrap_err()
            .0
            .starts_with("invalid definition: unknown field `owner`"));
        let missing = DefinitionInput::from_json(r#"{"name": "x"}"#);
        assert!(missing.unwrap_err().0.contains("missing field `kind`"));
    }

    #[test]
    fn names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.as_str()), Some(format));
            assert_eq!(
                serde_json::to_value(format).unwrap(),
                json!(format.as_str())
            );
        }
        assert_eq!(Kind::from_name("Overview"), None);
        assert_eq!(Format::from_name("CSV"), None);
    }
}
