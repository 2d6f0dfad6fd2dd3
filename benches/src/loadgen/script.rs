//! Random campaign scripts: branching graphs of 5 to 30 nodes with a single
//! start node from which every node is reachable, 1 to 3 buttons per
//! non-end node, end nodes without outgoing edges (some named `end_*`), and
//! sometimes a node with `End` in its id that still has buttons (the id rule
//! of `metrics.md` makes it an end node too).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;
use schemas::{Script, ScriptEdge, ScriptNode};

/// Fewest and most nodes of a generated script (an update may add one).
pub const MIN_NODES: usize = 5;
pub const MAX_NODES: usize = 30;
/// Most buttons (outgoing edges) of a node.
pub const MAX_BUTTONS: usize = 3;

const LABELS: [&str; 12] = [
    "Yes",
    "No",
    "Maybe",
    "Later",
    "Tell me more",
    "Back",
    "Sign me up",
    "Not now",
    "Option A",
    "Option B",
    "Call me",
    "Stop",
];

/// A new random script. Nodes and edges come in shuffled order, so the start
/// node is not necessarily the first node.
pub fn generate<R: Rng>(rng: &mut R) -> Script {
    let n = rng.gen_range(MIN_NODES..=MAX_NODES);

    // A random tree rooted at node 0 (out-degree at most MAX_BUTTONS) makes
    // every node reachable from the start; the newest node always has room
    // for children, so a parent always exists.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for node in 1..n {
        let parents: Vec<usize> = (0..node)
            .filter(|p| children[*p].len() < MAX_BUTTONS)
            .collect();
        let parent = parents[rng.gen_range(0..parents.len())];
        children[parent].push(node);
    }
    // Extra buttons on inner nodes: shortcuts and loops ("back to the
    // menu"), never into node 0 so it stays the only start node.
    for (node, kids) in children.iter_mut().enumerate() {
        if kids.is_empty() || kids.len() >= MAX_BUTTONS {
            continue;
        }
        if rng.gen_bool(0.35) {
            let target = rng.gen_range(1..n);
            if target != node {
                kids.push(target);
            }
        }
    }

    let ids = node_ids(rng, &children);
    let mut nodes: Vec<ScriptNode> = (0..n)
        .map(|i| ScriptNode {
            id: ids[i].clone(),
            node_type: if i == 0 {
                "start".to_owned()
            } else if children[i].is_empty() {
                "final".to_owned()
            } else {
                "question".to_owned()
            },
            script_type: "buttons".to_owned(),
        })
        .collect();
    let mut edges = Vec::new();
    for (source, targets) in children.iter().enumerate() {
        let mut labels = LABELS;
        labels.shuffle(rng);
        for (k, target) in targets.iter().enumerate() {
            edges.push(ScriptEdge {
                source: ids[source].clone(),
                target: ids[*target].clone(),
                label: (!rng.gen_bool(0.15)).then(|| labels[k].to_owned()),
            });
        }
    }
    nodes.shuffle(rng);
    edges.shuffle(rng);
    Script { nodes, edges }
}

/// Node ids: `start`/`welcome` for node 0, `end_*` for about half of the
/// leaves, and rarely an inner node whose id contains `End`.
fn node_ids<R: Rng>(rng: &mut R, children: &[Vec<usize>]) -> Vec<String> {
    let mut ids = Vec::with_capacity(children.len());
    let mut end_ok_taken = false;
    for (i, kids) in children.iter().enumerate() {
        let id = if i == 0 {
            ["start", "welcome"][rng.gen_range(0..2)].to_owned()
        } else if kids.is_empty() {
            if rng.gen_bool(0.5) {
                if end_ok_taken {
                    format!("end_{i}")
                } else {
                    end_ok_taken = true;
                    "end_ok".to_owned()
                }
            } else {
                format!("{}_{i}", ["goodbye", "done", "thanks"][rng.gen_range(0..3)])
            }
        } else {
            format!(
                "{}_{i}",
                ["q", "menu", "offer", "info"][rng.gen_range(0..4)]
            )
        };
        ids.push(id);
    }
    // An inner node with "End" in its id that still has buttons.
    let inner: Vec<usize> = (1..children.len())
        .filter(|i| !children[*i].is_empty())
        .collect();
    if !inner.is_empty() && rng.gen_bool(0.3) {
        let i = inner[rng.gen_range(0..inner.len())];
        ids[i] = format!("WeekEnd_offer_{i}");
    }
    ids
}

/// A changed version of `script` that changes completion for journeys that
/// already ended: a former end node (one without "end" in its id) gets a
/// button to a new node, or, when the script is full, to another end node.
/// `None` when the script has no such end node.
pub fn update<R: Rng>(rng: &mut R, script: &Script) -> Option<Script> {
    let graph = Graph::new(script);
    let leaves: Vec<&str> = script
        .nodes
        .iter()
        .map(|n| n.id.as_str())
        .filter(|id| graph.buttons(id).is_empty() && !id.to_lowercase().contains("end"))
        .filter(|id| script.edges.iter().any(|e| e.target == *id))
        .collect();
    if leaves.is_empty() {
        return None;
    }
    let leaf = leaves[rng.gen_range(0..leaves.len())].to_owned();
    let mut updated = script.clone();
    let target = if script.nodes.len() < MAX_NODES {
        let id = format!("followup_{}", script.nodes.len());
        updated.nodes.push(ScriptNode {
            id: id.clone(),
            node_type: "final".to_owned(),
            script_type: "buttons".to_owned(),
        });
        id
    } else {
        let others: Vec<&str> = leaves.iter().copied().filter(|l| *l != leaf).collect();
        if others.is_empty() {
            return None;
        }
        others[rng.gen_range(0..others.len())].to_owned()
    };
    let label = ["Continue", "One more thing"][rng.gen_range(0..2)].to_owned();
    updated.edges.push(ScriptEdge {
        source: leaf,
        target,
        label: Some(label),
    });
    Some(updated)
}

/// Outgoing edges per node, in script order: what a user can click.
#[derive(Debug, Clone)]
pub struct Graph<'a> {
    out: BTreeMap<&'a str, Vec<&'a ScriptEdge>>,
    start: Option<&'a str>,
}

impl<'a> Graph<'a> {
    pub fn new(script: &'a Script) -> Self {
        let mut out: BTreeMap<&str, Vec<&ScriptEdge>> = BTreeMap::new();
        for edge in &script.edges {
            out.entry(edge.source.as_str()).or_default().push(edge);
        }
        let start = script
            .nodes
            .iter()
            .map(|n| n.id.as_str())
            .find(|id| out.contains_key(id) && !script.edges.iter().any(|e| e.target == *id));
        Graph { out, start }
    }

    /// The buttons of `node`.
    pub fn buttons(&self, node: &str) -> &[&'a ScriptEdge] {
        self.out.get(node).map_or(&[], |edges| edges.as_slice())
    }

    /// The node that is the source of edges and the target of none.
    pub fn start(&self) -> Option<&'a str> {
        self.start
    }
}
