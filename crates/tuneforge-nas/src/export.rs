//! Exports a found network so that it leaves Rust: `architecture.json` (the cell, its
//! decisions, the network size and the measured accuracies), `weights.safetensors` (the trained
//! weights and batch-norm statistics, under the module paths of [`CellNet`]) and `model.py`, a
//! generated PyTorch `nn.Module` of the same structure with a loader for those weights.
//! [`export_chain`] writes the first two for a chain network.

use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde_json::json;
use tuneforge::nas::{ArchitectureSpace, CellSpace, ChainSpace};

use crate::chainnet::ChainNet;
use crate::error::{Error, Result};
use crate::ops::OpKind;
use crate::supernet::{CellNet, NetConfig, edge_pairs};

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Writes `architecture.json`, `weights.safetensors` and `model.py` into `dir` (created if
/// needed) for the stand-alone network `net` of `arch`. `extra` is merged into the JSON.
pub fn export(
    dir: &Path,
    space: &CellSpace,
    arch: &[usize],
    net: &CellNet,
    extra: serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let config = net.config();
    let ops: Vec<String> = arch.iter().map(|&a| space.ops()[a].clone()).collect();
    let check = check_logits(net);
    let doc = json!({
        "format": "tuneforge-nas-cell/1",
        "cell": space.format(arch),
        "nodes": space.nodes(),
        "edges": edge_pairs(space.nodes()),
        "operations": ops,
        "params": space.params_of(arch),
        "net": config,
        "parameters": net.num_params(),
        "check": {
            "input": "x = sin(0.1 * i) for i = 0, 1, ... in [1, channels, 16, 16] order",
            "logits": check,
        },
    });
    write_document(dir, doc, extra, net)?;
    let py = dir.join("model.py");
    let kinds = arch
        .iter()
        .map(|&a| OpKind::parse(&space.ops()[a]))
        .collect::<Result<Vec<_>>>()?;
    std::fs::write(
        &py,
        pytorch_source(space.nodes(), &kinds, config, &space.format(arch)),
    )
    .map_err(|e| io(&py, e))?;
    Ok(())
}

/// Writes `doc` merged with `extra` as `architecture.json`, and `net`'s inference weights as
/// `weights.safetensors`, into `dir`.
fn write_document<M: Module>(
    dir: &Path,
    mut doc: serde_json::Value,
    extra: serde_json::Value,
    net: &M,
) -> Result<()> {
    if let (Some(d), serde_json::Value::Object(e)) = (doc.as_object_mut(), extra) {
        d.extend(e);
    }
    let json_path = dir.join("architecture.json");
    let text = serde_json::to_string_pretty(&doc).map_err(|e| io(&json_path, e))?;
    std::fs::write(&json_path, text + "\n").map_err(|e| io(&json_path, e))?;
    let weights = dir.join("weights.safetensors");
    let mut store = SafetensorsStore::from_file(&weights).overwrite(true);
    net.valid()
        .save_into(&mut store)
        .map_err(|e| io(&weights, format!("{e:?}")))?;
    Ok(())
}

/// Writes `architecture.json` (the chain, its decisions, each layer's block, the network size)
/// and `weights.safetensors` (under [`ChainNet`]'s module paths) into `dir` for the stand-alone
/// chain network `net` of `arch`. No PyTorch source is generated for chains.
pub fn export_chain(
    dir: &Path,
    space: &ChainSpace,
    arch: &[usize],
    net: &ChainNet,
    extra: serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = net.path(space, arch)?;
    let blocks: Vec<String> = path
        .iter()
        .map(|&k| format!("{:?}", net.candidates()[k]))
        .collect();
    let doc = json!({
        "format": "tuneforge-nas-chain/1",
        "chain": space.format(arch),
        "params": space.params_of(arch),
        "blocks": blocks,
        "path": path,
        "net": net.config(),
        "parameters": net.num_params(),
    });
    write_document(dir, doc, extra, net)
}

/// Inference-mode class scores for the fixed input `sin(0.1 i)` of shape `[1, c, 16, 16]`: a
/// port of the network (e.g. `model.py`) must reproduce them.
pub fn check_logits(net: &CellNet) -> Vec<f32> {
    let c = net.config().in_channels;
    let n = c * 16 * 16;
    let x: Vec<f32> = (0..n).map(|i| (0.1 * i as f32).sin()).collect();
    let device = crate::train::base_device();
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(x, [1, c, 16, 16]),
        &device,
    );
    net.valid()
        .forward_standalone(x)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

fn py_op(kind: OpKind) -> String {
    match kind {
        OpKind::Zero => "Op('zero', c)".into(),
        OpKind::Identity => "Op('identity', c)".into(),
        OpKind::Conv(k) => format!("Op('conv{k}', c)"),
        OpKind::AvgPool => "Op('avg', c)".into(),
        OpKind::MaxPool => "Op('max', c)".into(),
    }
}

/// The PyTorch source of the stand-alone network: module names mirror [`CellNet`]'s so that
/// `load_tuneforge_weights` maps the safetensors file one to one (batch norm's `gamma`/`beta`
/// become `weight`/`bias`; the classifier's weight is stored input-major and is transposed).
pub fn pytorch_source(nodes: usize, ops: &[OpKind], config: &NetConfig, cell: &str) -> String {
    let edges: Vec<String> = edge_pairs(nodes)
        .iter()
        .map(|(t, f)| format!("({t}, {f})"))
        .collect();
    let op_list: Vec<String> = ops.iter().map(|&k| py_op(k)).collect();
    format!(
        r#""""A network found by tuneforge architecture search, as a PyTorch module.

Cell: {cell}
Generated by `tuneforge nas search`; load the trained weights with
`load_tuneforge_weights(model, "weights.safetensors")` (needs the `safetensors` package), and
check the port with `check(model, "architecture.json")`.
"""
import torch
from torch import nn
import torch.nn.functional as F

EDGES = [{edges}]
CHANNELS = {channels}
CELLS_PER_STAGE = {cells}
STAGES = {stages}
IN_CHANNELS = {in_ch}
CLASSES = {classes}


class ReluConvBn(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class Op(nn.Module):
    def __init__(self, kind, c):
        super().__init__()
        self.kind = kind
        if kind.startswith("conv"):
            self.conv = ReluConvBn(c, c, int(kind[4:]), 1)

    def forward(self, x):
        if self.kind == "zero":
            return None
        if self.kind == "identity":
            return x
        if self.kind == "avg":
            return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        if self.kind == "max":
            return F.max_pool2d(x, 3, 1, 1)
        return self.conv(x)


class Edge(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.ops = nn.ModuleList([op])


class Cell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList([Edge(op) for op in [{op_list}]])

    def forward(self, x):
        states = [x]
        for node in range(1, {nodes}):
            total = None
            for e, (to, src) in enumerate(EDGES):
                if to != node or states[src] is None:
                    continue
                out = self.edges[e].ops[0](states[src])
                if out is not None:
                    total = out if total is None else total + out
            states.append(total)
        return states[-1] if states[-1] is not None else torch.zeros_like(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        c = CHANNELS
        self.stem = nn.Conv2d(IN_CHANNELS, c, 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
        self.cells = nn.ModuleList()
        self.reductions = nn.ModuleList()
        for stage in range(STAGES):
            width = c << stage
            if stage > 0:
                self.reductions.append(ReluConvBn(width // 2, width, 3, 2))
            for _ in range(CELLS_PER_STAGE):
                self.cells.append(Cell(width))
        self.head = nn.Linear(c << (STAGES - 1), CLASSES)

    def forward(self, x):
        h = self.stem_bn(self.stem(x))
        for i, cell in enumerate(self.cells):
            if i > 0 and i % CELLS_PER_STAGE == 0:
                h = self.reductions[i // CELLS_PER_STAGE - 1](h)
            h = cell(h)
        return self.head(F.relu(h).mean(dim=(2, 3)))


def load_tuneforge_weights(model, path):
    """Loads a tuneforge `weights.safetensors` into `model` (a `Net`)."""
    from safetensors.torch import load_file

    state = {{}}
    for name, tensor in load_file(path).items():
        parts = name.split(".")
        if parts[-1] == "gamma":
            parts[-1] = "weight"
        elif parts[-1] == "beta":
            parts[-1] = "bias"
        key = ".".join(parts)
        if key == "head.weight":
            tensor = tensor.t()
        state[key] = tensor.contiguous()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"weights do not fit: missing {{missing}}, unexpected {{unexpected}}")
    return model


def check(model, architecture_json, tolerance=1e-3):
    """Compares the model's scores on the fixed input of `architecture.json` with tuneforge's."""
    import json

    doc = json.load(open(architecture_json))
    n = IN_CHANNELS * 16 * 16
    x = torch.sin(0.1 * torch.arange(n, dtype=torch.float32)).reshape(1, IN_CHANNELS, 16, 16)
    with torch.no_grad():
        got = model.eval()(x)[0]
    want = torch.tensor(doc["check"]["logits"])
    diff = (got - want).abs().max().item()
    if diff > tolerance:
        raise ValueError(f"scores differ from tuneforge's by {{diff}}")
    return diff
"#,
        edges = edges.join(", "),
        channels = config.channels,
        cells = config.cells_per_stage,
        stages = config.stages,
        in_ch = config.in_channels,
        classes = config.classes,
        op_list = op_list.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::train_device;

    /// The tensor names in a safetensors file (its JSON header).
    fn safetensors_names(path: &Path) -> Vec<String> {
        let bytes = std::fs::read(path).unwrap();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
        let mut names: Vec<String> = header
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect();
        names.sort();
        names
    }

    #[test]
    fn export_writes_json_weights_and_a_module_whose_names_match() {
        let _serial = crate::test_serial();
        let space = CellSpace::nas_bench_201();
        let config = NetConfig {
            channels: 4,
            cells_per_stage: 1,
            stages: 2,
            in_channels: 1,
            classes: 10,
        };
        let arch = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|").unwrap();
        let net = CellNet::standalone(&space, &arch, &config, &train_device()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        export(
            dir.path(),
            &space,
            &arch,
            &net,
            json!({"test_accuracy": 0.5}),
        )
        .unwrap();
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("architecture.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(doc["cell"], space.format(&arch));
        assert_eq!(doc["test_accuracy"], 0.5);
        assert_eq!(doc["parameters"], net.num_params());
        assert_eq!(doc["check"]["logits"].as_array().unwrap().len(), 10);
        let names = safetensors_names(&dir.path().join("weights.safetensors"));
        // conv3x3 on edge 0 of cell 0 with its batch norm; the classifier; no weights for
        // parameter-free operations
        for expected in [
            "cells.0.edges.0.ops.0.conv.conv.weight",
            "cells.0.edges.0.ops.0.conv.bn.gamma",
            "cells.0.edges.0.ops.0.conv.bn.running_mean",
            "reductions.0.conv.weight",
            "stem.weight",
            "stem_bn.beta",
            "head.weight",
            "head.bias",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.starts_with("cells.0.edges.1.")),
            "{names:?}"
        );
        let py = std::fs::read_to_string(dir.path().join("model.py")).unwrap();
        assert!(py.contains("Op('conv3', c), Op('identity', c), Op('zero', c), Op('avg', c), Op('conv1', c), Op('conv3', c)"), "{py}");
        assert!(py.contains("CHANNELS = 4") && py.contains("STAGES = 2"));
    }

    #[test]
    fn an_unwritable_folder_is_a_clear_error() {
        let _serial = crate::test_serial();
        let space = CellSpace::nas_bench_201();
        let net =
            CellNet::standalone(&space, &[1; 6], &NetConfig::default(), &train_device()).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = export(&file.path().join("sub"), &space, &[1; 6], &net, json!({})).unwrap_err();
        assert!(
            err.to_string().contains(&file.path().display().to_string()),
            "{err}"
        );
    }
}
