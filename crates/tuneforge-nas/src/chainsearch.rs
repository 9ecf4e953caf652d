//! One architecture search over a chain space ([`tuneforge::nas::ChainSpace`]) from data to a
//! retrained network, recorded in a study as [`crate::pipeline::run`] records cell searches:
//! - `spos`: a chain supernet ([`crate::chainnet::ChainNet`]) trained on uniformly sampled
//!   chains, then evolution over the chains' one-shot accuracy;
//! - `evolution`, `rl`, `random`: each candidate chain trained stand-alone for
//!   `candidate_epochs`.
//!
//! The found chain is retrained from scratch with the shared recipe, as its own trial. DARTS,
//! GDAS and ENAS search cell spaces only, and latency targets need the cell lookup table.

use tuneforge::Study;
use tuneforge::nas::{ArchitectureSpace, ChainSpace};

use crate::chainnet::ChainNet;
use crate::data::Splits;
use crate::error::{Error, Result};
use crate::pipeline::{
    Found, Method, SearchResult, SearchSpec, one_shot_details, retrain_recorded, train_candidates,
};
use crate::spos::{self, EvolveConfig};
use crate::train::{TrainConfig, train_classifier, train_device};

/// Refuses what a chain search cannot do: DARTS, GDAS and ENAS, latency targets, and networks
/// that cannot be built over `space`.
pub fn check(spec: &SearchSpec, space: &ChainSpace) -> Result<()> {
    if matches!(spec.method, Method::Darts | Method::Gdas | Method::Enas) {
        return Err(Error::Config(format!(
            "{} searches cell spaces only; a chain space takes spos, evolution, rl or random",
            spec.method.name()
        )));
    }
    if spec.target_latency_ms.is_some() {
        return Err(Error::Config(
            "a latency target needs the cell space's lookup table; chain searches take none".into(),
        ));
    }
    ChainNet::check(space, &spec.net)
}

/// Runs the search of `spec` over `space` on `splits`, recording into `study` (whose parameters
/// are the chain's decisions). `log` receives progress lines.
pub fn run_chain(
    spec: &SearchSpec,
    space: &ChainSpace,
    splits: &Splits,
    study: &Study,
    mut log: impl FnMut(&str),
) -> Result<SearchResult<ChainNet>> {
    check(spec, space)?;
    let mut net_config = spec.net.clone();
    net_config.in_channels = splits.train.channels;
    net_config.classes = splits.train.classes;
    let start = std::time::Instant::now();
    let (arch, details) = match spec.method {
        Method::Darts | Method::Gdas | Method::Enas => unreachable!("refused by check"),
        Method::Spos => {
            let search_train = TrainConfig {
                epochs: spec.search_epochs.max(1),
                seed: spec.seed,
                ..spec.retrain.clone()
            };
            let net = spos::train_chain_supernet(
                space,
                &net_config,
                &splits.train,
                &search_train,
                |e, l| log(&format!("supernet epoch {}: loss {l:.4}", e + 1)),
            )?;
            let evolve = EvolveConfig::with_population(spec.budget, spec.seed);
            let (arch, scored) = spos::evolve(space, &evolve, |a| {
                spos::chain_one_shot_accuracy(&net, space, a, &splits.valid)
            })?;
            log(&format!(
                "evolution scored {} chains with inherited weights; best {}",
                scored.len(),
                space.format(&arch)
            ));
            (arch, one_shot_details(space, &evolve, &scored))
        }
        Method::Evolution | Method::Rl | Method::Random => {
            let candidate = TrainConfig {
                epochs: spec.candidate_epochs.max(1),
                ..spec.retrain.clone()
            };
            train_candidates(spec, space, study, &mut log, |arch, trial| {
                let device = train_device();
                device.seed(spec.seed.wrapping_add(trial.number()));
                let (net, _) = ChainNet::standalone(space, arch, &net_config, &device)?;
                let outcome = train_classifier(
                    net,
                    &splits.train,
                    &splits.valid,
                    &candidate,
                    |e, loss, acc| {
                        let _ =
                            trial.report(e as u64, [("train_loss", loss), ("valid_accuracy", acc)]);
                    },
                );
                Ok(outcome.map(|(_, report)| {
                    let acc = report.epoch_valid_accuracy.last().copied().unwrap_or(0.0);
                    (acc, format!("valid accuracy {acc:.4}"))
                }))
            })?
        }
    };
    let search_seconds = start.elapsed().as_secs_f64();
    retrain_recorded(
        spec,
        space,
        Found {
            arch,
            details,
            search_seconds,
        },
        &net_config,
        splits,
        study,
        &mut log,
        |arch, device| Ok(ChainNet::standalone(space, arch, &net_config, device)?.0),
        |_, _, _| Ok(()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tuneforge::Direction;
    use tuneforge::storage::MemoryStorage;

    use crate::supernet::NetConfig;

    fn splits() -> Splits {
        let all = crate::test_blobs(144);
        Splits {
            train: all.take(96),
            valid: all.subset(&(96..120).collect::<Vec<_>>()),
            test: all.subset(&(120..144).collect::<Vec<_>>()),
        }
    }

    fn spec(method: Method) -> SearchSpec {
        SearchSpec {
            method,
            net: NetConfig {
                channels: 4,
                cells_per_stage: 1,
                stages: 2,
                in_channels: 1,
                classes: 3,
            },
            search_epochs: 2,
            retrain: TrainConfig {
                epochs: 5,
                batch_size: 16,
                lr: 0.01,
                ..Default::default()
            },
            budget: 3,
            ..Default::default()
        }
    }

    fn study(method: Method, space: &ChainSpace) -> Study {
        Study::builder("chain")
            .storage(Arc::new(MemoryStorage::new()))
            .direction(Direction::Maximize)
            .sampler_arc(crate::pipeline::sampler_for(
                method,
                Arc::new(space.clone()),
                0,
            ))
            .build()
            .expect("study")
    }

    /// Each supported method finds a chain of the space, retrains it as a recorded trial, and
    /// the candidate methods record one trial per candidate.
    #[test]
    fn chain_searches_record_their_candidates_and_the_retrained_chain() {
        let _serial = crate::test_serial();
        let space = ChainSpace::mobile(3).expect("space");
        let data = splits();
        for method in [Method::Spos, Method::Random, Method::Rl] {
            let study = study(method, &space);
            let out = run_chain(&spec(method), &space, &data, &study, |_| {}).expect("search");
            let parsed = space.parse(&out.cell).expect("parses");
            assert_eq!(space.identity(&parsed), space.identity(&out.arch));
            let trials = study.trials().expect("trials");
            let role = |r: &str| {
                trials
                    .iter()
                    .filter(|t| t.user_attrs.get("role").and_then(|v| v.as_str()) == Some(r))
                    .count()
            };
            assert_eq!(role("retrain"), 1, "{method:?}");
            let candidates = if method == Method::Spos { 0 } else { 3 };
            assert_eq!(role("candidate"), candidates, "{method:?}");
            assert!(
                out.valid_accuracy > 0.5,
                "{method:?}: {} scores {}",
                out.cell,
                out.valid_accuracy
            );
            assert_eq!(out.retrain.epoch_valid_accuracy.len(), 5);
        }
    }

    /// Methods and options a chain space does not take are refused before any training.
    #[test]
    fn cell_only_methods_and_latency_targets_are_refused() {
        let _serial = crate::test_serial();
        let space = ChainSpace::mobile(3).expect("space");
        let data = splits();
        for method in [Method::Darts, Method::Gdas, Method::Enas] {
            let e = run_chain(&spec(method), &space, &data, &study(method, &space), |_| {})
                .expect_err("refused");
            assert!(e.to_string().contains("cell spaces only"), "{e}");
        }
        let latency = SearchSpec {
            target_latency_ms: Some(1.0),
            ..spec(Method::Random)
        };
        let s = study(Method::Random, &space);
        let e = run_chain(&latency, &space, &data, &s, |_| {}).expect_err("refused");
        assert!(e.to_string().contains("latency"), "{e}");
        assert!(s.trials().expect("trials").is_empty());
    }
}
