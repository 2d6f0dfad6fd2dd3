//! Script analysis (metrics.md, "Script analysis"): end nodes, start node
//! and the flow sequence of the funnel.

use std::collections::{HashMap, HashSet, VecDeque};

use schemas::Script;
use serde::{Deserialize, Serialize};

/// What the reports need to know about a campaign's script.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptInfo {
    /// Nodes that are the target of an edge and the source of none, plus
    /// nodes whose id contains `end` (any case).
    pub end_nodes: HashSet<String>,
    pub start_node: Option<String>,
    /// Breadth-first order from the start node along edges (in script order),
    /// each node once.
    pub flow: Vec<String>,
}

/// Whether a node id marks an end node by name.
pub fn is_end_by_name(node_id: &str) -> bool {
    // `node_id.to_ascii_lowercase().contains("end")` without the copy (it
    // runs for every step of every journey a report visits). Byte windows
    // suffice: a UTF-8 sequence of a non-ASCII character has no ASCII byte.
    node_id
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"end"))
}

impl ScriptInfo {
    pub fn analyse(script: &Script) -> Self {
        let sources: HashSet<&str> = script.edges.iter().map(|e| e.source.as_str()).collect();
        let targets: HashSet<&str> = script.edges.iter().map(|e| e.target.as_str()).collect();

        let mut end_nodes: HashSet<String> = targets
            .iter()
            .filter(|t| !sources.contains(*t))
            .map(|t| t.to_string())
            .collect();
        for node in &script.nodes {
            if is_end_by_name(&node.id) {
                end_nodes.insert(node.id.clone());
            }
        }

        let start_node = script
            .nodes
            .iter()
            .map(|n| n.id.as_str())
            .find(|id| sources.contains(id) && !targets.contains(id))
            .map(str::to_string);

        let mut out_edges: HashMap<&str, Vec<&str>> = HashMap::new();
        for edge in &script.edges {
            out_edges
                .entry(edge.source.as_str())
                .or_default()
                .push(edge.target.as_str());
        }
        let mut flow = Vec::new();
        if let Some(start) = start_node.as_deref() {
            let mut seen: HashSet<&str> = HashSet::from([start]);
            let mut queue = VecDeque::from([start]);
            while let Some(node) = queue.pop_front() {
                flow.push(node.to_string());
                for &next in out_edges.get(node).map(Vec::as_slice).unwrap_or_default() {
                    if seen.insert(next) {
                        queue.push_back(next);
                    }
                }
            }
        }
        ScriptInfo {
            end_nodes,
            start_node,
            flow,
        }
    }

    /// Whether reaching `node_id` completes a journey. Without a script only
    /// the name rule applies.
    pub fn is_end(info: Option<&ScriptInfo>, node_id: &str) -> bool {
        is_end_by_name(node_id) || info.is_some_and(|i| i.end_nodes.contains(node_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{ScriptEdge, ScriptNode};

    fn script(nodes: &[&str], edges: &[(&str, &str)]) -> Script {
        Script {
            nodes: nodes
                .iter()
                .map(|id| ScriptNode {
                    id: id.to_string(),
                    node_type: "message".into(),
                    script_type: "buttons".into(),
                })
                .collect(),
            edges: edges
                .iter()
                .map(|(s, t)| ScriptEdge {
                    source: s.to_string(),
                    target: t.to_string(),
                    label: None,
                })
                .collect(),
        }
    }

    #[test]
    fn end_nodes_are_sinks_and_named_ends() {
        let s = script(
            &["a", "b", "c", "THE_END", "d"],
            &[("a", "b"), ("a", "c"), ("b", "THE_END"), ("THE_END", "d")],
        );
        let info = ScriptInfo::analyse(&s);
        let mut ends: Vec<_> = info.end_nodes.iter().cloned().collect();
        ends.sort();
        assert_eq!(ends, ["THE_END", "c", "d"]);
        assert!(ScriptInfo::is_end(Some(&info), "c"));
        assert!(!ScriptInfo::is_end(Some(&info), "b"));
        assert!(ScriptInfo::is_end(None, "x_End_y"));
        assert!(!ScriptInfo::is_end(None, "c"));
    }

    #[test]
    fn start_is_the_first_source_that_is_no_target() {
        let s = script(&["b", "x", "a"], &[("x", "b"), ("a", "b")]);
        assert_eq!(ScriptInfo::analyse(&s).start_node.as_deref(), Some("x"));
    }

    #[test]
    fn flow_is_breadth_first_each_node_once() {
        let s = script(
            &["s", "a", "b", "c", "e"],
            &[
                ("s", "a"),
                ("s", "b"),
                ("a", "c"),
                ("b", "c"),
                ("c", "e"),
                ("b", "e"),
            ],
        );
        assert_eq!(ScriptInfo::analyse(&s).flow, ["s", "a", "b", "c", "e"]);
    }

    #[test]
    fn no_start_node_means_no_flow() {
        let s = script(&["a", "b"], &[("a", "b"), ("b", "a")]);
        let info = ScriptInfo::analyse(&s);
        assert_eq!(info.start_node, None);
        assert!(info.flow.is_empty());
    }

    #[test]
    fn end_by_name_is_a_case_insensitive_ascii_match_without_copies() {
        for id in [
            "end",
            "END",
            "The_End",
            "legend",
            "eNd2",
            "en",
            "e-n-d",
            "",
            "énd",
            "ÉND",
            "fin",
            "Ende",
            "\u{1F51A}end",
            "ﬀend",
            "endé",
        ] {
            assert_eq!(
                is_end_by_name(id),
                id.to_ascii_lowercase().contains("end"),
                "{id:?}"
            );
        }
    }
}
