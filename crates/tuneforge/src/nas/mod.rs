//! Neural architecture search spaces: an architecture is a sequence of categorical decisions
//! (the operation on each edge of a cell, the kernel of each layer of a chain, ...), stored as a
//! trial's parameters, so studies, storage, workers and every sampler work on architectures
//! unchanged.
//!
//! An [`ArchitectureSpace`] names its decisions, writes an architecture in its canonical string
//! form and parses it back, and gives an *identity*: two architectures with the same identity
//! compute the same function (isomorphic cells, chains whose skipped layers differ only in
//! unused choices), so a search never pays twice for one network.
//!
//! Spaces: [`CellSpace`] (a DAG cell, NAS-Bench-201 style), [`ChainSpace`] (per-layer choices,
//! MobileNet style) and [`DecisionSpace`] (any list of named choices, e.g. from a study file).
//! Search strategies written for architectures: [`crate::sampler::LocalSearchSampler`] and
//! [`crate::sampler::ReinforceSampler`] (an LSTM controller, [`controller`]); regularized
//! evolution, TPE, GP and BOHB work on the decisions as on any categorical parameters.
//! Hardware-aware objectives are in [`objectives`].

pub mod cell;
pub mod chain;
pub mod controller;
pub mod custom;
pub mod objectives;

pub use cell::CellSpace;
pub use chain::ChainSpace;
pub use custom::DecisionSpace;

use indexmap::IndexMap;
use rand::Rng;

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::space::{ParamSpec, SearchSpace};
use crate::trial::Trial;

/// One decision of an architecture: a name (the trial parameter) and its choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Parameter name, e.g. `edge_2_1`.
    pub name: String,
    /// The possible values, e.g. operation names.
    pub choices: Vec<String>,
}

impl Decision {
    /// A decision named `name` among `choices`.
    pub fn new(name: impl Into<String>, choices: &[impl AsRef<str>]) -> Self {
        Decision {
            name: name.into(),
            choices: choices.iter().map(|c| c.as_ref().to_string()).collect(),
        }
    }
}

/// An architecture: the index of the chosen value of every decision, in decision order.
pub type Choices = Vec<usize>;

/// A space of architectures. See the module documentation.
pub trait ArchitectureSpace: Send + Sync + std::fmt::Debug {
    /// The decisions, in the order a controller emits them.
    fn decisions(&self) -> &[Decision];

    /// The canonical string form of `arch`.
    fn format(&self, arch: &[usize]) -> String;

    /// Parses a canonical string (the inverse of [`ArchitectureSpace::format`]).
    fn parse(&self, text: &str) -> Result<Choices>;

    /// A key equal for architectures that compute the same function. Default: the string form.
    fn identity(&self, arch: &[usize]) -> String {
        self.format(arch)
    }

    /// The decisions as a search space of categorical parameters.
    fn search_space(&self) -> SearchSpace {
        let params = self
            .decisions()
            .iter()
            .map(|d| ParamSpec {
                name: d.name.clone(),
                distribution: Distribution::categorical(d.choices.iter().map(String::as_str)),
                conditions: Vec::new(),
            })
            .collect();
        // Names are unique and distributions valid by construction of every space.
        SearchSpace::new(params).unwrap_or_default()
    }

    /// The architecture held in a trial's parameters.
    fn arch_of(&self, params: &IndexMap<String, ParamValue>) -> Result<Choices> {
        self.decisions()
            .iter()
            .map(|d| {
                let v = params.get(&d.name).ok_or_else(|| {
                    Error::invalid(format!("the architecture decision '{}' is missing", d.name))
                })?;
                let s = v.as_str().ok_or_else(|| {
                    Error::invalid(format!("decision '{}' has non-text value {v}", d.name))
                })?;
                d.choices.iter().position(|c| c == s).ok_or_else(|| {
                    Error::invalid(format!(
                        "'{s}' is not a choice of '{}' ({})",
                        d.name,
                        d.choices.join(", ")
                    ))
                })
            })
            .collect()
    }

    /// The trial parameters of `arch`.
    fn params_of(&self, arch: &[usize]) -> IndexMap<String, ParamValue> {
        self.decisions()
            .iter()
            .zip(arch)
            .map(|(d, &i)| (d.name.clone(), ParamValue::Str(d.choices[i].clone())))
            .collect()
    }

    /// Suggests every decision on `trial` and returns the architecture.
    fn suggest(&self, trial: &mut Trial) -> Result<Choices> {
        let mut arch = Vec::with_capacity(self.decisions().len());
        for d in self.decisions() {
            let v = trial.suggest_categorical(&d.name, &d.choices)?;
            arch.push(d.choices.iter().position(|c| *c == v).unwrap_or(0));
        }
        Ok(arch)
    }

    /// The architecture with exactly one decision changed to another of its choices
    /// (decisions with a single choice are never picked).
    fn mutate(&self, arch: &[usize], rng: &mut dyn rand::RngCore) -> Choices {
        let mutable: Vec<usize> = (0..arch.len())
            .filter(|&i| self.decisions()[i].choices.len() > 1)
            .collect();
        let mut child = arch.to_vec();
        if mutable.is_empty() {
            return child;
        }
        let i = mutable[rng.random_range(0..mutable.len())];
        let k = self.decisions()[i].choices.len();
        let shift = rng.random_range(1..k);
        child[i] = (arch[i] + shift) % k;
        child
    }

    /// Every architecture that differs from `arch` in exactly one decision.
    fn neighbours(&self, arch: &[usize]) -> Vec<Choices> {
        let mut out = Vec::new();
        for (i, d) in self.decisions().iter().enumerate() {
            for k in 0..d.choices.len() {
                if k != arch[i] {
                    let mut n = arch.to_vec();
                    n[i] = k;
                    out.push(n);
                }
            }
        }
        out
    }

    /// A uniformly random architecture.
    fn random(&self, rng: &mut dyn rand::RngCore) -> Choices {
        self.decisions()
            .iter()
            .map(|d| rng.random_range(0..d.choices.len()))
            .collect()
    }

    /// The number of architectures (decision products), saturating.
    fn size(&self) -> u64 {
        self.decisions()
            .iter()
            .fold(1u64, |n, d| n.saturating_mul(d.choices.len() as u64))
    }
}

/// The decisions of `space` as the relative search space of an architecture sampler.
pub(crate) fn relative_space(space: &dyn ArchitectureSpace) -> IndexMap<String, Distribution> {
    space
        .search_space()
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.distribution.clone()))
        .collect()
}

/// `arch` as a sampler's relative proposal (the choice indices, the categorical internal
/// representation), for the decisions in `keep`.
pub(crate) fn proposal(
    space: &dyn ArchitectureSpace,
    arch: &[usize],
    keep: &IndexMap<String, Distribution>,
) -> IndexMap<String, f64> {
    space
        .decisions()
        .iter()
        .zip(arch)
        .filter(|(d, _)| keep.contains_key(&d.name))
        .map(|(d, &k)| (d.name.clone(), k as f64))
        .collect()
}

/// Checks that a list of decisions is usable: at least one, unique non-empty names, each with
/// at least one choice and no repeated choice.
pub(crate) fn validate_decisions(decisions: &[Decision]) -> Result<()> {
    if decisions.is_empty() {
        return Err(Error::invalid(
            "an architecture space needs at least one decision",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for d in decisions {
        if d.name.is_empty() {
            return Err(Error::invalid("a decision needs a non-empty name"));
        }
        if !names.insert(d.name.as_str()) {
            return Err(Error::invalid(format!(
                "decision '{}' is declared twice",
                d.name
            )));
        }
        if d.choices.is_empty() {
            return Err(Error::invalid(format!(
                "decision '{}' has no choices",
                d.name
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &d.choices {
            if !seen.insert(c.as_str()) {
                return Err(Error::invalid(format!(
                    "decision '{}' lists '{c}' twice",
                    d.name
                )));
            }
        }
    }
    Ok(())
}
