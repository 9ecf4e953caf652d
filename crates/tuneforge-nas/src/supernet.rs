//! Cell networks and supernets over a [`tuneforge::nas::CellSpace`].
//!
//! A network is a stem convolution, `stages` stages of `cells_per_stage` cells (channels double
//! and resolution halves between stages, through a stride-2 ReLU-Conv-BN block), global average
//! pooling and a linear classifier: NAS-Bench-201's skeleton, sized down for a CPU. Every cell
//! shares one architecture.
//!
//! In a *supernet* every edge holds one module per candidate operation, so one parameter tensor
//! per operation per edge per cell is shared by every architecture that uses it (weight
//! sharing). [`EdgeMode`] says how a forward pass chooses: one operation per edge (a single
//! path: one-shot/SPOS, ENAS, a stand-alone network), a softmax-weighted sum of all operations
//! (DARTS), or one sampled operation scaled by its straight-through weight (GDAS). A
//! *stand-alone* network holds only its chosen operation on each edge.
//!
//! # References
//! - X. Dong, Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
//!   Search", ICLR 2020 (cell DAG and macro skeleton).
//! - H. Pham, M. Guan, B. Zoph, Q. Le, J. Dean, "Efficient Neural Architecture Search via
//!   Parameter Sharing", ICML 2018 (one set of weights shared by all child networks).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use tuneforge::nas::{ArchitectureSpace, CellSpace};

use crate::error::{Error, Result};
use crate::ops::{Op, OpKind, ReluConvBn};

/// Size of a cell network. Defaults suit 28x28 grey images on two CPU cores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Channels of the first stage (doubled at each later stage). Default 8.
    pub channels: usize,
    /// Cells per stage. Default 1.
    pub cells_per_stage: usize,
    /// Stages. Default 3.
    pub stages: usize,
    /// Input channels. Default 1.
    pub in_channels: usize,
    /// Classes. Default 10.
    pub classes: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            channels: 8,
            cells_per_stage: 1,
            stages: 3,
            in_channels: 1,
            classes: 10,
        }
    }
}

impl NetConfig {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        if self.channels == 0 || self.cells_per_stage == 0 || self.stages == 0 {
            return Err(Error::Config(
                "a network needs at least one channel, one cell per stage and one stage".into(),
            ));
        }
        if self.in_channels == 0 || self.classes < 2 {
            return Err(Error::Config(
                "a network needs input channels and at least two classes".into(),
            ));
        }
        Ok(())
    }
}

/// How the edges choose among their operations in one forward pass (see the module docs).
#[derive(Clone, Debug)]
pub enum EdgeMode {
    /// One operation per edge: the index into the edge's candidates.
    Path(Vec<usize>),
    /// All operations, weighted: `[edges, candidates]` weights (rows sum to one for DARTS).
    Mixed(Tensor<2>),
    /// One operation per edge, multiplied by its entry of `weights` (`[edges, candidates]`):
    /// GDAS's straight-through sample, where the entry is 1 in value but carries the gradient.
    Hard {
        /// Weights whose chosen entries scale the outputs.
        weights: Tensor<2>,
        /// The chosen candidate per edge.
        chosen: Vec<usize>,
    },
}

impl EdgeMode {
    /// The same choices with `f` applied to the weights (e.g. to detach them from the graph, or
    /// to move them off the autodiff device).
    pub fn map_weights(self, f: impl FnOnce(Tensor<2>) -> Tensor<2>) -> EdgeMode {
        match self {
            EdgeMode::Path(p) => EdgeMode::Path(p),
            EdgeMode::Mixed(w) => EdgeMode::Mixed(f(w)),
            EdgeMode::Hard { weights, chosen } => EdgeMode::Hard {
                weights: f(weights),
                chosen,
            },
        }
    }
}

/// The candidate operations of one edge.
#[derive(Module, Debug)]
pub struct Edge {
    ops: Vec<Op>,
}

/// One cell: a DAG whose edges each hold their candidates.
#[derive(Module, Debug)]
pub struct Cell {
    edges: Vec<Edge>,
    #[module(skip)]
    pairs: Vec<(usize, usize)>,
    #[module(skip)]
    nodes: usize,
}

impl Cell {
    fn new(nodes: usize, candidates: &[Vec<OpKind>], channels: usize, device: &Device) -> Cell {
        let pairs = edge_pairs(nodes);
        let edges = candidates
            .iter()
            .map(|ops| Edge {
                ops: ops.iter().map(|&k| Op::new(k, channels, device)).collect(),
            })
            .collect();
        Cell {
            edges,
            pairs,
            nodes,
        }
    }

    fn forward(&self, x: Tensor<4>, mode: &EdgeMode, batch_stats: bool) -> Tensor<4> {
        let mut states: Vec<Option<Tensor<4>>> = vec![Some(x.clone())];
        for node in 1..self.nodes {
            let mut sum: Option<Tensor<4>> = None;
            for (e, &(to, from)) in self.pairs.iter().enumerate() {
                if to != node {
                    continue;
                }
                let Some(input) = &states[from] else { continue };
                let out = edge_forward(&self.edges[e], e, input, mode, batch_stats);
                if let Some(out) = out {
                    sum = Some(match sum {
                        Some(s) => s + out,
                        None => out,
                    });
                }
            }
            states.push(sum);
        }
        // A cell whose output receives nothing computes zero.
        states.pop().flatten().unwrap_or_else(|| x.zeros_like())
    }
}

fn edge_forward(
    edge: &Edge,
    e: usize,
    input: &Tensor<4>,
    mode: &EdgeMode,
    bs: bool,
) -> Option<Tensor<4>> {
    mix_forward(edge.ops.len(), e, mode, |k| {
        edge.ops[k].forward_stats(input.clone(), bs)
    })
}

/// The output of decision `e` (a cell's edge, a chain's layer) under `mode`, from `candidate(k)`,
/// the output of its `k`-th candidate (`None`: zero): the chosen one, the chosen one scaled by
/// its straight-through weight, or the weighted sum of all.
pub(crate) fn mix_forward(
    candidates: usize,
    e: usize,
    mode: &EdgeMode,
    candidate: impl Fn(usize) -> Option<Tensor<4>>,
) -> Option<Tensor<4>> {
    let weight = |weights: &Tensor<2>, k: usize| {
        weights
            .clone()
            .slice([e..e + 1, k..k + 1])
            .reshape([1, 1, 1, 1])
    };
    match mode {
        EdgeMode::Path(path) => candidate(path[e]),
        EdgeMode::Hard { weights, chosen } => {
            let k = chosen[e];
            candidate(k).map(|out| out * weight(weights, k))
        }
        EdgeMode::Mixed(weights) => {
            let mut sum: Option<Tensor<4>> = None;
            for k in 0..candidates {
                if let Some(out) = candidate(k) {
                    let term = out * weight(weights, k);
                    sum = Some(match sum {
                        Some(s) => s + term,
                        None => term,
                    });
                }
            }
            sum
        }
    }
}

/// Edges of a cell of `nodes` nodes in [`CellSpace`]'s decision order: `(to, from)`.
pub fn edge_pairs(nodes: usize) -> Vec<(usize, usize)> {
    (1..nodes)
        .flat_map(|i| (0..i).map(move |j| (i, j)))
        .collect()
}

/// A network whose decisions (a cell's edges, a chain's layers) each hold candidates with their
/// own weights, run under an [`EdgeMode`].
pub trait SharedWeights: Module {
    /// Class scores for `x` under `mode`; with `batch_stats`, every batch norm normalises with
    /// the batch's own statistics (see [`crate::ops::norm`]).
    fn forward_mode(&self, x: Tensor<4>, mode: &EdgeMode, batch_stats: bool) -> Tensor<2>;
}

impl SharedWeights for CellNet {
    fn forward_mode(&self, x: Tensor<4>, mode: &EdgeMode, batch_stats: bool) -> Tensor<2> {
        self.forward_with(x, mode, batch_stats)
    }
}

/// A cell network: a supernet (every candidate on every edge) or a stand-alone network.
#[derive(Module, Debug)]
pub struct CellNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    cells: Vec<Cell>,
    reductions: Vec<ReluConvBn>,
    head: Linear,
    #[module(skip)]
    candidates: Vec<Vec<OpKind>>,
    #[module(skip)]
    config: NetConfig,
}

impl CellNet {
    /// A supernet over `space`: every edge of every cell holds all of the space's operations.
    pub fn supernet(space: &CellSpace, config: &NetConfig, device: &Device) -> Result<CellNet> {
        let ops = space
            .ops()
            .iter()
            .map(|o| OpKind::parse(o))
            .collect::<Result<Vec<_>>>()?;
        let candidates = vec![ops; space.decisions().len()];
        Self::build(space.nodes(), candidates, config, device)
    }

    /// The stand-alone network of `arch` (one operation index per edge) in `space`.
    pub fn standalone(
        space: &CellSpace,
        arch: &[usize],
        config: &NetConfig,
        device: &Device,
    ) -> Result<CellNet> {
        let edges = space.decisions().len();
        if arch.len() != edges || arch.iter().any(|&a| a >= space.ops().len()) {
            return Err(Error::Config(format!(
                "an architecture of this cell space has {edges} operations below {}, got {arch:?}",
                space.ops().len()
            )));
        }
        let candidates = arch
            .iter()
            .map(|&a| OpKind::parse(&space.ops()[a]).map(|k| vec![k]))
            .collect::<Result<Vec<_>>>()?;
        Self::build(space.nodes(), candidates, config, device)
    }

    fn build(
        nodes: usize,
        candidates: Vec<Vec<OpKind>>,
        config: &NetConfig,
        device: &Device,
    ) -> Result<CellNet> {
        config.validate()?;
        let c = config.channels;
        let mut cells = Vec::new();
        let mut reductions = Vec::new();
        for stage in 0..config.stages {
            let width = c << stage;
            if stage > 0 {
                reductions.push(ReluConvBn::new(width / 2, width, 3, 2, device));
            }
            for _ in 0..config.cells_per_stage {
                cells.push(Cell::new(nodes, &candidates, width, device));
            }
        }
        let last = c << (config.stages - 1);
        Ok(CellNet {
            stem: Conv2dConfig::new([config.in_channels, c], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(c).init(device),
            cells,
            reductions,
            head: LinearConfig::new(last, config.classes).init(device),
            candidates,
            config: config.clone(),
        })
    }

    /// The candidate operations of each edge.
    pub fn candidates(&self) -> &[Vec<OpKind>] {
        &self.candidates
    }

    /// The network's size.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Number of edges per cell.
    pub fn edges(&self) -> usize {
        self.candidates.len()
    }

    /// Class scores `[batch, classes]` for images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>, mode: &EdgeMode) -> Tensor<2> {
        self.forward_with(x, mode, false)
    }

    /// [`CellNet::forward`] normalising every batch norm with the batch's own statistics
    /// (see [`crate::ops::norm`]): the one-shot evaluation of a supernet path.
    pub fn forward_batch_stats(&self, x: Tensor<4>, mode: &EdgeMode) -> Tensor<2> {
        self.forward_with(x, mode, true)
    }

    fn forward_with(&self, x: Tensor<4>, mode: &EdgeMode, bs: bool) -> Tensor<2> {
        let mut h = crate::ops::norm(&self.stem_bn, crate::cpuconv::conv2d(&self.stem, x), bs);
        let per_stage = self.config.cells_per_stage;
        for (i, cell) in self.cells.iter().enumerate() {
            if i > 0 && i % per_stage == 0 {
                h = self.reductions[i / per_stage - 1].forward_stats(h, bs);
            }
            h = cell.forward(h, mode, bs);
        }
        let [b, ch, _, _] = h.dims();
        let pooled = relu(h).mean_dim(3).mean_dim(2).reshape([b, ch]);
        self.head.forward(pooled)
    }

    /// The forward pass of a stand-alone network (its only candidate on every edge).
    pub fn forward_standalone(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x, &EdgeMode::Path(vec![0; self.edges()]))
    }

    /// Parameters of each candidate of edge `e` in the first cell (for weight-sharing checks).
    pub fn op_param_count(&self, e: usize, k: usize) -> usize {
        self.cells[0].edges[e].ops[k].num_params()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{ModuleVisitor, Param, ParamId};
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, Int, TensorData};

    use crate::train::{cross_entropy, train_device};

    /// Every float parameter's id and number of elements, in visiting order.
    fn params(net: &CellNet) -> Vec<(ParamId, usize, usize)> {
        struct Ids(Vec<(ParamId, usize, usize)>);
        impl ModuleVisitor for Ids {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                self.0.push((p.id, p.val().shape().num_elements(), D));
            }
        }
        let mut v = Ids(Vec::new());
        net.visit(&mut v);
        v.0
    }

    fn tiny() -> (CellSpace, NetConfig) {
        (
            CellSpace::nas_bench_201(),
            NetConfig {
                channels: 4,
                cells_per_stage: 2,
                stages: 2,
                in_channels: 1,
                classes: 3,
            },
        )
    }

    #[test]
    fn a_supernet_holds_one_parameter_tensor_per_operation_per_edge() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let net = CellNet::supernet(&space, &config, &train_device()).unwrap();
        let ps = params(&net);
        let unique: std::collections::HashSet<ParamId> = ps.iter().map(|p| p.0).collect();
        assert_eq!(unique.len(), ps.len(), "no parameter is visited twice");
        // 4-D tensors: the stem, one per reduction, and one per convolution candidate per edge
        // per cell (two of the five operations are convolutions; 6 edges; 4 cells)
        let convs = ps.iter().filter(|p| p.2 == 4).count();
        assert_eq!(convs, 1 + 1 + 2 * 6 * 4);
        // a 3x3 convolution candidate on 4 channels: 4*4*9 weights and a batch norm's scale,
        // shift and two running statistics of 4 each (burn counts the statistics too)
        assert_eq!(net.op_param_count(0, 3), 4 * 4 * 9 + 4 * 4);
        assert_eq!(net.op_param_count(0, 1), 0, "skip_connect has no weights");
    }

    #[test]
    fn paths_that_share_an_operation_train_the_same_tensor() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let device = train_device();
        let net = CellNet::supernet(&space, &config, &device).unwrap();
        let x = Tensor::<4>::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0], [4]), &device);
        let grads_of = |path: Vec<usize>| {
            let loss = cross_entropy(net.forward(x.clone(), &EdgeMode::Path(path)), y.clone());
            GradientsParams::from_grads(loss.backward(), &net)
        };
        // edge 0 uses nor_conv_3x3 (index 3) in both paths; the other edges differ
        let a = grads_of(vec![3, 1, 2, 4, 1, 3]);
        let b = grads_of(vec![3, 2, 4, 1, 3, 1]);
        let c = grads_of(vec![2, 1, 2, 4, 1, 3]);
        let conv3_edge0 = net.cells[0].edges[0].ops[3]
            .conv
            .as_ref()
            .map(|c| c.conv.weight.id)
            .unwrap();
        assert!(a.get::<4>(conv3_edge0).is_some());
        assert!(
            b.get::<4>(conv3_edge0).is_some(),
            "the same tensor serves both paths"
        );
        assert!(
            c.get::<4>(conv3_edge0).is_none(),
            "a path without the operation leaves it alone"
        );
    }

    #[test]
    fn a_standalone_network_refuses_a_malformed_architecture() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let device = train_device();
        assert!(CellNet::standalone(&space, &[1, 2, 3], &config, &device).is_err());
        assert!(CellNet::standalone(&space, &[9; 6], &config, &device).is_err());
        let bad = NetConfig {
            channels: 0,
            ..config
        };
        assert!(CellNet::supernet(&space, &bad, &device).is_err());
    }
}
