//! The distinct events of a run: tenants, campaigns with scripts and jobs,
//! and users walking the scripts. Everything comes from one seeded ChaCha8
//! stream, in a fixed order, so a seed and a configuration always give the
//! same events.
//!
//! Shapes worth knowing when reading the expected figures:
//! - campaign starts are spread over `days`; a quarter of the campaigns and
//!   a fifth of the later jobs start shortly before the tenant's local
//!   midnight, so their first messages straddle a day boundary;
//! - lifecycle: CREATED (status NEW, with the script; a few campaigns carry
//!   no script at all), sometimes a campaign-wide RUNNING with an audience,
//!   per job sometimes PREPARING, then RUNNING (with an audience most of the
//!   time, sometimes revised later), sometimes a SCRIPT_UPDATED that turns a
//!   former end node into a step, and at the end COMPLETED, ERROR or nothing
//!   (still running);
//! - per job and user: the first message, then button clicks each followed by
//!   the message of the next node, with drop-offs, reminders (warnings) after
//!   which some users resume, users who only get messages, users whose first
//!   message was never seen, first messages sent twice, clicks in the same
//!   millisecond;
//! - later jobs of a campaign re-target some users of earlier jobs, and users
//!   come back in other campaigns of their tenant.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use chrono::{DateTime, Days, NaiveTime, TimeZone};
use chrono_tz::Tz;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::{
    CampaignLifecycle, CampaignStatus, Event, LifecycleKind, NotificationSent, Script,
    UserInteraction,
};

use super::config::GenConfig;
use super::script::{self, Graph};

/// Time zones of tenants 1, 2, ... (tenant 0 is always UTC).
pub const TIME_ZONES: [Tz; 10] = [
    Tz::UTC,
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::Asia__Tokyo,
    Tz::Australia__Sydney,
    Tz::Asia__Kolkata,
    Tz::America__Los_Angeles,
    Tz::Europe__London,
    Tz::America__Sao_Paulo,
    Tz::Pacific__Auckland,
];

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Longest walk through a script (scripts have loops).
const MAX_STEPS: usize = 40;

/// The distinct events of a run and what they belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Tenant id -> its time zone.
    pub tenants: BTreeMap<String, Tz>,
    /// In generation order.
    pub campaigns: Vec<CampaignInfo>,
    /// Grouped by campaign, in generation (not time) order.
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignInfo {
    pub tenant_id: String,
    pub campaign_id: String,
    /// The campaign's events in [`Traffic::events`].
    pub events: Range<usize>,
}

/// The tenant ids and time zones of a configuration.
pub fn tenants(cfg: &GenConfig) -> BTreeMap<String, Tz> {
    (0..cfg.tenants as usize)
        .map(|i| (format!("t{i}"), TIME_ZONES[i % TIME_ZONES.len()]))
        .collect()
}

/// Generate the distinct events of `cfg`.
pub fn generate(cfg: &GenConfig) -> Traffic {
    let mut gen = Gen {
        cfg,
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        events: Vec::new(),
        next_event: 0,
    };
    let tenants = tenants(cfg);
    let mut campaigns = Vec::new();
    for (tenant_id, tz) in &tenants {
        let mut tenant = Tenant {
            id: tenant_id.clone(),
            tz: *tz,
            next_user: 0,
            known_users: Vec::new(),
        };
        for c in 0..cfg.campaigns {
            let first = gen.events.len();
            let campaign_id = format!("{tenant_id}-c{c:04}");
            gen.campaign(&mut tenant, &campaign_id);
            campaigns.push(CampaignInfo {
                tenant_id: tenant_id.clone(),
                campaign_id,
                events: first..gen.events.len(),
            });
        }
    }
    Traffic {
        tenants,
        campaigns,
        events: gen.events,
    }
}

struct Tenant {
    id: String,
    tz: Tz,
    next_user: u32,
    /// Every user id of the tenant so far, for re-targeting.
    known_users: Vec<String>,
}

/// What every event of a campaign's job carries.
struct Job<'a> {
    tenant_id: &'a str,
    campaign_id: &'a str,
    job_id: &'a str,
}

struct Gen<'c> {
    cfg: &'c GenConfig,
    rng: ChaCha8Rng,
    events: Vec<Event>,
    next_event: u64,
}

impl Gen<'_> {
    /// A unique id whose order has nothing to do with time.
    fn event_id(&mut self) -> String {
        self.next_event += 1;
        format!("{:08x}-{:08x}", self.rng.gen::<u32>(), self.next_event)
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        self.rng.gen_range(low..high)
    }

    /// A time shortly (up to 45 minutes) before the local midnight after `at`.
    fn before_local_midnight(&mut self, at: i64, tz: Tz) -> i64 {
        let local = DateTime::from_timestamp_millis(at)
            .unwrap_or_default()
            .with_timezone(&tz);
        let next_day = local.date_naive() + Days::new(1);
        let midnight = tz
            .from_local_datetime(&next_day.and_time(NaiveTime::MIN))
            .earliest()
            .map_or(at, |m| m.timestamp_millis());
        midnight - self.between(0, 45 * MINUTE)
    }

    fn lifecycle(
        &mut self,
        job: &Job<'_>,
        at: i64,
        kind: LifecycleKind,
        status: Option<CampaignStatus>,
        audience_size: Option<i64>,
        script: Option<Script>,
    ) {
        let event_id = self.event_id();
        self.events.push(Event::Lifecycle(CampaignLifecycle {
            event_id,
            tenant_id: job.tenant_id.to_owned(),
            campaign_id: job.campaign_id.to_owned(),
            job_id: job.job_id.to_owned(),
            occurred_at: at,
            kind,
            status,
            audience_size,
            script,
        }));
    }

    fn notification(
        &mut self,
        job: &Job<'_>,
        user: &str,
        at: i64,
        node: Option<&str>,
        first: bool,
        warning: bool,
    ) {
        let event_id = self.event_id();
        self.events.push(Event::Notification(NotificationSent {
            event_id,
            tenant_id: job.tenant_id.to_owned(),
            campaign_id: job.campaign_id.to_owned(),
            job_id: job.job_id.to_owned(),
            occurred_at: at,
            user_id: user.to_owned(),
            node_id: node.map(str::to_owned),
            first_message: first,
            warning_message: warning,
        }));
    }

    fn campaign(&mut self, tenant: &mut Tenant, campaign_id: &str) {
        let first = self.events.len();
        let tenant_id = tenant.id.clone();
        let whole = Job {
            tenant_id: &tenant_id,
            campaign_id,
            job_id: "",
        };
        let mut start = self.cfg.start + self.between(0, i64::from(self.cfg.days) * DAY);
        if self.rng.gen_bool(0.25) {
            start = self.before_local_midnight(start, tenant.tz);
        }
        let created_at = start - self.between(10 * MINUTE, 36 * HOUR);
        let script = script::generate(&mut self.rng);
        let has_script = !self.rng.gen_bool(0.04);
        let mut versions = vec![(created_at, script.clone())];
        let carried = has_script.then(|| script.clone());
        self.lifecycle(
            &whole,
            created_at,
            LifecycleKind::Created,
            Some(CampaignStatus::New),
            None,
            carried,
        );

        let jobs = self.rng.gen_range(1..=self.cfg.jobs);
        let campaign_audience = self.rng.gen_bool(0.3);
        if campaign_audience {
            let estimate =
                f64::from(jobs) * f64::from(self.cfg.users) * self.rng.gen_range(0.8..1.3);
            let at = start - self.between(MINUTE, 10 * MINUTE);
            let status = Some(CampaignStatus::Running);
            self.lifecycle(
                &whole,
                at,
                LifecycleKind::StatusChanged,
                status,
                Some(estimate as i64),
                None,
            );
        }
        if has_script && self.rng.gen_bool(0.3) {
            if let Some(updated) = script::update(&mut self.rng, &script) {
                let at = start + self.between(HOUR, 4 * DAY);
                versions.push((at, updated.clone()));
                self.lifecycle(
                    &whole,
                    at,
                    LifecycleKind::ScriptUpdated,
                    None,
                    None,
                    Some(updated),
                );
            }
        }
        let graphs: Vec<(i64, Graph<'_>)> = versions
            .iter()
            .map(|(at, s)| (*at, Graph::new(s)))
            .collect();

        let mut job_start = start;
        let mut earlier_users: Vec<String> = Vec::new();
        let mut earlier_set: HashSet<String> = HashSet::new();
        let mut last_job_id = String::new();
        for j in 0..jobs {
            let job_id = format!("{campaign_id}-j{j}");
            if j > 0 {
                job_start += self.between(12 * HOUR, 6 * DAY);
                if self.rng.gen_bool(0.2) {
                    job_start = self.before_local_midnight(job_start, tenant.tz);
                }
            }
            let job = Job {
                tenant_id: &tenant_id,
                campaign_id,
                job_id: &job_id,
            };
            let users = self.pick_users(tenant, &earlier_users);
            self.job_lifecycle(&job, job_start, users.len(), campaign_audience);
            for user in &users {
                self.user(&job, user, job_start, &graphs);
            }
            for user in users {
                if earlier_set.insert(user.clone()) {
                    earlier_users.push(user);
                }
            }
            last_job_id = job_id;
        }

        let last_at = self.events[first..]
            .iter()
            .map(Event::occurred_at)
            .max()
            .unwrap_or(start);
        self.finish(&whole, &last_job_id, last_at);
    }

    /// The campaign's end: COMPLETED (60%), ERROR on the campaign or its
    /// last job (12%), or nothing: still running.
    fn finish(&mut self, whole: &Job<'_>, last_job_id: &str, last_at: i64) {
        let roll: f64 = self.rng.gen();
        if roll < 0.6 {
            let at = last_at + self.between(10 * MINUTE, 2 * DAY);
            let status = Some(CampaignStatus::Completed);
            self.lifecycle(whole, at, LifecycleKind::Completed, status, None, None);
        } else if roll < 0.72 {
            let at = last_at + self.between(MINUTE, DAY);
            let on_job = Job {
                job_id: if self.rng.gen_bool(0.5) {
                    last_job_id
                } else {
                    ""
                },
                ..*whole
            };
            let status = Some(CampaignStatus::Error);
            self.lifecycle(
                &on_job,
                at,
                LifecycleKind::StatusChanged,
                status,
                None,
                None,
            );
        }
    }

    /// PREPARING (sometimes), RUNNING with an audience (usually), and
    /// sometimes a revised audience.
    fn job_lifecycle(&mut self, job: &Job<'_>, start: i64, users: usize, campaign_audience: bool) {
        if self.rng.gen_bool(0.3) {
            let at = start - self.between(MINUTE, 30 * MINUTE);
            let status = Some(CampaignStatus::Preparing);
            self.lifecycle(job, at, LifecycleKind::StatusChanged, status, None, None);
        }
        let announce = if campaign_audience { 0.3 } else { 0.6 };
        let users = users as i64;
        let audience = self.rng.gen_bool(announce).then(|| {
            if self.rng.gen_bool(0.15) {
                users * 3 / 4 // the sender under-counted
            } else {
                users + self.rng.gen_range(0..=users / 4)
            }
        });
        let running = Some(CampaignStatus::Running);
        self.lifecycle(
            job,
            start,
            LifecycleKind::StatusChanged,
            running,
            audience,
            None,
        );
        if audience.is_some() && self.rng.gen_bool(0.1) {
            let at = start + self.between(HOUR, DAY);
            let revised = Some(users + self.rng.gen_range(0..=5));
            self.lifecycle(
                job,
                at,
                LifecycleKind::StatusChanged,
                running,
                revised,
                None,
            );
        }
    }

    /// The users of a job: sometimes some users of earlier jobs of the
    /// campaign, sometimes users of other campaigns of the tenant, otherwise
    /// new users.
    fn pick_users(&mut self, tenant: &mut Tenant, earlier: &[String]) -> Vec<String> {
        let n = self.cfg.users as usize;
        let mut users = Vec::with_capacity(n);
        let mut chosen = HashSet::new();
        if !earlier.is_empty() && self.rng.gen_bool(0.5) {
            let share = self.rng.gen_range(0.1..0.5);
            let overlap = ((n as f64 * share) as usize).min(earlier.len());
            for i in index::sample(&mut self.rng, earlier.len(), overlap) {
                chosen.insert(earlier[i].clone());
                users.push(earlier[i].clone());
            }
        }
        while users.len() < n {
            if !tenant.known_users.is_empty() && self.rng.gen_bool(0.2) {
                let known = &tenant.known_users[self.rng.gen_range(0..tenant.known_users.len())];
                if chosen.insert(known.clone()) {
                    users.push(known.clone());
                }
                continue;
            }
            let user = format!("{}-u{:07}", tenant.id, tenant.next_user);
            tenant.next_user += 1;
            tenant.known_users.push(user.clone());
            chosen.insert(user.clone());
            users.push(user);
        }
        users
    }

    /// One user's journey through a job.
    fn user(&mut self, job: &Job<'_>, user: &str, job_start: i64, graphs: &[(i64, Graph<'_>)]) {
        let Some(start_node) = graphs[0].1.start() else {
            return;
        };
        let kind: f64 = self.rng.gen();
        let first_message_lost = kind < 0.02;
        let only_messages = (0.02..0.07).contains(&kind);
        let mut t = job_start + self.between(0, 3 * HOUR);
        if !first_message_lost {
            let node = (!self.rng.gen_bool(0.02)).then_some(start_node);
            self.notification(job, user, t, node, true, false);
            if self.rng.gen_bool(0.01) {
                let again = t + self.between(HOUR, 6 * HOUR);
                self.notification(job, user, again, node, true, false);
            }
        }
        if only_messages {
            if self.rng.gen_bool(0.5) {
                let at = t + self.between(2 * HOUR, 26 * HOUR);
                self.notification(job, user, at, Some(start_node), false, true);
            }
            return;
        }

        let mut current = start_node;
        let mut last_click: Option<i64> = None;
        for steps in 0..MAX_STEPS {
            let drop = if steps == 0 { 0.25 } else { 0.12 };
            if self.rng.gen_bool(drop) {
                if !self.rng.gen_bool(0.35) {
                    break;
                }
                t += self.between(2 * HOUR, 26 * HOUR);
                self.notification(job, user, t, Some(current), false, true);
                if !self.rng.gen_bool(0.4) {
                    break;
                }
            }
            let graph = graph_at(graphs, t);
            let buttons = graph.buttons(current);
            if buttons.is_empty() {
                break;
            }
            let k = self.rng.gen_range(0..buttons.len());
            let edge = buttons[k];
            t = match last_click {
                // A double click: the same millisecond as the previous click.
                Some(previous) if self.rng.gen_bool(0.01) => previous,
                _ => t + self.delay(),
            };
            last_click = Some(t);
            let selected_action = match &edge.label {
                Some(label) if !self.rng.gen_bool(0.1) => label.clone(),
                _ => format!("btn_{}_{k}", edge.source),
            };
            let answer_title = if self.rng.gen_bool(0.5) {
                edge.label.clone()
            } else {
                None
            };
            let question = self
                .rng
                .gen_bool(0.3)
                .then(|| format!("What next after {current}?"));
            let event_id = self.event_id();
            self.events.push(Event::Interaction(UserInteraction {
                event_id,
                tenant_id: job.tenant_id.to_owned(),
                campaign_id: job.campaign_id.to_owned(),
                job_id: job.job_id.to_owned(),
                occurred_at: t,
                user_id: user.to_owned(),
                selected_action,
                answer_target: edge.target.clone(),
                answer_title,
                question,
            }));
            current = edge.target.as_str();
            t += self.between(200, 3 * SECOND);
            self.notification(job, user, t, Some(current), false, false);
            if graph_at(graphs, t).buttons(current).is_empty() {
                break;
            }
        }
    }

    /// Time to the next click: mostly seconds to minutes, sometimes hours,
    /// rarely days.
    fn delay(&mut self) -> i64 {
        let r: f64 = self.rng.gen();
        if r < 0.7 {
            self.between(2 * SECOND, 5 * MINUTE)
        } else if r < 0.95 {
            self.between(5 * MINUTE, 6 * HOUR)
        } else {
            self.between(6 * HOUR, 3 * DAY)
        }
    }
}

/// The script version in effect at `at` (the first one before it exists).
fn graph_at<'g, 'a>(graphs: &'g [(i64, Graph<'a>)], at: i64) -> &'g Graph<'a> {
    graphs
        .iter()
        .rev()
        .find(|(from, _)| *from <= at)
        .map_or(&graphs[0].1, |(_, g)| g)
}
