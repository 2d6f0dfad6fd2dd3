//! The rules as the rules topic holds them, shared between the reader
//! thread (which writes) and the engine (which takes a consistent view at
//! each snapshot, with the tenants whose rules changed since its last).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use alerting::Rule;

use crate::state::RuleIndex;

#[derive(Debug, Default)]
struct Inner {
    rules: HashMap<String, Arc<Rule>>,
    /// Tenants whose rules changed since the engine's last view.
    changed: HashSet<String>,
    /// The index of `rules`, rebuilt on the next view after a change.
    index: Option<Arc<RuleIndex>>,
    /// The rules-topic offset of the latest change of each tenant's rules.
    changed_at: HashMap<String, i64>,
    /// One past the greatest offset applied (changes made in process,
    /// without an offset, take the next).
    next_offset: i64,
}

/// The current rules.
#[derive(Debug, Default)]
pub struct RuleBoard {
    inner: Mutex<Inner>,
}

impl RuleBoard {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a consistent map.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Apply a rule, or its deletion, as the next record of the rules
    /// topic. Returns whether anything changed.
    pub fn apply(&self, id: &str, rule: Option<Rule>) -> bool {
        let offset = self.lock().next_offset;
        self.apply_at(id, rule, offset)
    }

    /// Apply one record of the rules topic (at `offset`): the rule, or its
    /// deletion. Returns whether anything changed (an older revision than
    /// the one held changes nothing).
    pub fn apply_at(&self, id: &str, rule: Option<Rule>, offset: i64) -> bool {
        let mut inner = self.lock();
        inner.next_offset = inner.next_offset.max(offset + 1);
        let held = inner.rules.get(id).cloned();
        match rule {
            Some(rule) => {
                if held.as_ref().is_some_and(|h| h.revision > rule.revision) {
                    return false;
                }
                if let Some(h) = &held {
                    inner.changed.insert(h.tenant_id.clone());
                    inner.changed_at.insert(h.tenant_id.clone(), offset);
                }
                inner.changed.insert(rule.tenant_id.clone());
                inner.changed_at.insert(rule.tenant_id.clone(), offset);
                inner.rules.insert(id.to_string(), Arc::new(rule));
            }
            None => {
                let Some(h) = held else {
                    return false;
                };
                inner.changed.insert(h.tenant_id.clone());
                inner.changed_at.insert(h.tenant_id.clone(), offset);
                inner.rules.remove(id);
            }
        }
        inner.index = None;
        true
    }

    /// The rules now, and the tenants whose rules changed since the
    /// previous call.
    pub fn take(&self) -> (Arc<RuleIndex>, HashSet<String>) {
        let mut inner = self.lock();
        let index = Self::index_of(&mut inner);
        (index, std::mem::take(&mut inner.changed))
    }

    /// The tenants whose rules changed after the rules-topic offset
    /// `offset`, and the offset the board is read up to (every change of
    /// the first list is at or before it).
    pub fn changed_since(&self, offset: i64) -> (Vec<String>, i64) {
        let inner = self.lock();
        let tenants = inner
            .changed_at
            .iter()
            .filter(|(_, at)| **at > offset)
            .map(|(t, _)| t.clone())
            .collect();
        (tenants, inner.next_offset - 1)
    }

    /// The rules now (the changes stay for the next [`RuleBoard::take`]).
    pub fn index(&self) -> Arc<RuleIndex> {
        Self::index_of(&mut self.lock())
    }

    fn index_of(inner: &mut Inner) -> Arc<RuleIndex> {
        match &inner.index {
            Some(index) => index.clone(),
            None => {
                let index = Arc::new(RuleIndex::new(inner.rules.values().cloned()));
                inner.index = Some(index.clone());
                index
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, tenant: &str, revision: u64) -> Rule {
        alerting::RuleInput::from_json(
            r#"{"name": "r", "condition": {"kind": "status", "status": "ERROR"}}"#,
        )
        .unwrap()
        .validate()
        .unwrap()
        .into_rule(id.into(), tenant.into(), revision)
    }

    #[test]
    fn changes_name_their_tenants_once_and_old_revisions_are_ignored() {
        let board = RuleBoard::new();
        assert!(board.apply("a", Some(rule("a", "t1", 2))));
        assert!(!board.apply("a", Some(rule("a", "t1", 1))));
        assert!(board.apply("b", Some(rule("b", "t2", 1))));
        let (index, changed) = board.take();
        assert_eq!(index.len(), 2);
        assert_eq!(changed, HashSet::from(["t1".to_string(), "t2".to_string()]));
        let (same, changed) = board.take();
        assert!(Arc::ptr_eq(&index, &same));
        assert!(changed.is_empty());
        // A deletion (tombstone) changes its tenant; an unknown id nothing.
        assert!(board.apply("a", None));
        assert!(!board.apply("zzz", None));
        let (index, changed) = board.take();
        assert_eq!((index.len(), changed.len()), (1, 1));
        assert!(index.get("a").is_none());
        // A rule moved to another tenant changes both.
        assert!(board.apply("b", Some(rule("b", "t3", 2))));
        assert_eq!(board.take().1.len(), 2);
    }

    #[test]
    fn changes_since_an_offset_name_their_tenants_and_the_offset_read_up_to() {
        let board = RuleBoard::new();
        assert_eq!(board.changed_since(-1), (Vec::new(), -1));
        assert!(board.apply_at("a", Some(rule("a", "t1", 1)), 10));
        assert!(board.apply_at("b", Some(rule("b", "t2", 1)), 11));
        // An older revision read later is no change of t1.
        assert!(!board.apply_at("a", Some(rule("a", "t1", 0)), 12));
        let sorted = |since| {
            let (mut t, high) = board.changed_since(since);
            t.sort();
            (t, high)
        };
        assert_eq!(sorted(-1), (vec!["t1".into(), "t2".into()], 12));
        assert_eq!(sorted(10), (vec!["t2".into()], 12));
        assert_eq!(sorted(12), (Vec::<String>::new(), 12));
        // A deletion changes its rule's tenant; changes made in process
        // take the next offsets.
        assert!(board.apply("a", None));
        assert_eq!(sorted(12), (vec!["t1".into()], 13));
    }
}
