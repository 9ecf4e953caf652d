//! Cell spaces: a cell is a DAG of `nodes` nodes, node 0 the input and the last node the output;
//! node `i` sums one operation applied to every earlier node `j`, and each edge `(i, j)` chooses
//! its operation. NAS-Bench-201's space is 4 nodes (6 edges) over none / skip / conv1x1 /
//! conv3x3 / avgpool3x3, 15,625 cells.
//!
//! The canonical string is NAS-Bench-201's: nodes 1.. in order, each listing `op~j` for its
//! inputs `j`, nodes separated by `+`, e.g. `|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|`.
//!
//! Identity (isomorphism-aware deduplication): a cell is reduced to the expression its output
//! computes. A `zero` operation (`none`) drops its edge, an `identity` operation
//! (`skip_connect`) passes its input's terms through unchanged, a node without terms is zero and
//! so are edges leaving it, and a sum is a sorted multiset of terms. Cells with the same
//! expression compute the same function up to weight initialisation: on NAS-Bench-201 the
//! 15,625 cells fall into 4,930 classes (341 cells compute nothing and are all one class).
//!
//! # References
//! - X. Dong, Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
//!   Search", ICLR 2020 (the cell, its operations and its string form).

use super::{ArchitectureSpace, Choices, Decision, validate_decisions};
use crate::error::{Error, Result};

/// A cell space. See the module documentation.
#[derive(Clone, Debug)]
pub struct CellSpace {
    nodes: usize,
    ops: Vec<String>,
    zero: Option<usize>,
    identity_op: Option<usize>,
    /// Edges in string order: `(to, from)`.
    edges: Vec<(usize, usize)>,
    decisions: Vec<Decision>,
}

/// NAS-Bench-201's operations, in its order.
pub const NAS_BENCH_201_OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

impl CellSpace {
    /// A cell of `nodes` nodes (at least 2) whose edges choose among `ops`. An operation named
    /// `none` is the zero operation and `skip_connect` the identity, as in NAS-Bench-201; use
    /// [`CellSpace::with_semantics`] for other names.
    pub fn new(nodes: usize, ops: &[impl AsRef<str>]) -> Result<Self> {
        let ops: Vec<String> = ops.iter().map(|o| o.as_ref().to_string()).collect();
        let zero = ops.iter().position(|o| o == "none");
        let id = ops.iter().position(|o| o == "skip_connect");
        Self::build(nodes, ops, zero, id)
    }

    /// NAS-Bench-201's space: 4 nodes, 6 edges, 5 operations.
    pub fn nas_bench_201() -> Self {
        // Valid by construction.
        Self::build(
            4,
            NAS_BENCH_201_OPS.map(String::from).to_vec(),
            Some(0),
            Some(1),
        )
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// Names the zero and identity operations (either may be absent).
    pub fn with_semantics(mut self, zero: Option<&str>, identity: Option<&str>) -> Result<Self> {
        let find = |name: Option<&str>| -> Result<Option<usize>> {
            name.map(|n| {
                self.ops.iter().position(|o| o == n).ok_or_else(|| {
                    Error::invalid(format!("'{n}' is not one of the cell's operations"))
                })
            })
            .transpose()
        };
        self.zero = find(zero)?;
        self.identity_op = find(identity)?;
        Ok(self)
    }

    fn build(
        nodes: usize,
        ops: Vec<String>,
        zero: Option<usize>,
        identity_op: Option<usize>,
    ) -> Result<Self> {
        if !(2..=16).contains(&nodes) {
            return Err(Error::invalid(format!(
                "a cell needs between 2 and 16 nodes, not {nodes}"
            )));
        }
        for o in &ops {
            if o.is_empty() || o.contains(['|', '~', '+']) {
                return Err(Error::invalid(format!(
                    "operation name '{o}' must be non-empty and free of '|', '~' and '+'"
                )));
            }
        }
        let edges: Vec<(usize, usize)> = (1..nodes)
            .flat_map(|i| (0..i).map(move |j| (i, j)))
            .collect();
        let decisions: Vec<Decision> = edges
            .iter()
            .map(|&(i, j)| Decision::new(format!("edge_{i}_{j}"), &ops))
            .collect();
        validate_decisions(&decisions)?;
        Ok(CellSpace {
            nodes,
            ops,
            zero,
            identity_op,
            edges,
            decisions,
        })
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The operations.
    pub fn ops(&self) -> &[String] {
        &self.ops
    }

    /// The expression of every node: `None` for zero, else the sorted terms.
    fn expressions(&self, arch: &[usize]) -> Vec<Option<Vec<String>>> {
        let mut expr: Vec<Option<Vec<String>>> = vec![None; self.nodes];
        expr[0] = Some(vec!["x".to_string()]);
        for i in 1..self.nodes {
            let mut terms = Vec::new();
            for (e, &(to, j)) in self.edges.iter().enumerate() {
                let op = arch[e];
                if to != i || Some(op) == self.zero {
                    continue;
                }
                let Some(input) = &expr[j] else {
                    continue;
                };
                if Some(op) == self.identity_op {
                    terms.extend(input.iter().cloned());
                } else {
                    terms.push(format!("{}({})", self.ops[op], input.join("+")));
                }
            }
            terms.sort();
            expr[i] = (!terms.is_empty()).then_some(terms);
        }
        expr
    }
}

impl ArchitectureSpace for CellSpace {
    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn format(&self, arch: &[usize]) -> String {
        let mut s = String::from("|");
        for (e, &(i, j)) in self.edges.iter().enumerate() {
            if j == 0 && i > 1 {
                s.push_str("+|");
            }
            s.push_str(&format!("{}~{j}|", self.ops[arch[e]]));
        }
        s
    }

    fn parse(&self, text: &str) -> Result<Choices> {
        let bad = |why: String| Error::invalid(format!("cell string '{text}': {why}"));
        let inner = text
            .strip_prefix('|')
            .and_then(|t| t.strip_suffix('|'))
            .ok_or_else(|| bad("it must start and end with '|'".into()))?;
        let nodes: Vec<&str> = inner.split("|+|").collect();
        if nodes.len() != self.nodes - 1 {
            return Err(bad(format!(
                "{} nodes listed, the space has {}",
                nodes.len(),
                self.nodes - 1
            )));
        }
        let mut arch = Vec::with_capacity(self.edges.len());
        for (k, node) in nodes.iter().enumerate() {
            let i = k + 1;
            let edges: Vec<&str> = node.split('|').collect();
            if edges.len() != i {
                return Err(bad(format!(
                    "node {i} needs {i} inputs, found {}",
                    edges.len()
                )));
            }
            for (j, edge) in edges.iter().enumerate() {
                let (op, from) = edge
                    .split_once('~')
                    .ok_or_else(|| bad(format!("edge '{edge}' is not 'op~input'")))?;
                if from.parse::<usize>().ok() != Some(j) {
                    return Err(bad(format!(
                        "edge '{edge}' of node {i} must come from node {j}"
                    )));
                }
                let o = self
                    .ops
                    .iter()
                    .position(|x| x == op)
                    .ok_or_else(|| bad(format!("'{op}' is not an operation of this space")))?;
                arch.push(o);
            }
        }
        Ok(arch)
    }

    fn identity(&self, arch: &[usize]) -> String {
        match &self.expressions(arch)[self.nodes - 1] {
            None => "zero".to_string(),
            Some(terms) => terms.join("+"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const EXAMPLE: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";

    #[test]
    fn canonical_strings_round_trip() {
        let s = CellSpace::nas_bench_201();
        let arch = s.parse(EXAMPLE).unwrap();
        assert_eq!(arch, vec![3, 3, 4, 1, 3, 1]);
        assert_eq!(s.format(&arch), EXAMPLE);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..500 {
            let a = s.random(&mut rng);
            assert_eq!(s.parse(&s.format(&a)).unwrap(), a);
            assert_eq!(s.arch_of(&s.params_of(&a)).unwrap(), a);
        }
        assert_eq!(s.size(), 15_625);
    }

    #[test]
    fn malformed_strings_are_refused_with_the_reason() {
        let s = CellSpace::nas_bench_201();
        for (text, why) in [
            ("nor_conv_3x3~0|", "start and end"),
            ("|nor_conv_3x3~0|+|none~0|none~1|", "2 nodes listed"),
            (
                "|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|",
                "node 2 needs 2 inputs",
            ),
            (
                "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "'conv' is not an operation",
            ),
            (
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                "must come from node 0",
            ),
        ] {
            let e = s.parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(CellSpace::new(1, &["a"]).is_err());
        assert!(CellSpace::new(3, &["a", "b|c"]).is_err());
        assert!(CellSpace::new(3, &["a", "a"]).is_err());
    }

    #[test]
    fn isomorphic_cells_share_an_identity_and_others_do_not() {
        let s = CellSpace::nas_bench_201();
        let id = |t: &str| s.identity(&s.parse(t).unwrap());
        // The output reads node 1 through a skip, or reads node 0's conv directly: same function.
        assert_eq!(
            id("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"),
            id("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"),
        );
        // Sums commute.
        assert_eq!(
            id("|nor_conv_1x1~0|+|none~0|none~1|+|avg_pool_3x3~0|skip_connect~1|none~2|"),
            id("|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|skip_connect~1|none~2|"),
        );
        // Everything after an unreachable node is dead: these compute nothing.
        assert_eq!(
            id("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
            "zero"
        );
        // Different operations, different functions.
        assert_ne!(
            id("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"),
            id("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"),
        );
        // Conv of a sum is not a sum of convs.
        assert_ne!(
            id("|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|"),
            id("|none~0|+|nor_conv_3x3~0|none~1|+|nor_conv_3x3~0|none~1|nor_conv_3x3~2|"),
        );
    }

    #[test]
    fn nas_bench_201_has_4930_functional_classes() {
        let s = CellSpace::nas_bench_201();
        let mut ids = std::collections::HashSet::new();
        let mut zero = 0;
        for n in 0..15_625usize {
            let arch: Vec<usize> = (0..6).map(|e| n / 5usize.pow(e) % 5).collect();
            let id = s.identity(&arch);
            if id == "zero" {
                zero += 1;
            }
            ids.insert(id);
        }
        assert_eq!(ids.len(), 4930);
        assert_eq!(zero, 341);
    }

    #[test]
    fn mutation_changes_exactly_one_choice() {
        let s = CellSpace::nas_bench_201();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..500 {
            let a = s.random(&mut rng);
            let b = s.mutate(&a, &mut rng);
            assert_eq!(a.iter().zip(&b).filter(|(x, y)| x != y).count(), 1);
        }
        assert_eq!(s.neighbours(&[0; 6]).len(), 24);
    }
}
