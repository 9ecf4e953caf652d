//! One architecture search from data to a retrained network, recorded in a study: load the
//! dataset's fixed splits, search with the chosen method, retrain the found cell from scratch
//! with the shared recipe, measure validation and test accuracy.
//!
//! Every method records into a [`tuneforge::Study`] whose parameters are the cell's decisions,
//! so the dashboard, exports and comparisons work on architecture searches as on any study:
//! - `darts`, `gdas`, `spos`, `enas` (weight sharing): one trial, the retrained cell, with the
//!   retraining curve as intermediate reports and the search's history as user attributes;
//! - `evolution` (regularized evolution), `rl` (REINFORCE controller), `random`: one trial per
//!   candidate, each trained stand-alone for `candidate_epochs`, then the best retrained as a
//!   last trial (user attribute `role = "retrain"`).

use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tuneforge::nas::objectives::MnasNetReward;
use tuneforge::nas::{ArchitectureSpace, CellSpace};
use tuneforge::sampler::{EvolutionConfig, ReinforceConfig, ReinforceSampler};
use tuneforge::{Outcome, RandomSampler, Sampler, Study, Trial};

use crate::darts::{self, DartsConfig, Order};
use crate::data::{Dataset, Splits};
use crate::enas::{self, EnasConfig};
use crate::error::{Error, Result};
use crate::latency::measure_network;
use crate::spos::{self, EvolveConfig};
use crate::supernet::{CellNet, NetConfig};
use crate::train::{
    Classifier, TrainConfig, TrainReport, classifier_accuracy, train_classifier, train_device,
    train_standalone,
};

/// A search method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// DARTS (softmax relaxation).
    Darts,
    /// GDAS (Gumbel-softmax sampling).
    Gdas,
    /// Single-path one-shot supernet with evolution over the one-shot ranking.
    Spos,
    /// ENAS: controller and shared weights trained alternately.
    Enas,
    /// Regularized evolution, each candidate trained briefly.
    Evolution,
    /// REINFORCE controller, each candidate trained briefly.
    Rl,
    /// Random cells, each trained briefly.
    Random,
}

impl Method {
    /// Parses a method name.
    pub fn parse(name: &str) -> Result<Method> {
        Ok(match name {
            "darts" => Method::Darts,
            "gdas" => Method::Gdas,
            "spos" | "one-shot" => Method::Spos,
            "enas" => Method::Enas,
            "evolution" | "regularized-evolution" => Method::Evolution,
            "rl" | "reinforce" => Method::Rl,
            "random" => Method::Random,
            other => {
                return Err(Error::Config(format!(
                    "unknown method '{other}' (darts, gdas, spos, enas, evolution, rl, random)"
                )));
            }
        })
    }

    /// The method's name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Darts => "darts",
            Method::Gdas => "gdas",
            Method::Spos => "spos",
            Method::Enas => "enas",
            Method::Evolution => "evolution",
            Method::Rl => "rl",
            Method::Random => "random",
        }
    }

    /// True for the methods that train one weight-sharing supernet.
    pub fn shares_weights(self) -> bool {
        matches!(
            self,
            Method::Darts | Method::Gdas | Method::Spos | Method::Enas
        )
    }
}

/// Everything a search needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchSpec {
    /// The method.
    pub method: Method,
    /// The dataset.
    pub dataset: String,
    /// Where the dataset lives (see [`Dataset::locate`]).
    pub data_dir: Option<PathBuf>,
    /// Images kept per split (train, validation, test); `None` keeps all.
    pub limits: Option<(usize, usize, usize)>,
    /// Network size (search and retraining).
    pub net: NetConfig,
    /// Epochs of the search (supernet or DARTS epochs).
    pub search_epochs: usize,
    /// The retraining recipe (also the supernet's batch size and learning rate).
    pub retrain: TrainConfig,
    /// DARTS order.
    pub order: Order,
    /// DARTS+ skip guard (`None` disables it).
    pub max_skips: Option<usize>,
    /// Candidates trained by evolution, rl and random; population of SPOS's evolution.
    pub budget: usize,
    /// Epochs each candidate of evolution, rl and random trains.
    pub candidate_epochs: usize,
    /// Latency target (ms, batch 1, this machine) for evolution, rl and random: candidates are
    /// then scored by MnasNet's soft-constrained reward instead of accuracy.
    pub target_latency_ms: Option<f64>,
    /// Seed of everything.
    pub seed: u64,
}

impl Default for SearchSpec {
    fn default() -> Self {
        SearchSpec {
            method: Method::Darts,
            dataset: "fashion-mnist".into(),
            data_dir: None,
            limits: None,
            net: NetConfig::default(),
            search_epochs: 4,
            retrain: TrainConfig::default(),
            order: Order::First,
            max_skips: Some(1),
            budget: 16,
            candidate_epochs: 1,
            target_latency_ms: None,
            seed: 0,
        }
    }
}

/// What a search found and measured (`N`: the retrained network's type).
#[derive(Debug)]
pub struct SearchResult<N = CellNet> {
    /// The method.
    pub method: Method,
    /// The found cell, one operation index per edge.
    pub arch: Vec<usize>,
    /// Its canonical string.
    pub cell: String,
    /// Seconds spent searching (before retraining).
    pub search_seconds: f64,
    /// The retraining run.
    pub retrain: TrainReport,
    /// Validation accuracy after retraining.
    pub valid_accuracy: f64,
    /// Test accuracy after retraining.
    pub test_accuracy: f64,
    /// Method-specific history (α per epoch, rewards, one-shot scores, ...).
    pub details: serde_json::Value,
    /// The retrained network.
    pub net: N,
    /// Number of the trial holding the retrained cell.
    pub trial: u64,
}

/// Loads the spec's dataset, truncated to its limits.
pub fn load_data(spec: &SearchSpec) -> Result<Splits> {
    let splits = Dataset::parse(&spec.dataset)?.load(spec.data_dir.as_deref())?;
    Ok(match spec.limits {
        Some((a, b, c)) => splits.truncate(a, b, c),
        None => splits,
    })
}

/// The sampler a study of `method` should use (the candidate-training methods need theirs;
/// the weight-sharing ones only record).
pub fn sampler_for(
    method: Method,
    space: Arc<dyn ArchitectureSpace>,
    seed: u64,
) -> Arc<dyn Sampler> {
    match method {
        Method::Evolution => Arc::new(
            EvolutionConfig {
                population: 8,
                sample: 3,
            }
            .build(seed),
        ),
        Method::Rl => Arc::new(ReinforceSampler::new(
            space,
            ReinforceConfig::default(),
            seed,
        )),
        _ => Arc::new(RandomSampler::new(seed)),
    }
}

/// Runs the search of `spec` on `splits`, recording into `study` (whose space must be the
/// NAS-Bench-201 cell space's decisions). `log` receives progress lines.
pub fn run(
    spec: &SearchSpec,
    splits: &Splits,
    study: &Study,
    mut log: impl FnMut(&str),
) -> Result<SearchResult> {
    let space = CellSpace::nas_bench_201();
    let mut net_config = spec.net.clone();
    net_config.in_channels = splits.train.channels;
    net_config.classes = splits.train.classes;
    // A cell network's batch-1 latency on this machine, at the data's resolution.
    let resolution = splits.train.height.max(splits.train.width);
    let batch1_latency =
        |arch: &[usize]| measure_network(&space, arch, &net_config, resolution, 1, 3, 15);
    let search_train = TrainConfig {
        epochs: spec.search_epochs.max(1),
        seed: spec.seed,
        ..spec.retrain.clone()
    };
    let start = std::time::Instant::now();
    let (arch, details) = match spec.method {
        Method::Darts | Method::Gdas => {
            let base = if spec.method == Method::Gdas {
                DartsConfig::gdas()
            } else {
                DartsConfig::default()
            };
            let config = DartsConfig {
                epochs: spec.search_epochs.max(1),
                batch_size: spec.retrain.batch_size,
                order: spec.order,
                max_skips: spec.max_skips,
                seed: spec.seed,
                ..base
            };
            let out = darts::search(&space, &net_config, &splits.train, &config, |e| {
                log(&format!(
                    "search epoch {}: weight loss {:.4}, α loss {:.4}, T {:.3}, cell {}",
                    e.epoch + 1,
                    e.train_loss,
                    e.arch_loss,
                    e.temperature,
                    space.format(&e.arch)
                ))
            })?;
            if let Some(why) = &out.stopped_early {
                log(&format!("stopped early: {why}"));
            }
            let details = json!({
                "config": config,
                "epochs": out.epochs,
                "alpha": out.alpha,
                "stopped_early": out.stopped_early,
            });
            (out.arch, details)
        }
        Method::Spos => {
            let net =
                spos::train_supernet(&space, &net_config, &splits.train, &search_train, |e, l| {
                    log(&format!("supernet epoch {}: loss {l:.4}", e + 1))
                })?;
            let evolve = EvolveConfig::with_population(spec.budget, spec.seed);
            let (arch, scored) = spos::evolve(&space, &evolve, |a| {
                Ok(spos::one_shot_accuracy(&net, a, &splits.valid))
            })?;
            log(&format!(
                "evolution scored {} cells with inherited weights; best {}",
                scored.len(),
                space.format(&arch)
            ));
            (arch, one_shot_details(&space, &evolve, &scored))
        }
        Method::Enas => {
            let config = EnasConfig {
                train: search_train.clone(),
                ..Default::default()
            };
            let out = enas::search(
                &space,
                &net_config,
                &splits.train,
                &splits.valid,
                &config,
                |e, l, r| {
                    log(&format!(
                        "epoch {}: shared loss {l:.4}, mean reward {r:.4}",
                        e + 1
                    ))
                },
            )?;
            let finalists: Vec<_> = out
                .finalists
                .iter()
                .map(|(a, s)| json!({"cell": space.format(a), "shared_weight_accuracy": s}))
                .collect();
            (
                out.arch,
                json!({"epoch_reward": out.epoch_reward, "finalists": finalists}),
            )
        }
        Method::Evolution | Method::Rl | Method::Random => {
            let candidate = TrainConfig {
                epochs: spec.candidate_epochs.max(1),
                ..spec.retrain.clone()
            };
            train_candidates(spec, &space, study, &mut log, |arch, trial| {
                let device = train_device();
                device.seed(spec.seed.wrapping_add(trial.number()));
                let net = CellNet::standalone(&space, arch, &net_config, &device)?;
                let outcome = train_standalone(
                    net,
                    &splits.train,
                    &splits.valid,
                    &candidate,
                    |e, loss, acc| {
                        let _ =
                            trial.report(e as u64, [("train_loss", loss), ("valid_accuracy", acc)]);
                    },
                );
                let acc = match outcome {
                    Ok((_, report)) => report.epoch_valid_accuracy.last().copied().unwrap_or(0.0),
                    Err(e) => return Ok(Err(e)),
                };
                Ok(Ok(match spec.target_latency_ms {
                    Some(target) => {
                        let lat = batch1_latency(arch)?;
                        trial.set_user_attr("latency_ms", lat.median_ms)?;
                        trial.set_user_attr("accuracy", acc)?;
                        let reward = MnasNetReward::soft(target).reward(acc, lat.median_ms)?;
                        (
                            reward,
                            format!(
                                "valid accuracy {acc:.4}, latency {:.3} ms, reward {reward:.4}",
                                lat.median_ms
                            ),
                        )
                    }
                    None => (acc, format!("valid accuracy {acc:.4}")),
                }))
            })?
        }
    };
    let search_seconds = start.elapsed().as_secs_f64();
    retrain_recorded(
        spec,
        &space,
        Found {
            arch,
            details,
            search_seconds,
        },
        &net_config,
        splits,
        study,
        &mut log,
        |arch, device| CellNet::standalone(&space, arch, &net_config, device),
        |arch, trial, log| {
            let lat = batch1_latency(arch)?;
            trial.set_user_attr("latency_ms", lat.median_ms)?;
            log(&format!(
                "latency (batch 1, this machine): {:.3} ms",
                lat.median_ms
            ));
            Ok(())
        },
    )
}

/// SPOS's details: the evolution's settings, how many architectures it scored, and the ten
/// best by one-shot accuracy.
pub(crate) fn one_shot_details(
    space: &dyn ArchitectureSpace,
    evolve: &EvolveConfig,
    scored: &[(Vec<usize>, f64)],
) -> serde_json::Value {
    let mut top = scored.to_vec();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(10);
    let top: Vec<_> = top
        .iter()
        .map(|(a, s)| json!({"cell": space.format(a), "one_shot_accuracy": s}))
        .collect();
    json!({"evolve": evolve, "scored": scored.len(), "top": top})
}

/// What a search found, before retraining.
pub(crate) struct Found {
    /// The architecture.
    pub arch: Vec<usize>,
    /// Method-specific history.
    pub details: serde_json::Value,
    /// Seconds spent searching.
    pub search_seconds: f64,
}

/// The candidate-training searches (evolution, rl, random) over any space: `budget` trials
/// asked from the study's sampler, each trained by `train_one`, which returns the trial's
/// value and a description for the log (an inner error fails that candidate only; an outer
/// one stops the search). Returns the best candidate and the search's details.
pub(crate) fn train_candidates(
    spec: &SearchSpec,
    space: &dyn ArchitectureSpace,
    study: &Study,
    log: &mut dyn FnMut(&str),
    mut train_one: impl FnMut(&[usize], &mut Trial) -> Result<Result<(f64, String)>>,
) -> Result<(Vec<usize>, serde_json::Value)> {
    let mut done = 0usize;
    for _ in 0..spec.budget.max(1) {
        let mut trial = study.ask()?;
        let arch = space.suggest(&mut trial)?;
        let _ = trial.set_user_attr("role", "candidate");
        let _ = trial.set_user_attr("cell", space.format(&arch));
        match train_one(&arch, &mut trial)? {
            Ok((value, what)) => {
                done += 1;
                log(&format!("candidate {done}: {} {what}", space.format(&arch)));
                study.tell(trial, Outcome::Complete(vec![value]))?;
            }
            Err(e) => {
                log(&format!("candidate {}: failed: {e}", space.format(&arch)));
                study.tell(trial, Outcome::Failed(e.to_string()))?;
            }
        }
    }
    let best = study
        .trials()?
        .into_iter()
        .filter(|t| t.user_attrs.get("role").and_then(|v| v.as_str()) == Some("candidate"))
        .filter_map(|t| t.value().map(|v| (t, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| Error::Training("no candidate finished".into()))?;
    let arch = space.arch_of(&best.0.params)?;
    Ok((
        arch,
        json!({"candidates": done, "best_candidate_trial": best.0.number}),
    ))
}

/// Retrains a found architecture from scratch with the recipe, recorded as its own trial
/// (user attribute `role = "retrain"`, the search's details, the retraining curve), then
/// measures validation and test accuracy; `build` makes the stand-alone network and `measure`
/// records anything else about it (latency) on the trial.
#[allow(clippy::too_many_arguments)]
pub(crate) fn retrain_recorded<N: Classifier>(
    spec: &SearchSpec,
    space: &dyn ArchitectureSpace,
    found: Found,
    net_config: &NetConfig,
    splits: &Splits,
    study: &Study,
    log: &mut dyn FnMut(&str),
    build: impl FnOnce(&[usize], &Device) -> Result<N>,
    measure: impl FnOnce(&[usize], &mut Trial, &mut dyn FnMut(&str)) -> Result<()>,
) -> Result<SearchResult<N>> {
    let Found {
        arch,
        details,
        search_seconds,
    } = found;
    let cell = space.format(&arch);
    log(&format!(
        "{} found {cell} in {search_seconds:.1} s; retraining from scratch",
        spec.method.name()
    ));
    study.enqueue(space.params_of(&arch))?;
    let mut trial = study.ask()?;
    let recorded = space.suggest(&mut trial)?;
    if recorded != arch {
        return Err(Error::Training(format!(
            "trial {} did not take the enqueued architecture (another worker's entry?)",
            trial.number()
        )));
    }
    trial.set_user_attr("role", "retrain")?;
    trial.set_user_attr("method", spec.method.name())?;
    trial.set_user_attr("cell", &cell)?;
    trial.set_user_attr("search_seconds", search_seconds)?;
    trial.set_user_attr("search", &details)?;
    trial.set_user_attr("net", net_config)?;
    trial.set_user_attr("recipe", &spec.retrain)?;
    let device = train_device();
    device.seed(spec.seed);
    let net = build(&arch, &device)?;
    let trained = train_classifier(
        net,
        &splits.train,
        &splits.valid,
        &spec.retrain,
        |e, loss, acc| {
            let _ = trial.report(e as u64, [("train_loss", loss), ("valid_accuracy", acc)]);
            log(&format!(
                "retrain epoch {}: loss {loss:.4}, valid accuracy {acc:.4}",
                e + 1
            ));
        },
    );
    let (net, report) = match trained {
        Ok(x) => x,
        Err(e) => {
            study.tell(trial, Outcome::Failed(e.to_string()))?;
            return Err(e);
        }
    };
    let valid_accuracy = report.epoch_valid_accuracy.last().copied().unwrap_or(0.0);
    let test_accuracy = classifier_accuracy(&net, &splits.test);
    trial.set_user_attr("test_accuracy", test_accuracy)?;
    measure(&arch, &mut trial, log)?;
    trial.set_user_attr("retrain_seconds", report.train_seconds)?;
    let number = trial.number();
    study.tell(trial, Outcome::Complete(vec![valid_accuracy]))?;
    Ok(SearchResult {
        method: spec.method,
        arch,
        cell,
        search_seconds,
        retrain: report,
        valid_accuracy,
        test_accuracy,
        details,
        net,
        trial: number,
    })
}
