//! Study files: a whole study declared in TOML (or JSON): its name, objectives, sampler, budget,
//! the command that runs a trial, the search space with conditions, and baselines to run first.
//!
//! ```toml
//! [study]
//! name = "digits-mlp"
//! direction = "maximize"          # or directions = ["maximize", "minimize"]
//! metric = "val_accuracy"         # or metrics = [...], one per direction
//! sampler = "auto"                # the default; see the README for the others
//! seed = 7
//! trials = 40                     # total for the study; a re-run continues up to it
//! jobs = 2                        # trials in parallel
//! heartbeat_interval = 10         # seconds between heartbeats of a running trial
//! heartbeat_grace = 60            # silence after which its worker counts as dead
//! retries = 1                     # re-runs of a trial whose worker died
//!
//! [command]
//! run = "digits-mlp --lr {lr} --hidden {hidden} --optimizer {optimizer} --momentum={momentum}"
//! timeout = 120                   # seconds per trial
//!
//! [params.lr]
//! type = "float"
//! low = 1e-4
//! high = 0.5
//! log = true
//!
//! [params.optimizer]
//! type = "categorical"
//! choices = ["sgd", "adam"]
//!
//! [params.momentum]
//! type = "float"
//! low = 0.85
//! high = 0.98
//! condition = { optimizer = "sgd" }
//!
//! [[enqueue]]                     # a known-good baseline, evaluated first
//! lr = 0.05
//! optimizer = "sgd"
//! momentum = 0.9
//! ```

use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::Direction;
use crate::runner::template::Template;
use crate::space::{Condition, ParamSpec, SearchSpace};

/// The samplers a study file can name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SamplerKind {
    /// The default: GP-BO or TPE, chosen from the study's shape and history.
    Auto,
    /// Independent uniform draws.
    Random,
    /// Scrambled Sobol quasi-random points.
    Sobol,
    /// Exhaustive grid over a finite space.
    Grid,
    /// Tree-structured Parzen estimator (multivariate, grouped).
    Tpe,
    /// CMA-ES with IPOP restarts (numeric parameters; categoricals drawn at random).
    CmaEs,
    /// Gaussian-process Bayesian optimisation with log expected improvement.
    Gp,
    /// Random-forest Bayesian optimisation (SMAC style).
    Rf,
    /// Regularized (aging) evolution.
    Evolution,
    /// Simulated annealing.
    Annealing,
    /// Steady-state genetic algorithm.
    Genetic,
    /// BOHB: TPE fitted per budget over Hyperband (needs a `[pruner]` with resources).
    Bohb,
    /// NSGA-II (several objectives).
    Nsga2,
    /// Local search over the `[architecture]` (isomorphism-aware).
    LocalSearch,
    /// REINFORCE with an LSTM controller over the `[architecture]`.
    Reinforce,
}

impl SamplerKind {
    /// Parses a sampler name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "auto" => SamplerKind::Auto,
            "random" => SamplerKind::Random,
            "sobol" | "qmc" | "quasi-random" => SamplerKind::Sobol,
            "grid" => SamplerKind::Grid,
            "tpe" => SamplerKind::Tpe,
            "cmaes" | "cma-es" => SamplerKind::CmaEs,
            "gp" | "bo" => SamplerKind::Gp,
            "rf" | "smac" => SamplerKind::Rf,
            "evolution" | "rea" => SamplerKind::Evolution,
            "annealing" | "sa" => SamplerKind::Annealing,
            "genetic" | "ga" => SamplerKind::Genetic,
            "bohb" => SamplerKind::Bohb,
            "nsga2" | "nsga-ii" => SamplerKind::Nsga2,
            "local-search" | "ls" => SamplerKind::LocalSearch,
            "reinforce" | "rl" => SamplerKind::Reinforce,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SamplerKind::Auto => "auto",
            SamplerKind::Random => "random",
            SamplerKind::Sobol => "sobol",
            SamplerKind::Grid => "grid",
            SamplerKind::Tpe => "tpe",
            SamplerKind::CmaEs => "cmaes",
            SamplerKind::Gp => "gp",
            SamplerKind::Rf => "rf",
            SamplerKind::Evolution => "evolution",
            SamplerKind::Annealing => "annealing",
            SamplerKind::Genetic => "genetic",
            SamplerKind::Bohb => "bohb",
            SamplerKind::Nsga2 => "nsga2",
            SamplerKind::LocalSearch => "local-search",
            SamplerKind::Reinforce => "reinforce",
        }
    }
}

/// Which early-stopping rule a study uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PrunerKind {
    /// Never stop early.
    None,
    /// Median stopping (Golovin et al. 2017).
    Median,
    /// Percentile stopping.
    Percentile,
    /// Asynchronous successive halving.
    Asha,
    /// Hyperband (asynchronous brackets of ASHA).
    Hyperband,
    /// Learning-curve extrapolation (Domhan et al. 2015).
    Curve,
}

/// The `[pruner]` section: the rule, the metric that drives it, and the fidelity resource.
#[derive(Clone, Debug, PartialEq)]
pub struct PrunerSpec {
    /// The rule.
    pub kind: PrunerKind,
    /// The metric that drives pruning (default: the study's first metric).
    pub metric: String,
    /// Its direction (default: the direction of that objective).
    pub direction: crate::record::Direction,
    /// What the resource counts (`resource = "epoch"`): `{epoch}` in the command means
    /// `{budget}`, the trial gets `TUNEFORGE_RESOURCE=epoch`, and reports name their steps so.
    /// None: plain steps.
    pub resource: Option<String>,
    /// The resource of the first rung (ASHA, Hyperband, BOHB).
    pub min_resource: u64,
    /// The full resource a trial runs to (`{budget}` in the command).
    pub max_resource: Option<u64>,
    /// Reduction factor η.
    pub reduction_factor: u64,
    /// Steps never pruned at the start of a trial (median, percentile).
    pub warmup_steps: u64,
    /// Completed trials before pruning starts (median, percentile).
    pub startup_trials: usize,
    /// The percentile (percentile pruner).
    pub percentile: f64,
    /// δ of curve extrapolation.
    pub threshold: f64,
    /// `promote`: trials run to rung budgets and the best 1/η are continued by new trials
    /// (ASHA's promotions, or Hyperband's synchronous brackets, resuming from the previous
    /// trial's directory) instead of running trials being stopped.
    pub promote: bool,
    /// Hyperband: how many of its brackets run, most exploratory first (None: all; 1:
    /// successive halving on Hyperband's budgets only).
    pub brackets: Option<usize>,
    /// ASHA: rungs anchored at the maximum resource (R·η^(−k), Hyperband's budgets) instead
    /// of at the minimum (r·η^k). Hyperband's are always anchored at the maximum.
    pub anchor_max: bool,
    /// ASHA with `schedule = "promote"`: until a trial has the full resource, once N
    /// configurations have results at the bottom rung, the leader at the highest rung reached
    /// runs on rung by rung without waiting for the rungs to fill, so a full-budget result
    /// comes early
    /// ([`crate::sampler::AshaScheduler::first_full_after`]).
    pub first_full_after: Option<usize>,
}

impl PrunerSpec {
    /// What a step of the resource is called: its declared name, else "step".
    pub fn resource_name(&self) -> &str {
        self.resource.as_deref().unwrap_or("step")
    }

    /// Under `schedule = "promote"`, the sampler that hands out budgets and promotions,
    /// wrapping the one that proposes new configurations.
    pub fn scheduler(
        &self,
        inner: std::sync::Arc<dyn crate::sampler::Sampler>,
    ) -> std::sync::Arc<dyn crate::sampler::Sampler> {
        if !self.promote {
            return inner;
        }
        let max = self.max_resource.unwrap_or(self.min_resource);
        let target = crate::pruner::Target::new(self.metric.clone(), self.direction);
        if self.kind == PrunerKind::Hyperband {
            return std::sync::Arc::new(
                crate::sampler::HyperbandScheduler::new(
                    inner,
                    self.min_resource,
                    max,
                    self.reduction_factor,
                )
                .max_brackets(self.brackets.unwrap_or(usize::MAX))
                .target(target),
            );
        }
        let mut asha = crate::sampler::AshaScheduler::new(
            inner,
            self.min_resource,
            max,
            self.reduction_factor,
        )
        .budgets_at(self.budgets())
        .target(target);
        if let Some(n) = self.first_full_after {
            asha = asha.first_full_after(n);
        }
        std::sync::Arc::new(asha)
    }

    /// The resources at which this schedule judges trials, and the full resource: the budgets
    /// a BOHB sampler fits its models at. Hyperband's rungs are R·η^(−k), and so are ASHA's
    /// with `anchor = "max"`; every other schedule's are ASHA's r·η^k.
    pub fn budgets(&self) -> Vec<u64> {
        let max = self.max_resource.unwrap_or(self.min_resource);
        if self.kind == PrunerKind::Hyperband || self.anchor_max {
            return crate::pruner::hyperband_budgets(self.min_resource, max, self.reduction_factor);
        }
        crate::pruner::asha_budgets(self.min_resource, max, self.reduction_factor)
    }

    /// The pruner this section declares.
    pub fn build(&self) -> std::sync::Arc<dyn crate::pruner::Pruner> {
        use crate::pruner::*;
        let target = Target::new(self.metric.clone(), self.direction);
        let max = self.max_resource.unwrap_or(u64::MAX);
        if self.promote {
            // Trials are not stopped: the schedule decides their budgets (see `scheduler`).
            return std::sync::Arc::new(NopPruner);
        }
        match self.kind {
            PrunerKind::None => std::sync::Arc::new(NopPruner),
            PrunerKind::Median | PrunerKind::Percentile => std::sync::Arc::new(
                PercentilePruner::percentile(if self.kind == PrunerKind::Median {
                    50.0
                } else {
                    self.percentile
                })
                .warmup_steps(self.warmup_steps)
                .startup_trials(self.startup_trials)
                .target(target),
            ),
            // ASHA on Hyperband's budgets is Hyperband's most exploratory bracket alone.
            PrunerKind::Asha if self.anchor_max => std::sync::Arc::new(
                HyperbandPruner::new(self.min_resource, max, self.reduction_factor)
                    .max_brackets(1)
                    .target(target),
            ),
            PrunerKind::Asha => std::sync::Arc::new(
                AshaPruner::new(self.min_resource, max, self.reduction_factor).target(target),
            ),
            PrunerKind::Hyperband => std::sync::Arc::new(
                HyperbandPruner::new(self.min_resource, max, self.reduction_factor)
                    .max_brackets(self.brackets.unwrap_or(usize::MAX))
                    .target(target),
            ),
            PrunerKind::Curve => std::sync::Arc::new(
                CurveExtrapolationPruner::new(max)
                    .threshold(self.threshold)
                    .target(target),
            ),
        }
    }
}

/// How a trial's command runs.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandSpec {
    /// The command template, one entry per argument.
    pub template: Template,
    /// The resource each trial runs to (`{budget}`, `TUNEFORGE_BUDGET`), from `[pruner]`.
    pub budget: Option<u64>,
    /// The resource's name (`TUNEFORGE_RESOURCE`), from `[pruner]`, when declared.
    pub resource: Option<String>,
    /// Seconds before a trial is stopped and failed.
    pub timeout_s: Option<f64>,
    /// Seconds between asking a process to stop (SIGTERM) and killing it (SIGKILL).
    pub grace_s: f64,
    /// Directory under which each trial gets its own working directory.
    pub workdir: PathBuf,
    /// Directory the command runs in (the study file's directory).
    pub cwd: PathBuf,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// The architecture space, for `{arch}` (the canonical string).
    pub architecture: Option<ArchitectureSpec>,
}

/// Settings of the model-based samplers (`[sampler]`), each applying to the samplers named in
/// its documentation; a setting the chosen sampler does not have is refused.
///
/// ```toml
/// [sampler]               # BOHB with the settings of Falkner et al. 2018's experiments
/// gamma = 0.15
/// candidates = 64
/// min_points = 8          # d + 1 for d = 7 parameters
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SamplerSettings {
    /// tpe, bohb: the fraction of observations that make the "good" density, in [0.01, 0.99].
    pub gamma: Option<f64>,
    /// tpe, bohb: candidates drawn from the good density per proposal (at least 1).
    pub candidates: Option<usize>,
    /// tpe: complete trials before the model is used.
    pub startup_trials: Option<usize>,
    /// bohb: observations a budget needs before its model proposes (at least 2).
    pub min_points: Option<usize>,
    /// bohb: the fraction of configurations drawn at random, in [0, 1].
    pub random_fraction: Option<f64>,
    /// bohb: the smallest budget that gets a model (at least 1, at most the largest budget).
    pub min_model_budget: Option<u64>,
    /// tpe, bohb: candidates are drawn with every numeric kernel of the good density this many
    /// times as wide (BOHB's b_w; above 0).
    pub bandwidth_factor: Option<f64>,
    /// bohb: b_w for the models of the budgets below the full one (above 0).
    pub low_budget_bandwidth_factor: Option<f64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSampler {
    gamma: Option<f64>,
    candidates: Option<i64>,
    startup_trials: Option<i64>,
    min_points: Option<i64>,
    random_fraction: Option<f64>,
    min_model_budget: Option<i64>,
    bandwidth_factor: Option<f64>,
    low_budget_bandwidth_factor: Option<f64>,
}

impl SamplerSettings {
    /// Checks each setting's range and that `kind` has it.
    fn parse(raw: RawSampler, kind: &SamplerKind) -> std::result::Result<Self, String> {
        let name = kind.as_str();
        let has = |setting: &str, samplers: &[SamplerKind]| {
            if samplers.contains(kind) {
                Ok(())
            } else {
                Err(format!(
                    "`{setting}` is not a setting of sampler \"{name}\" (it applies to {})",
                    samplers
                        .iter()
                        .map(|k| format!("\"{}\"", k.as_str()))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ))
            }
        };
        let count = |setting: &str, v: Option<i64>, min: i64, samplers: &[SamplerKind]| match v {
            None => Ok(None),
            Some(n) => {
                has(setting, samplers)?;
                if n < min {
                    Err(format!("{setting} must be at least {min} ({n})"))
                } else {
                    Ok(Some(n as usize))
                }
            }
        };
        let tpe_like = [SamplerKind::Tpe, SamplerKind::Bohb];
        if let Some(g) = raw.gamma {
            has("gamma", &tpe_like)?;
            if !(0.01..=0.99).contains(&g) {
                return Err(format!("gamma must be between 0.01 and 0.99 ({g})"));
            }
        }
        if let Some(r) = raw.random_fraction {
            has("random_fraction", &[SamplerKind::Bohb])?;
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("random_fraction must be between 0 and 1 ({r})"));
            }
        }
        let positive = |setting: &str, v: Option<f64>, samplers: &[SamplerKind]| match v {
            Some(b) => {
                has(setting, samplers)?;
                if b.is_finite() && b > 0.0 {
                    Ok(())
                } else {
                    Err(format!("{setting} must be above 0 ({b})"))
                }
            }
            None => Ok(()),
        };
        positive("bandwidth_factor", raw.bandwidth_factor, &tpe_like)?;
        positive(
            "low_budget_bandwidth_factor",
            raw.low_budget_bandwidth_factor,
            &[SamplerKind::Bohb],
        )?;
        Ok(SamplerSettings {
            gamma: raw.gamma,
            bandwidth_factor: raw.bandwidth_factor,
            low_budget_bandwidth_factor: raw.low_budget_bandwidth_factor,
            candidates: count("candidates", raw.candidates, 1, &tpe_like)?,
            startup_trials: count("startup_trials", raw.startup_trials, 0, &[SamplerKind::Tpe])?,
            min_points: count("min_points", raw.min_points, 2, &[SamplerKind::Bohb])?,
            random_fraction: raw.random_fraction,
            min_model_budget: count(
                "min_model_budget",
                raw.min_model_budget,
                1,
                &[SamplerKind::Bohb],
            )?
            .map(|n| n as u64),
        })
    }

    /// `config` with these settings applied.
    fn tpe(&self, mut config: crate::sampler::TpeConfig) -> crate::sampler::TpeConfig {
        if let Some(g) = self.gamma {
            config.gamma_fraction = g;
        }
        if let Some(c) = self.candidates {
            config.n_ei_candidates = c;
        }
        if let Some(n) = self.startup_trials {
            config.n_startup_trials = n;
        }
        if let Some(b) = self.bandwidth_factor {
            config.bandwidth_factor = b;
        }
        config
    }

    /// `bohb` with these settings applied.
    fn bohb(&self, mut bohb: crate::sampler::BohbSampler) -> crate::sampler::BohbSampler {
        if let Some(g) = self.gamma {
            bohb = bohb.gamma(g);
        }
        if let Some(c) = self.candidates {
            bohb = bohb.candidates(c);
        }
        if let Some(n) = self.min_points {
            bohb = bohb.min_points(n);
        }
        if let Some(r) = self.random_fraction {
            bohb = bohb.random_fraction(r);
        }
        if let Some(b) = self.bandwidth_factor {
            bohb = bohb.bandwidth_factor(b);
        }
        if let Some(b) = self.low_budget_bandwidth_factor {
            bohb = bohb.low_budget_bandwidth_factor(b);
        }
        if let Some(b) = self.min_model_budget {
            bohb = bohb.min_model_budget(b);
        }
        bohb
    }
}

/// A parsed, validated study file.
#[derive(Clone, Debug)]
pub struct StudyFile {
    /// The file it came from.
    pub path: PathBuf,
    /// Its text, as read (stored with the study).
    pub text: String,
    /// Study name.
    pub name: String,
    /// One per objective.
    pub directions: Vec<Direction>,
    /// The metric names that are the objectives, one per direction.
    pub metrics: Vec<String>,
    /// The sampler.
    pub sampler: SamplerKind,
    /// The sampler's settings (`[sampler]`); unset ones keep the sampler's defaults.
    pub sampler_settings: SamplerSettings,
    /// Study seed.
    pub seed: Option<u64>,
    /// Total trials for the study.
    pub trials: Option<u64>,
    /// Wall-clock budget in seconds for one `run`.
    pub timeout_s: Option<f64>,
    /// Trials in parallel.
    pub jobs: usize,
    /// Storage URL, when the file names one (relative SQLite paths are relative to the file).
    pub storage: Option<String>,
    /// Heartbeats of running trials and retries of trials whose worker died.
    pub liveness: crate::liveness::Liveness,
    /// Early stopping and the fidelity resource (`[pruner]`), when declared.
    pub pruner: Option<PrunerSpec>,
    /// The trial command, when the study runs one.
    pub command: Option<CommandSpec>,
    /// The search space.
    pub space: SearchSpace,
    /// Baseline configurations to evaluate first.
    pub enqueue: Vec<IndexMap<String, ParamValue>>,
    /// The architecture space (`[architecture]`), whose decisions are part of `space`.
    pub architecture: Option<ArchitectureSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    study: RawStudy,
    sampler: Option<RawSampler>,
    command: Option<RawCommand>,
    pruner: Option<RawPruner>,
    architecture: Option<RawArchitecture>,
    #[serde(default)]
    params: IndexMap<String, toml::Value>,
    #[serde(default)]
    enqueue: Vec<IndexMap<String, toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStudy {
    name: String,
    direction: Option<String>,
    directions: Option<Vec<String>>,
    metric: Option<String>,
    metrics: Option<Vec<String>>,
    sampler: Option<String>,
    seed: Option<i64>,
    trials: Option<i64>,
    timeout: Option<f64>,
    jobs: Option<i64>,
    storage: Option<String>,
    heartbeat_interval: Option<f64>,
    heartbeat_grace: Option<f64>,
    retries: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    run: toml::Value,
    timeout: Option<f64>,
    grace: Option<f64>,
    workdir: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPruner {
    #[serde(rename = "type")]
    kind: String,
    metric: Option<String>,
    direction: Option<String>,
    resource: Option<String>,
    min_resource: Option<i64>,
    max_resource: Option<i64>,
    reduction_factor: Option<i64>,
    warmup_steps: Option<i64>,
    startup_trials: Option<i64>,
    percentile: Option<f64>,
    threshold: Option<f64>,
    schedule: Option<String>,
    brackets: Option<i64>,
    anchor: Option<String>,
    first_full_after: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArchitecture {
    #[serde(rename = "type")]
    kind: String,
    nodes: Option<i64>,
    layers: Option<i64>,
    ops: Option<Vec<toml::Value>>,
    #[serde(default)]
    options: IndexMap<String, Vec<toml::Value>>,
    #[serde(default)]
    decisions: IndexMap<String, Vec<toml::Value>>,
}

/// An architecture space declared in a study file (`[architecture]`).
#[derive(Clone, Debug, PartialEq)]
pub enum ArchitectureSpec {
    /// `type = "cell"`: a DAG cell of `nodes` nodes whose edges choose among `ops`.
    Cell {
        /// Nodes, input and output included.
        nodes: usize,
        /// Operations (`none` is the zero operation, `skip_connect` the identity).
        ops: Vec<String>,
    },
    /// `type = "chain"`: `layers` layers, each an operator (`skip` = identity) and options.
    Chain {
        /// Layers.
        layers: usize,
        /// Operators.
        ops: Vec<String>,
        /// Per-layer options and their values.
        options: Vec<(String, Vec<String>)>,
    },
    /// `type = "decisions"`: named choices.
    Decisions(Vec<crate::nas::Decision>),
}

impl ArchitectureSpec {
    /// Builds the space.
    pub fn build(&self) -> Result<std::sync::Arc<dyn crate::nas::ArchitectureSpace>> {
        use crate::nas::{CellSpace, ChainSpace, DecisionSpace};
        Ok(match self {
            ArchitectureSpec::Cell { nodes, ops } => {
                std::sync::Arc::new(CellSpace::new(*nodes, ops)?)
            }
            ArchitectureSpec::Chain {
                layers,
                ops,
                options,
            } => std::sync::Arc::new(ChainSpace::new(*layers, ops, options)?),
            ArchitectureSpec::Decisions(d) => std::sync::Arc::new(DecisionSpace::new(d.clone())?),
        })
    }
}

/// The declared space, and the space built from it (which validates it).
fn parse_architecture(
    a: RawArchitecture,
) -> std::result::Result<
    (
        ArchitectureSpec,
        std::sync::Arc<dyn crate::nas::ArchitectureSpace>,
    ),
    String,
> {
    let text = |v: &toml::Value| -> std::result::Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            other => Err(format!(
                "a choice must be a string or a number, not {other}"
            )),
        }
    };
    let list = |vs: &[toml::Value]| {
        vs.iter()
            .map(text)
            .collect::<std::result::Result<Vec<_>, _>>()
    };
    let count = |v: Option<i64>, what: &str| -> std::result::Result<usize, String> {
        match v {
            Some(n) if n > 0 => Ok(n as usize),
            Some(n) => Err(format!("{what} must be positive ({n})")),
            None => Err(format!("type \"{}\" needs `{what}`", a.kind)),
        }
    };
    let spec = match a.kind.as_str() {
        "cell" => ArchitectureSpec::Cell {
            nodes: count(a.nodes.or(Some(4)), "nodes")?,
            ops: match &a.ops {
                Some(o) => list(o)?,
                None => crate::nas::cell::NAS_BENCH_201_OPS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            },
        },
        "chain" => ArchitectureSpec::Chain {
            layers: count(a.layers, "layers")?,
            ops: list(a.ops.as_deref().ok_or("type \"chain\" needs `ops`")?)?,
            options: a
                .options
                .iter()
                .map(|(k, vs)| Ok((k.clone(), list(vs)?)))
                .collect::<std::result::Result<_, String>>()?,
        },
        "decisions" => ArchitectureSpec::Decisions(
            a.decisions
                .iter()
                .map(|(k, vs)| Ok(crate::nas::Decision::new(k.clone(), &list(vs)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        other => {
            return Err(format!(
                "type '{other}' is not known: use cell, chain or decisions"
            ));
        }
    };
    let built = spec.build().map_err(|e| e.to_string())?;
    Ok((spec, built))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "type")]
    kind: String,
    low: Option<toml::Value>,
    high: Option<toml::Value>,
    log: Option<bool>,
    step: Option<toml::Value>,
    choices: Option<Vec<toml::Value>>,
    condition: Option<IndexMap<String, toml::Value>>,
}

impl StudyFile {
    /// The study file a study was created from, parsed again from the text stored with it
    /// (`None` for a study not created from a study file).
    pub fn of_record(record: &crate::record::StudyRecord) -> Option<StudyFile> {
        let text = record.attrs.get(crate::attrs::STUDY_FILE)?.as_str()?;
        let path = record
            .attrs
            .get(crate::attrs::STUDY_FILE_PATH)
            .and_then(|v| v.as_str())
            .unwrap_or("study.toml");
        Self::parse(Path::new(path), text).ok()
    }

    /// Reads and validates a study file (`.toml` or `.json`).
    pub fn load(path: &Path) -> Result<StudyFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses study-file text; `path` names the file in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<StudyFile> {
        let err = |message: String| Error::StudyFile {
            path: path.to_path_buf(),
            message,
        };
        let is_json = path.extension().is_some_and(|e| e == "json");
        let raw: RawFile = if is_json {
            serde_json::from_str(text).map_err(|e| err(format!("invalid JSON: {e}")))?
        } else {
            toml::from_str(text).map_err(|e| err(format_toml_error(text, &e)))?
        };
        let line_of = |name: &str| param_line(text, name).map(|l| format!(" (line {l})"));
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();

        let s = raw.study;
        if s.name.trim().is_empty() {
            return Err(err("[study] name must not be empty".into()));
        }
        let dir_names = match (s.direction, s.directions) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "give either `direction` or `directions`, not both".into()
                ));
            }
            (Some(d), None) => vec![d],
            (None, Some(ds)) if !ds.is_empty() => ds,
            (None, Some(_)) => return Err(err("`directions` must not be empty".into())),
            (None, None) => vec!["minimize".to_string()],
        };
        let directions = dir_names
            .iter()
            .map(|d| {
                Direction::parse(d).ok_or_else(|| {
                    err(format!(
                        "direction '{d}' is not understood: use minimize or maximize"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let metrics = match (s.metric, s.metrics) {
            (Some(_), Some(_)) => {
                return Err(err("give either `metric` or `metrics`, not both".into()));
            }
            (Some(m), None) => vec![m],
            (None, Some(ms)) => ms,
            (None, None) if directions.len() == 1 => vec!["objective".to_string()],
            (None, None) => (0..directions.len())
                .map(|i| format!("objective_{i}"))
                .collect(),
        };
        if metrics.len() != directions.len() {
            return Err(err(format!(
                "{} metric(s) for {} direction(s): give one metric per direction",
                metrics.len(),
                directions.len()
            )));
        }
        let sampler = match s.sampler.as_deref() {
            None => SamplerKind::Auto,
            Some(name) => SamplerKind::parse(name).ok_or_else(|| {
                err(format!(
                    "sampler '{name}' is not known: use auto, random, sobol, grid, tpe, cmaes, gp, rf, evolution, annealing, genetic, bohb, nsga2, local-search or reinforce"
                ))
            })?,
        };
        let sampler_settings = SamplerSettings::parse(raw.sampler.unwrap_or_default(), &sampler)
            .map_err(|m| err(format!("[sampler] {m}")))?;
        let nonneg = |v: Option<i64>, what: &str| -> Result<Option<u64>> {
            match v {
                Some(x) if x < 0 => Err(err(format!("[study] {what} must not be negative ({x})"))),
                Some(x) => Ok(Some(x as u64)),
                None => Ok(None),
            }
        };
        let seed = nonneg(s.seed, "seed")?;
        let trials = nonneg(s.trials, "trials")?;
        let jobs = nonneg(s.jobs, "jobs")?.unwrap_or(1).max(1) as usize;
        if let Some(t) = s.timeout
            && !(t.is_finite() && t > 0.0)
        {
            return Err(err(format!(
                "[study] timeout must be a positive number of seconds ({t})"
            )));
        }

        let mut liveness = crate::liveness::Liveness::default();
        for (what, v, slot) in [
            (
                "heartbeat_interval",
                s.heartbeat_interval,
                &mut liveness.interval,
            ),
            ("heartbeat_grace", s.heartbeat_grace, &mut liveness.grace),
        ] {
            if let Some(x) = v {
                if !(x.is_finite() && x > 0.0) {
                    return Err(err(format!(
                        "[study] {what} must be a positive number of seconds ({x})"
                    )));
                }
                *slot = std::time::Duration::from_secs_f64(x);
            }
        }
        if let Some(r) = nonneg(s.retries, "retries")? {
            liveness.max_retries = r.min(u32::MAX as u64) as u32;
        }
        liveness
            .validate()
            .map_err(|e| err(format!("[study] {e}")))?;

        // ---- the space
        let mut specs = Vec::new();
        for (name, value) in &raw.params {
            let at = line_of(name).unwrap_or_default();
            let perr = |m: String| err(format!("parameter '{name}'{at}: {m}"));
            let rp: RawParam = value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| perr(e.message().to_string()))?;
            let dist = to_distribution(&rp).map_err(perr)?;
            dist.validate().map_err(|e| perr(e.to_string()))?;
            let mut conditions = Vec::new();
            for (parent, v) in rp.condition.iter().flatten() {
                let values = match v {
                    toml::Value::Array(a) => a.iter().map(scalar).collect::<Result<Vec<_>, _>>(),
                    other => scalar(other).map(|x| vec![x]),
                }
                .map_err(|m| perr(format!("condition on '{parent}': {m}")))?;
                conditions.push(Condition {
                    param: parent.clone(),
                    values,
                });
            }
            specs.push(ParamSpec {
                name: name.clone(),
                distribution: dist,
                conditions,
            });
        }
        let (architecture, built_architecture) = match raw.architecture {
            None => (None, None),
            Some(a) => {
                let (spec, built) =
                    parse_architecture(a).map_err(|m| err(format!("[architecture] {m}")))?;
                (Some(spec), Some(built))
            }
        };
        if let Some(built) = &built_architecture {
            for d in built.decisions() {
                if specs.iter().any(|p| p.name == d.name) {
                    return Err(err(format!(
                        "parameter '{}' is also a decision of the [architecture]: rename it",
                        d.name
                    )));
                }
            }
            specs.extend(built.search_space().params().iter().cloned());
        }
        if matches!(sampler, SamplerKind::LocalSearch | SamplerKind::Reinforce)
            && architecture.is_none()
        {
            return Err(err(format!(
                "sampler \"{}\" searches an architecture: declare it in an [architecture] table",
                sampler.as_str()
            )));
        }
        let space = SearchSpace::new(specs).map_err(|e| {
            let msg = e.to_string();
            let at = raw
                .params
                .keys()
                .find(|n| msg.starts_with(&format!("parameter '{n}'")))
                .and_then(|n| line_of(n))
                .unwrap_or_default();
            err(format!("{msg}{at}"))
        })?;

        // ---- baselines
        let mut enqueue = Vec::new();
        for (i, raw_cfg) in raw.enqueue.iter().enumerate() {
            let mut cfg = IndexMap::new();
            for (k, v) in raw_cfg {
                let pv =
                    scalar(v).map_err(|m| err(format!("[[enqueue]] #{}: '{k}': {m}", i + 1)))?;
                cfg.insert(k.clone(), pv);
            }
            space
                .check(&cfg)
                .map_err(|e| err(format!("[[enqueue]] #{}: {e}", i + 1)))?;
            enqueue.push(cfg);
        }

        let param_names: Vec<&str> = space.params().iter().map(|p| p.name.as_str()).collect();
        let pruner = match raw.pruner {
            None => None,
            Some(p) => Some(
                parse_pruner(p, &metrics, &directions, &param_names)
                    .map_err(|m| err(format!("[pruner] {m}")))?,
            ),
        };

        // ---- the command
        let command = match raw.command {
            None => None,
            Some(c) => {
                let args: Vec<String> = match &c.run {
                    toml::Value::String(s) => shlex::split(s)
                        .ok_or_else(|| err("[command] run has unbalanced quotes".to_string()))?,
                    toml::Value::Array(a) => a
                        .iter()
                        .map(|v| match v {
                            toml::Value::String(s) => Ok(s.clone()),
                            other => Err(err(format!(
                                "[command] run: every argument must be a string, not {other}"
                            ))),
                        })
                        .collect::<Result<_>>()?,
                    other => {
                        return Err(err(format!(
                            "[command] run must be a string or a list of strings, not {other}"
                        )));
                    }
                };
                if args.is_empty() {
                    return Err(err("[command] run is empty".into()));
                }
                let resource = pruner.as_ref().and_then(|p| p.resource.as_deref());
                let template = Template::parse_with_resource(&args, &param_names, resource)
                    .map_err(|e| err(format!("[command] run: {e}")))?;
                if template.uses("arch") && architecture.is_none() {
                    return Err(err(
                        "[command] run uses {arch}, but the file declares no [architecture]".into(),
                    ));
                }
                for (what, v) in [("timeout", c.timeout), ("grace", c.grace)] {
                    if let Some(t) = v
                        && !(t.is_finite() && t > 0.0)
                    {
                        return Err(err(format!(
                            "[command] {what} must be a positive number of seconds ({t})"
                        )));
                    }
                }
                Some(CommandSpec {
                    template,
                    budget: None,
                    resource: None,
                    timeout_s: c.timeout,
                    grace_s: c.grace.unwrap_or(5.0),
                    workdir: base.join(c.workdir.unwrap_or_else(|| "tuneforge-runs".into())),
                    cwd: base.clone(),
                    env: c.env,
                    architecture: architecture.clone(),
                })
            }
        };
        if sampler == SamplerKind::Bohb
            && !pruner
                .as_ref()
                .is_some_and(|p| matches!(p.kind, PrunerKind::Hyperband | PrunerKind::Asha))
        {
            return Err(err(
                "sampler \"bohb\" needs a [pruner] of type \"hyperband\" (or \"asha\") with \
                 min_resource and max_resource: its models are fitted per budget"
                    .into(),
            ));
        }
        if let (Some(b), Some(top)) = (
            sampler_settings.min_model_budget,
            pruner.as_ref().and_then(|p| p.budgets().last().copied()),
        ) && b > top
        {
            return Err(err(format!(
                "[sampler] min_model_budget ({b}) is above the largest budget ({top}): \
                 no budget would ever be modelled"
            )));
        }
        let mut command = command;
        if let Some(c) = command.as_mut() {
            c.budget = pruner.as_ref().and_then(|p| p.max_resource);
            c.resource = pruner.as_ref().and_then(|p| p.resource.clone());
            if c.template.uses("budget") && c.budget.is_none() {
                let named = c
                    .resource
                    .as_ref()
                    .map(|r| format!(" (or {{{r}}})"))
                    .unwrap_or_default();
                return Err(err(format!(
                    "[command] run uses {{budget}}{named}, but no [pruner] declares max_resource"
                )));
            }
        }
        let storage = s.storage.map(|u| anchor_storage(&u, &base));
        Ok(StudyFile {
            path: path.to_path_buf(),
            text: text.to_string(),
            name: s.name,
            directions,
            metrics,
            sampler,
            sampler_settings,
            seed,
            trials,
            timeout_s: s.timeout,
            jobs,
            storage,
            liveness,
            pruner,
            command,
            space,
            enqueue,
            architecture,
        })
    }

    /// TPE's configuration: the defaults with the `[sampler]` settings.
    pub fn tpe_config(&self) -> crate::sampler::TpeConfig {
        self.sampler_settings
            .tpe(crate::sampler::TpeConfig::default())
    }

    /// The BOHB sampler the file declares: models at the budgets its `[pruner]` judges at, of
    /// the pruner's metric, with the `[sampler]` settings.
    pub fn bohb_sampler(&self, seed: u64) -> Result<crate::sampler::BohbSampler> {
        let p = self
            .pruner
            .as_ref()
            .ok_or_else(|| Error::invalid("sampler \"bohb\" needs a [pruner] with resources"))?;
        Ok(self.sampler_settings.bohb(
            crate::sampler::BohbSampler::with_budgets(p.budgets(), seed)
                .target(crate::pruner::Target::new(p.metric.clone(), p.direction)),
        ))
    }

    /// The storage URL to use: the file's own, else `tuneforge.db` beside the file.
    pub fn storage_url(&self) -> String {
        self.storage.clone().unwrap_or_else(|| {
            let dir = self
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            format!(
                "sqlite://{}",
                crate::storage::default_sqlite_path(dir).display()
            )
        })
    }
}

/// Makes a relative SQLite path in a study file relative to the file's directory.
fn anchor_storage(url: &str, base: &Path) -> String {
    match crate::storage::parse_url(url) {
        Ok(crate::storage::StorageUrl::Sqlite(p)) if p.is_relative() => {
            format!("sqlite://{}", base.join(p).display())
        }
        _ => url.to_string(),
    }
}

fn to_distribution(p: &RawParam) -> std::result::Result<Distribution, String> {
    let no = |field: &str, v: bool| {
        if v {
            Err(format!(
                "`{field}` does not apply to a {} parameter",
                p.kind
            ))
        } else {
            Ok(())
        }
    };
    let need = |v: &Option<toml::Value>, field: &str| {
        v.clone()
            .ok_or_else(|| format!("a {} parameter needs `{field}`", p.kind))
    };
    match p.kind.as_str() {
        "float" | "real" | "uniform" | "loguniform" => {
            no("choices", p.choices.is_some())?;
            let low = number(&need(&p.low, "low")?, "low")?;
            let high = number(&need(&p.high, "high")?, "high")?;
            let step = p.step.as_ref().map(|s| number(s, "step")).transpose()?;
            Ok(Distribution::Float {
                low,
                high,
                log: p.log.unwrap_or(p.kind == "loguniform"),
                step,
            })
        }
        "int" | "integer" => {
            no("choices", p.choices.is_some())?;
            let low = integer(&need(&p.low, "low")?, "low")?;
            let high = integer(&need(&p.high, "high")?, "high")?;
            let step = p.step.as_ref().map(|s| integer(s, "step")).transpose()?;
            Ok(Distribution::Int {
                low,
                high,
                log: p.log.unwrap_or(false),
                step: step.unwrap_or(1),
            })
        }
        "categorical" | "choice" => {
            no("low", p.low.is_some())?;
            no("high", p.high.is_some())?;
            no("step", p.step.is_some())?;
            no("log", p.log.is_some())?;
            let choices = p
                .choices
                .as_ref()
                .ok_or("a categorical parameter needs `choices`")?
                .iter()
                .map(scalar)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Distribution::Categorical { choices })
        }
        other => Err(format!(
            "unknown type '{other}': use float, int or categorical"
        )),
    }
}

fn number(v: &toml::Value, field: &str) -> std::result::Result<f64, String> {
    match v {
        toml::Value::Float(f) => Ok(*f),
        toml::Value::Integer(i) => Ok(*i as f64),
        other => Err(format!("`{field}` must be a number, not {other}")),
    }
}

fn integer(v: &toml::Value, field: &str) -> std::result::Result<i64, String> {
    match v {
        toml::Value::Integer(i) => Ok(*i),
        toml::Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(*f as i64),
        other => Err(format!("`{field}` must be an integer, not {other}")),
    }
}

fn scalar(v: &toml::Value) -> std::result::Result<ParamValue, String> {
    match v {
        toml::Value::String(s) => Ok(ParamValue::Str(s.clone())),
        toml::Value::Integer(i) => Ok(ParamValue::Int(*i)),
        toml::Value::Float(f) => Ok(ParamValue::Float(*f)),
        toml::Value::Boolean(b) => Ok(ParamValue::Bool(*b)),
        other => Err(format!("{other} is not a string, number or boolean")),
    }
}

/// The line declaring parameter `name` (`[params.name]` or `name = {` under `[params]`).
fn param_line(text: &str, name: &str) -> Option<usize> {
    let headers = [format!("[params.{name}]"), format!("[params.\"{name}\"]")];
    let mut in_params = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if headers.iter().any(|h| l.starts_with(h.as_str())) {
            return Some(i + 1);
        }
        if l.starts_with('[') {
            in_params = l == "[params]";
            continue;
        }
        if in_params
            && let Some(rest) = l.strip_prefix(name)
            && rest.trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
        if l.starts_with("\"params\"") || l.starts_with(&format!("\"{name}\"")) {
            // JSON: the key of the parameter object.
            if l.starts_with(&format!("\"{name}\"")) {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Turns a TOML error into one sentence with its line.
fn format_toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message().trim())
        }
        None => e.message().trim().to_string(),
    }
}

fn parse_pruner(
    p: RawPruner,
    metrics: &[String],
    directions: &[crate::record::Direction],
    params: &[&str],
) -> std::result::Result<PrunerSpec, String> {
    use crate::record::Direction;
    let kind = match p.kind.as_str() {
        "none" => PrunerKind::None,
        "median" => PrunerKind::Median,
        "percentile" => PrunerKind::Percentile,
        "asha" | "successive_halving" | "sha" => PrunerKind::Asha,
        "hyperband" => PrunerKind::Hyperband,
        "curve" | "curve_extrapolation" | "lce" => PrunerKind::Curve,
        other => {
            return Err(format!(
                "type '{other}' is not known: use none, median, percentile, asha, hyperband or curve"
            ));
        }
    };
    let metric = p.metric.unwrap_or_else(|| metrics[0].clone());
    let direction = match p.direction.as_deref() {
        Some("minimize") | Some("min") => Direction::Minimize,
        Some("maximize") | Some("max") => Direction::Maximize,
        Some(other) => return Err(format!("direction '{other}' must be minimize or maximize")),
        None => match metrics.iter().position(|m| *m == metric) {
            Some(i) => directions[i],
            None => {
                return Err(format!(
                    "metric '{metric}' is not an objective of the study, so say its direction \
                     (direction = \"minimize\" or \"maximize\")"
                ));
            }
        },
    };
    let pos = |v: Option<i64>, what: &str, default: u64| -> std::result::Result<u64, String> {
        match v {
            None => Ok(default),
            Some(x) if x >= 1 => Ok(x as u64),
            Some(x) => Err(format!("{what} must be at least 1 ({x})")),
        }
    };
    let min_resource = pos(p.min_resource, "min_resource", 1)?;
    let max_resource = match p.max_resource {
        None => None,
        Some(_) => Some(pos(p.max_resource, "max_resource", 1)?),
    };
    if let Some(m) = max_resource
        && m < min_resource
    {
        return Err(format!(
            "max_resource ({m}) must not be below min_resource ({min_resource})"
        ));
    }
    if matches!(kind, PrunerKind::Hyperband | PrunerKind::Curve) && max_resource.is_none() {
        return Err(format!(
            "type '{}' needs max_resource (the resource a full trial runs to)",
            p.kind
        ));
    }
    let reduction_factor = pos(p.reduction_factor, "reduction_factor", 3)?;
    if reduction_factor < 2 {
        return Err("reduction_factor must be at least 2".into());
    }
    let percentile = p.percentile.unwrap_or(25.0);
    if !(percentile > 0.0 && percentile < 100.0) {
        return Err(format!(
            "percentile must be between 0 and 100 ({percentile})"
        ));
    }
    let threshold = p.threshold.unwrap_or(0.05);
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(format!(
            "threshold must be a probability between 0 and 1 ({threshold})"
        ));
    }
    let promote = match p.schedule.as_deref() {
        None | Some("stop") => false,
        Some("promote") if matches!(kind, PrunerKind::Asha | PrunerKind::Hyperband) => true,
        Some("promote") => {
            return Err(format!(
                "schedule \"promote\" works with type \"asha\" or \"hyperband\", not '{}'",
                p.kind
            ));
        }
        Some(other) => {
            return Err(format!(
                "schedule '{other}' must be \"stop\" or \"promote\""
            ));
        }
    };
    if promote && max_resource.is_none() {
        return Err("schedule \"promote\" needs max_resource".into());
    }
    let brackets = match p.brackets {
        None => None,
        Some(_) if kind != PrunerKind::Hyperband => {
            return Err(format!(
                "brackets is a Hyperband setting, not one of type '{}'",
                p.kind
            ));
        }
        Some(n) if n >= 1 => Some(n as usize),
        Some(n) => return Err(format!("brackets must be at least 1 ({n})")),
    };
    if p.anchor.is_some() && kind != PrunerKind::Asha {
        return Err(format!(
            "anchor is an ASHA setting, not one of type '{}'",
            p.kind
        ));
    }
    let anchor_max = match p.anchor.as_deref() {
        None | Some("min") => false,
        Some("max") if max_resource.is_none() => {
            return Err("anchor \"max\" needs max_resource".into());
        }
        Some("max") => true,
        Some(other) => return Err(format!("anchor '{other}' must be \"min\" or \"max\"")),
    };
    let first_full_after = match p.first_full_after {
        None => None,
        Some(_) if !(promote && kind == PrunerKind::Asha) => {
            return Err(
                "first_full_after is a setting of type \"asha\" with schedule \"promote\" \
                 (the stopping schedule already lets its first trials run to the end)"
                    .into(),
            );
        }
        Some(n) if n >= 1 => Some(n as usize),
        Some(n) => return Err(format!("first_full_after must be at least 1 ({n})")),
    };
    let resource = match p.resource {
        None => None,
        Some(name) => {
            let ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!(
                    "resource '{name}' must be a name of letters, digits and '_' (e.g. \"epoch\")"
                ));
            }
            if name != "budget" && crate::runner::template::BUILTINS.contains(&name.as_str()) {
                return Err(format!(
                    "resource '{name}' is a built-in placeholder of the command: choose another name"
                ));
            }
            if params.contains(&name.as_str()) {
                return Err(format!(
                    "resource '{name}' is also a parameter: rename one of them"
                ));
            }
            Some(name)
        }
    };
    Ok(PrunerSpec {
        resource,
        promote,
        brackets,
        anchor_max,
        first_full_after,
        kind,
        metric,
        direction,
        min_resource,
        max_resource,
        reduction_factor,
        warmup_steps: match p.warmup_steps {
            Some(x) if x < 0 => return Err(format!("warmup_steps must not be negative ({x})")),
            Some(x) => x as u64,
            None => 0,
        },
        startup_trials: match p.startup_trials {
            Some(x) if x < 0 => return Err(format!("startup_trials must not be negative ({x})")),
            Some(x) => x as usize,
            None => 5,
        },
        percentile,
        threshold,
    })
}
