//! Alert messages: a rule's template with its placeholders filled in, or a
//! default sentence when the rule has none.

use crate::rule::Condition;

/// What a message can talk about.
#[derive(Debug, Clone, Copy)]
pub struct TransitionFields<'a> {
    /// The rule's name (`{{rule}}`).
    pub rule_name: &'a str,
    /// The rule's condition (`{{metric}}`, `{{threshold}}`, `{{node_id}}`,
    /// and the default sentence).
    pub condition: &'a Condition,
    /// `{{campaign_id}}`.
    pub campaign_id: &'a str,
    /// `{{job_id}}`; `None` for the all-jobs report.
    pub job_id: Option<&'a str>,
    /// The compared number (`{{value}}`).
    pub value: Option<f64>,
    /// The report's status (`{{status}}`).
    pub status: Option<&'a str>,
}

/// Fills `template`'s placeholders `{{rule}}`, `{{campaign_id}}`,
/// `{{job_id}}`, `{{metric}}`, `{{value}}`, `{{threshold}}`, `{{status}}`,
/// `{{node_id}}` (spaces inside the braces allowed) in one pass: a value
/// that itself contains `{{...}}` is not expanded again. Unknown
/// placeholders are left as they are; missing values render as nothing.
/// Without a template, a default sentence such as
/// `interaction_rate < 5 on campaign c-1 (value 3.2)`.
pub fn render(template: Option<&str>, fields: &TransitionFields<'_>) -> String {
    let Some(template) = template else {
        return default_sentence(fields);
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break; // an unclosed `{{` is text
        };
        out.push_str(&rest[..open]);
        match placeholder(after[..close].trim(), fields) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The value of a known placeholder (possibly empty), `None` for an
/// unknown one.
fn placeholder(name: &str, f: &TransitionFields<'_>) -> Option<String> {
    let text = match name {
        "rule" => f.rule_name.to_owned(),
        "campaign_id" => f.campaign_id.to_owned(),
        "job_id" => f.job_id.unwrap_or_default().to_owned(),
        "metric" => match f.condition {
            Condition::MetricThreshold { metric, .. } => metric.as_str().to_owned(),
            _ => String::new(),
        },
        "value" => f.value.map(format_number).unwrap_or_default(),
        "threshold" => f
            .condition
            .threshold()
            .map(format_threshold)
            .unwrap_or_default(),
        "status" => f.status.unwrap_or_default().to_owned(),
        "node_id" => match f.condition {
            Condition::FunnelConversion { node_id, .. } => node_id.clone(),
            _ => String::new(),
        },
        _ => return None,
    };
    Some(text)
}

fn default_sentence(f: &TransitionFields<'_>) -> String {
    let report = match f.job_id {
        Some(job) => format!("campaign {} job {job}", f.campaign_id),
        None => format!("campaign {}", f.campaign_id),
    };
    let value = f
        .value
        .map(|v| format!(" (value {})", format_number(v)))
        .unwrap_or_default();
    match f.condition {
        Condition::MetricThreshold {
            metric,
            op,
            value: threshold,
        } => {
            format!(
                "{metric} {op} {} on {report}{value}",
                format_threshold(*threshold)
            )
        }
        Condition::FunnelConversion {
            node_id,
            op,
            value: threshold,
        } => format!(
            "funnel step {node_id} conversion {op} {} on {report}{value}",
            format_threshold(*threshold)
        ),
        Condition::Status { status } => format!("{report} status is {status}"),
        Condition::Inactivity { seconds } => format!("{report} inactive for {seconds} s"),
    }
}

/// A computed number for people: at most 2 decimals, no trailing zeros
/// (`12.5`, `33.33`, `5`); up to 6 decimals for a tiny non-zero number.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let two = trim_zeros(format!("{x:.2}"));
    if two == "0" && x != 0.0 {
        return trim_zeros(format!("{x:.6}"));
    }
    two
}

/// A user-given threshold exactly as typed (the shortest form that reads
/// back as the same number): `5`, `0.125`.
fn format_threshold(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    x.to_string()
}

fn trim_zeros(s: String) -> String {
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Metric, Op};

    fn fields(condition: &Condition) -> TransitionFields<'_> {
        TransitionFields {
            rule_name: "Low rate",
            condition,
            campaign_id: "c-1",
            job_id: None,
            value: Some(3.2),
            status: Some("RUNNING"),
        }
    }

    #[test]
    fn default_sentences() {
        let rate = Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Lt,
            value: 5.0,
        };
        assert_eq!(
            render(None, &fields(&rate)),
            "interaction_rate < 5 on campaign c-1 (value 3.2)"
        );
        let mut job = fields(&rate);
        job.job_id = Some("j-1");
        job.value = None;
        assert_eq!(
            render(None, &job),
            "interaction_rate < 5 on campaign c-1 job j-1"
        );

        let funnel = Condition::FunnelConversion {
            node_id: "n2".into(),
            op: Op::Le,
            value: 40.0,
        };
        let mut f = fields(&funnel);
        f.value = Some(100.0 / 3.0);
        assert_eq!(
            render(None, &f),
            "funnel step n2 conversion <= 40 on campaign c-1 (value 33.33)"
        );

        let status = Condition::Status {
            status: "ERROR".into(),
        };
        let mut f = fields(&status);
        f.value = None;
        assert_eq!(render(None, &f), "campaign c-1 status is ERROR");

        let idle = Condition::Inactivity { seconds: 600 };
        assert_eq!(
            render(None, &fields(&idle)),
            "campaign c-1 inactive for 600 s"
        );
    }

    #[test]
    fn placeholders() {
        let rate = Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Lt,
            value: 12.5,
        };
        let template = "{{rule}}: {{metric}}={{ value }} (min {{threshold}}) on {{campaign_id}}/{{job_id}} [{{status}}] {{node_id}}{{unknown}} {{open";
        assert_eq!(
            render(Some(template), &fields(&rate)),
            "Low rate: interaction_rate=3.2 (min 12.5) on c-1/ [RUNNING] {{unknown}} {{open"
        );
        let funnel = Condition::FunnelConversion {
            node_id: "n2".into(),
            op: Op::Lt,
            value: 40.0,
        };
        assert_eq!(
            render(Some("{{node_id}} {{metric}}|"), &fields(&funnel)),
            "n2 |"
        );
    }

    #[test]
    fn values_are_not_expanded_again() {
        let status = Condition::Status {
            status: "ERROR".into(),
        };
        let mut f = fields(&status);
        f.campaign_id = "{{rule}}";
        assert_eq!(
            render(Some("{{campaign_id}} {{threshold}}."), &f),
            "{{rule}} ."
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(format_number(12.0), "12");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(2.0 / 3.0), "0.67");
        assert_eq!(format_number(0.0004), "0.0004");
        assert_eq!(format_number(-1.005), "-1");
        assert_eq!(format_number(1234567.0), "1234567");
        assert_eq!(format_threshold(0.125), "0.125");
        assert_eq!(format_threshold(5.0), "5");
        assert_eq!(format_threshold(-0.0), "0");
    }
}
