//! What a run does, from the definition it was created with: what it
//! reads ([`RunKind`], its date range resolved in the tenant's calendar on
//! the day it runs), the formats, and how the files present it.

use chrono::NaiveDate;
use reporting::{DefinitionInput, Kind, ValidDefinition};
use serde_json::Value;

use super::data::RunKind;
use crate::read::Granularity;

/// A run's work.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub kind: RunKind,
    /// `campaign_reports`, `journeys` or `overview`.
    pub kind_name: String,
    /// The definition's name.
    pub title: String,
    /// The parameters as the files show them.
    pub parameters: Vec<(String, String)>,
    pub formats: Vec<report_render::Format>,
    /// File names: `<slug of the name>-<today>`.
    pub base_name: String,
}

fn render_format(f: reporting::Format) -> report_render::Format {
    use report_render::Format as R;
    match f {
        reporting::Format::Csv => R::Csv,
        reporting::Format::Json => R::Json,
        reporting::Format::Xlsx => R::Xlsx,
        reporting::Format::Pdf => R::Pdf,
        reporting::Format::Html => R::Html,
    }
}

pub(crate) fn read_granularity(g: reporting::Granularity) -> Granularity {
    match g {
        reporting::Granularity::Day => Granularity::Day,
        reporting::Granularity::Week => Granularity::Week,
        reporting::Granularity::Month => Granularity::Month,
    }
}

/// Lowercase letters, digits and dashes of `name` (at most 60).
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(60).collect();
    if slug.is_empty() {
        "report".to_owned()
    } else {
        slug
    }
}

impl RunSpec {
    /// The spec of a run's stored definition (`{name, description, tags,
    /// kind, parameters, formats}`) on `today` (the tenant's date). An
    /// error means the stored definition no longer validates (permanent).
    pub fn from_definition(definition: &Value, today: NaiveDate) -> Result<Self, String> {
        let input: DefinitionInput = serde_json::from_value(definition.clone())
            .map_err(|e| format!("the run's definition does not parse: {e}"))?;
        let valid = input
            .validate()
            .map_err(|e| format!("the run's definition is not valid: {e}"))?;
        Ok(Self::new(&valid, today))
    }

    /// The spec of a checked definition on `today`.
    pub fn new(valid: &ValidDefinition, today: NaiveDate) -> Self {
        let p = valid.parameters();
        let mut shown = Vec::new();
        let range = p.range.as_ref().map(|r| r.resolve(today));
        let kind = match valid.kind() {
            Kind::CampaignReports => {
                shown.push((
                    "campaigns".to_owned(),
                    p.campaign_ids
                        .as_ref()
                        .map_or_else(|| "all".to_owned(), |ids| ids.join(", ")),
                ));
                if let Some(status) = &p.status {
                    shown.push(("status".to_owned(), status.clone()));
                }
                RunKind::Campaigns {
                    campaign_ids: p.campaign_ids.clone(),
                    status: p.status.clone(),
                    range,
                }
            }
            Kind::Journeys => {
                let campaign_id = p
                    .campaign_ids
                    .as_ref()
                    .and_then(|ids| ids.first().cloned())
                    .unwrap_or_default();
                let job_id = p.job_id.clone().unwrap_or_default();
                shown.push(("campaign".to_owned(), campaign_id.clone()));
                shown.push(("job".to_owned(), job_id.clone()));
                if let Some(c) = p.completed {
                    shown.push(("completed".to_owned(), c.to_string()));
                }
                RunKind::Journeys {
                    campaign_id,
                    job_id,
                    completed: p.completed,
                }
            }
            Kind::Overview => {
                let granularity = read_granularity(p.granularity.unwrap_or_default());
                shown.push(("granularity".to_owned(), granularity.as_str().to_owned()));
                let (from, to) = range.unwrap_or((today, today));
                RunKind::Overview {
                    granularity,
                    from,
                    to,
                }
            }
        };
        if let Some((from, to)) = range {
            shown.push(("range".to_owned(), format!("{from} to {to}")));
        }
        RunSpec {
            kind,
            kind_name: valid.kind().as_str().to_owned(),
            title: valid.name().to_owned(),
            parameters: shown,
            formats: valid.formats().iter().copied().map(render_format).collect(),
            base_name: format!("{}-{today}", slug(valid.name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn names_become_slugs() {
        assert_eq!(slug("Weekly overview: Q4 (EU)"), "weekly-overview-q4-eu");
        assert_eq!(slug("!!!"), "report");
    }

    #[test]
    fn overview_ranges_resolve_on_the_run_day() {
        let definition = json!({
            "name": "Weekly", "kind": "overview", "tags": [],
            "parameters": {"granularity": "day", "range": {"type": "previous_week"}},
            "formats": ["xlsx", "pdf"],
        });
        let spec = RunSpec::from_definition(&definition, day("2026-11-30")).unwrap();
        assert_eq!(
            spec.kind,
            RunKind::Overview {
                granularity: Granularity::Day,
                from: day("2026-11-23"),
                to: day("2026-11-29"),
            }
        );
        assert_eq!(spec.base_name, "weekly-2026-11-30");
        assert_eq!(
            spec.formats,
            [report_render::Format::Xlsx, report_render::Format::Pdf]
        );
        assert!(spec
            .parameters
            .contains(&("range".to_owned(), "2026-11-23 to 2026-11-29".to_owned())));
    }

    #[test]
    fn journeys_name_their_job() {
        let definition = json!({
            "name": "Export", "kind": "journeys",
            "parameters": {"campaign_id": "c1", "job_id": "j1", "completed": true},
            "formats": ["csv"],
        });
        let spec = RunSpec::from_definition(&definition, day("2026-11-30")).unwrap();
        assert_eq!(
            spec.kind,
            RunKind::Journeys {
                campaign_id: "c1".into(),
                job_id: "j1".into(),
                completed: Some(true),
            }
        );
    }

    #[test]
    fn a_stored_definition_that_no_longer_validates_is_an_error() {
        let definition = json!({"name": "x", "kind": "sales", "formats": ["csv"]});
        assert!(RunSpec::from_definition(&definition, day("2026-11-30")).is_err());
    }
}
