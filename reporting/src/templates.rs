//! Report templates: definitions without a tenant's data. The system
//! templates ship with the product ([`system_templates`]); a definition is
//! made from a template with [`instantiate`], which lays the client's
//! overrides over it.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::definition::DefinitionInput;
use crate::error::{invalid, ValidationError};
use crate::fields;
use crate::schedule::{PresetInput, ScheduleInput};

/// A system template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    /// Stable across releases: `system.<slug>`.
    pub id: &'static str,
    /// The definition it makes: name, description, tags, kind, parameters
    /// (maybe incomplete) and formats.
    #[serde(flatten)]
    pub definition: DefinitionInput,
    /// The parameters a client must supply when instantiating.
    pub required_at_instantiation: &'static [&'static str],
    /// A schedule that suits it, if any (in the tenant's time zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_schedule: Option<ScheduleInput>,
}

impl Template {
    /// The name of the definitions it makes, unless overridden.
    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// A definition from this template (see [`instantiate`]).
    pub fn instantiate(&self, overrides: &Value) -> Result<DefinitionInput, ValidationError> {
        instantiate(&self.definition, self.required_at_instantiation, overrides)
    }
}

/// The templates shipped with the product.
pub fn system_templates() -> Vec<Template> {
    vec![
        Template {
            id: "system.weekly-tenant-overview",
            definition: definition(
                "Weekly tenant overview",
                "Day by day figures of every campaign of the tenant over the previous week.",
                "overview",
                json!({"granularity": "day", "range": {"type": "previous_week"}}),
                &["xlsx", "pdf"],
            ),
            required_at_instantiation: &[],
            suggested_schedule: Some(monday_morning()),
        },
        Template {
            id: "system.running-campaigns-performance",
            definition: definition(
                "Performance of running campaigns",
                "The reports of every campaign with a running job: figures and funnels.",
                "campaign_reports",
                json!({"status": "RUNNING"}),
                &["xlsx", "pdf", "csv"],
            ),
            required_at_instantiation: &[],
            suggested_schedule: Some(monday_morning()),
        },
        Template {
            id: "system.job-journeys-export",
            definition: definition(
                "Journeys export of a job",
                "Every journey of one job, one row each.",
                "journeys",
                json!({}),
                &["csv"],
            ),
            required_at_instantiation: &["campaign_id", "job_id"],
            suggested_schedule: None,
        },
    ]
}

/// The system template with this id, if any.
pub fn system_template(id: &str) -> Option<Template> {
    system_templates().into_iter().find(|t| t.id == id)
}

fn definition(
    name: &str,
    description: &str,
    kind: &str,
    parameters: Value,
    formats: &[&str],
) -> DefinitionInput {
    DefinitionInput {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        tags: Vec::new(),
        kind: kind.to_owned(),
        parameters,
        formats: formats.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn monday_morning() -> ScheduleInput {
    ScheduleInput {
        cron: None,
        preset: Some(PresetInput::Weekly {
            weekday: "monday".to_owned(),
            time: "08:00".to_owned(),
        }),
        timezone: None,
        recipients: Vec::new(),
        enabled: true,
        missed: Default::default(),
    }
}

const OVERRIDES: [&str; 5] = ["name", "description", "tags", "parameters", "formats"];

/// A definition from a template (a system one or a tenant's), not yet
/// validated.
///
/// `overrides` is an object with any of `name`, `description` (`null`
/// removes it), `tags` and `formats` (which replace the template's), and
/// `parameters`, laid over the template's key by key (`null` removes a
/// key; `campaign_id` and `campaign_ids` replace each other). Every name in
/// `required_at_instantiation` must be a parameter afterwards (for
/// `campaign_id`, `campaign_ids` does too).
pub fn instantiate(
    template: &DefinitionInput,
    required_at_instantiation: &[&str],
    overrides: &Value,
) -> Result<DefinitionInput, ValidationError> {
    let overrides = fields::object(
        overrides,
        "overrides",
        &format!("any of {}", OVERRIDES.join(", ")),
    )?;
    fields::reject_unknown(overrides, "", &OVERRIDES)?;
    let mut definition = template.clone();
    if let Some(name) = overrides.get("name") {
        definition.name = fields::string(name, "name")?.to_owned();
    }
    if let Some(description) = overrides.get("description") {
        definition.description = match description {
            Value::Null => None,
            text => Some(fields::string(text, "description")?.to_owned()),
        };
    }
    if let Some(tags) = overrides.get("tags") {
        definition.tags = strings(tags, "tags")?;
    }
    if let Some(formats) = overrides.get("formats") {
        definition.formats = strings(formats, "formats")?;
    }
    let mut parameters = fields::object(
        &template.parameters,
        "parameters",
        "the report's parameters",
    )?
    .clone();
    if let Some(given) = overrides.get("parameters") {
        merge_parameters(
            &mut parameters,
            fields::object(given, "parameters", "the report's parameters")?,
        );
    }
    if let Some(missing) = required_at_instantiation
        .iter()
        .find(|name| !is_supplied(&parameters, name))
    {
        return Err(invalid(format!(
            "parameters.{missing}: missing; this template needs it to make a definition"
        )));
    }
    definition.parameters = Value::Object(parameters);
    Ok(definition)
}

/// Lays `given` over `parameters` key by key.
fn merge_parameters(parameters: &mut Map<String, Value>, given: &Map<String, Value>) {
    for (key, value) in given {
        let other_form = match key.as_str() {
            "campaign_id" => Some("campaign_ids"),
            "campaign_ids" => Some("campaign_id"),
            _ => None,
        };
        if let Some(other_form) = other_form {
            parameters.remove(other_form);
        }
        if value.is_null() {
            parameters.remove(key);
        } else {
            parameters.insert(key.clone(), value.clone());
        }
    }
}

fn is_supplied(parameters: &Map<String, Value>, name: &str) -> bool {
    let present = |key: &str| parameters.get(key).is_some_and(|v| !v.is_null());
    present(name) || (name == "campaign_id" && present("campaign_ids"))
}

fn strings(value: &Value, path: &str) -> Result<Vec<String>, ValidationError> {
    fields::array(value, path)?
        .iter()
        .enumerate()
        .map(|(index, item)| Ok(fields::string(item, &format!("{path}[{index}]"))?.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::definition::{Format, Granularity, Kind};
    use crate::range::RangeInput;

    use super::*;

    fn template(id: &str) -> Template {
        system_template(id).unwrap()
    }

    #[test]
    fn ships_the_three_system_templates() {
        let templates = system_templates();
        let ids: HashSet<&str> = templates.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), templates.len(), "unique ids");
        for id in [
            "system.weekly-tenant-overview",
            "system.running-campaigns-performance",
            "system.job-journeys-export",
        ] {
            assert!(ids.contains(id), "{id}");
        }
        assert!(templates.iter().all(|t| t.id.starts_with("system.")));
        assert_eq!(system_template("system.nope"), None);
    }

    #[test]
    fn complete_templates_validate_as_they_are() {
        let overview = template("system.weekly-tenant-overview")
            .instantiate(&json!({}))
            .unwrap();
        let valid = overview.validate().unwrap();
        assert_eq!(valid.name(), "Weekly tenant overview");
        assert_eq!(valid.kind(), Kind::Overview);
        assert_eq!(valid.parameters().granularity, Some(Granularity::Day));
        assert_eq!(valid.parameters().range, Some(RangeInput::PreviousWeek));
        assert_eq!(valid.formats(), [Format::Xlsx, Format::Pdf]);

        let running = template("system.running-campaigns-performance")
            .instantiate(&json!({}))
            .unwrap();
        let valid = running.validate().unwrap();
        assert_eq!(valid.kind(), Kind::CampaignReports);
        assert_eq!(valid.parameters().status.as_deref(), Some("RUNNING"));
        assert_eq!(valid.formats(), [Format::Xlsx, Format::Pdf, Format::Csv]);
    }

    #[test]
    fn the_journeys_export_needs_a_campaign_and_a_job() {
        let export = template("system.job-journeys-export");
        assert_eq!(export.required_at_instantiation, ["campaign_id", "job_id"]);
        assert_eq!(
            export.instantiate(&json!({})).unwrap_err().0,
            "parameters.campaign_id: missing; this template needs it to make a definition"
        );
        assert_eq!(
            export
                .instantiate(&json!({"parameters": {"campaign_id": "c1"}}))
                .unwrap_err()
                .0,
            "parameters.job_id: missing; this template needs it to make a definition"
        );
        let definition = export
            .instantiate(&json!({"parameters": {"campaign_ids": ["c1"], "job_id": "j1"}}))
            .unwrap();
        let valid = definition.validate().unwrap();
        assert_eq!(valid.kind(), Kind::Journeys);
        assert_eq!(valid.parameters().job_id.as_deref(), Some("j1"));
    }

    #[test]
    fn suggested_schedules_validate() {
        for template in system_templates() {
            if let Some(schedule) = &template.suggested_schedule {
                let valid = schedule.validate("Europe/Berlin").unwrap();
                assert_eq!(valid.describe(), "every Monday at 08:00 (Europe/Berlin)");
            }
        }
    }

    #[test]
    fn overrides_replace_and_merge() {
        let overview = template("system.weekly-tenant-overview");
        let definition = overview
            .instantiate(&json!({
                "name": "Board overview",
                "description": null,
                "tags": ["board"],
                "formats": ["html"],
                "parameters": {"granularity": "week", "range": null},
            }))
            .unwrap();
        assert_eq!(definition.name, "Board overview");
        assert_eq!(definition.description, None);
        assert_eq!(definition.tags, ["board"]);
        assert_eq!(definition.formats, ["html"]);
        assert_eq!(definition.parameters, json!({"granularity": "week"}));
        // The template itself is unchanged.
        assert_eq!(overview.name(), "Weekly tenant overview");
    }

    #[test]
    fn campaign_id_and_campaign_ids_replace_each_other() {
        let base = definition(
            "x",
            "y",
            "campaign_reports",
            json!({"campaign_ids": ["a", "b"]}),
            &["csv"],
        );
        let one = instantiate(&base, &[], &json!({"parameters": {"campaign_id": "c"}})).unwrap();
        assert_eq!(one.parameters, json!({"campaign_id": "c"}));
        assert!(one.validate().is_ok());
        let back = instantiate(&one, &[], &json!({"parameters": {"campaign_ids": ["d"]}})).unwrap();
        assert_eq!(back.parameters, json!({"campaign_ids": ["d"]}));
    }

    #[test]
    fn rejects_bad_overrides() {
        let overview = template("system.weekly-tenant-overview");
        let error = |overrides: Value| overview.instantiate(&overrides).unwrap_err().0;
        assert_eq!(
            error(json!({"kind": "journeys"})),
            "kind: unknown field; allowed: name, description, tags, parameters, formats"
        );
        assert_eq!(error(json!({"name": 3})), "name: must be a string");
        assert_eq!(error(json!({"tags": "board"})), "tags: must be a list");
        assert_eq!(
            error(json!({"formats": ["csv", 1]})),
            "formats[1]: must be a string"
        );
        assert_eq!(
            error(json!({"parameters": []})),
            "parameters: must be an object with the report's parameters"
        );
        assert_eq!(
            error(json!("x")),
            "overrides: must be an object with any of name, description, tags, parameters, formats"
        );
    }

    #[test]
    fn serializes_for_the_api() {
        let value = serde_json::to_value(template("system.job-journeys-export")).unwrap();
        assert_eq!(
            value,
            json!({
                "id": "system.job-journeys-export",
                "name": "Journeys export of a job",
                "description": "Every journey of one job, one row each.",
                "tags": [],
                "kind": "journeys",
                "parameters": {},
                "formats": ["csv"],
                "required_at_instantiation": ["campaign_id", "job_id"],
            })
        );
        let overview = serde_json::to_value(template("system.weekly-tenant-overview")).unwrap();
        assert_eq!(
            overview["suggested_schedule"],
            json!({"preset": {"type": "weekly", "weekday": "monday", "time": "08:00"}, "recipients": [], "enabled": true, "missed": "once"})
        );
    }
}
