//! Script analysis, as `metrics.md` ("Script analysis") defines it.

use std::collections::{BTreeSet, VecDeque};

use schemas::Script;

/// What the figures need to know about a campaign's script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptAnalysis {
    /// Nodes that are the target of an edge and the source of none.
    graph_ends: BTreeSet<String>,
    /// The first node in `nodes` order that is the source of an edge and
    /// the target of none.
    pub start: Option<String>,
    /// Breadth-first order from the start node along the edges, in script
    /// order, each node once. Empty without a start node.
    pub flow: Vec<String>,
}

impl ScriptAnalysis {
    /// The analysis of `script`; without a script only the id rule
    /// ("end" in the id) makes end nodes and the flow is empty.
    pub fn new(script: Option<&Script>) -> Self {
        let Some(script) = script else {
            return Self::default();
        };
        let sources: BTreeSet<&str> = script.edges.iter().map(|e| e.source.as_str()).collect();
        let targets: BTreeSet<&str> = script.edges.iter().map(|e| e.target.as_str()).collect();
        let graph_ends = targets
            .difference(&sources)
            .map(|id| (*id).to_owned())
            .collect();
        let start = script
            .nodes
            .iter()
            .find(|n| sources.contains(n.id.as_str()) && !targets.contains(n.id.as_str()))
            .map(|n| n.id.clone());

        let mut flow = Vec::new();
        if let Some(start) = &start {
            let mut seen = BTreeSet::from([start.as_str()]);
            let mut queue = VecDeque::from([start.as_str()]);
            while let Some(node) = queue.pop_front() {
                flow.push(node.to_owned());
                for edge in script.edges.iter().filter(|e| e.source == node) {
                    if seen.insert(edge.target.as_str()) {
                        queue.push_back(edge.target.as_str());
                    }
                }
            }
        }
        ScriptAnalysis {
            graph_ends,
            start,
            flow,
        }
    }

    /// Whether reaching `node` completes a journey.
    pub fn is_end(&self, node: &str) -> bool {
        node.to_lowercase().contains("end") || self.graph_ends.contains(node)
    }
}
