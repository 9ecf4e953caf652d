//! What every black-box sampler must do, checked on each in turn through the public API: keep
//! every value inside its distribution (bounds, steps, log scale, integers, choices), ask for a
//! conditional parameter only on its branch, survive failed and NaN trials in its history, and
//! repeat itself exactly for the same seed.

use std::sync::Arc;
use tuneforge::sampler::{
    AnnealingConfig, AutoSampler, CmaEsConfig, EvolutionConfig, GeneticConfig, GpConfig,
    Nsga2Config, RfConfig, TpeConfig,
};
use tuneforge::{
    Error, Optimize, ParamValue, RandomSampler, Sampler, SobolSampler, Study, TrialState,
};

fn sampler(name: &str, seed: u64) -> Arc<dyn Sampler> {
    match name {
        "auto" => Arc::new(AutoSampler::new(seed)),
        "random" => Arc::new(RandomSampler::new(seed)),
        "sobol" => Arc::new(SobolSampler::new(seed)),
        "tpe" => Arc::new(TpeConfig::default().build(seed)),
        "gp" => Arc::new(GpConfig::default().build(seed)),
        "rf" => Arc::new(RfConfig::default().build(seed)),
        "cmaes" => Arc::new(CmaEsConfig::default().build(seed)),
        "annealing" => Arc::new(AnnealingConfig::default().build(seed)),
        "genetic" => Arc::new(GeneticConfig::default().build(seed)),
        "evolution" => Arc::new(EvolutionConfig::default().build(seed)),
        "nsga2" => Arc::new(Nsga2Config::default().build(seed)),
        other => panic!("no sampler {other}"),
    }
}

const SAMPLERS: [&str; 11] = [
    "auto",
    "random",
    "sobol",
    "tpe",
    "gp",
    "rf",
    "cmaes",
    "annealing",
    "genetic",
    "evolution",
    "nsga2",
];

/// Runs `trials` trials of a mixed, conditional space; every value is checked where it is
/// drawn. Trials 3, 10, 17, ... return NaN and 5, 12, 19, ... fail with an error. Returns each
/// trial's state and parameters.
fn run(name: &str, seed: u64, trials: usize) -> Vec<(TrialState, Vec<(String, ParamValue)>)> {
    let study = Study::builder(&format!("conformance-{name}"))
        .sampler_arc(sampler(name, seed))
        .build()
        .unwrap();
    study
        .optimize(
            |t| -> Result<f64, Error> {
                let x = t.suggest_float("x", -2.0, 3.0).get()?;
                let lr = t.suggest_float("lr", 1e-4, 1.0).log().get()?;
                let q = t.suggest_float("q", 0.0, 1.0).step(0.25).get()?;
                let k = t.suggest_int("k", 1, 9).step(2).get()?;
                let units = t.suggest_int("units", 8, 512).log().get()?;
                let model = t.suggest_categorical("model", &["linear", "deep"])?;
                assert!((-2.0..=3.0).contains(&x), "{name}: x = {x}");
                assert!((1e-4..=1.0).contains(&lr), "{name}: lr = {lr}");
                assert!([0.0, 0.25, 0.5, 0.75, 1.0].contains(&q), "{name}: q = {q}");
                assert!((1..=9).contains(&k) && k % 2 == 1, "{name}: k = {k}");
                assert!((8..=512).contains(&units), "{name}: units = {units}");
                let mut loss = (x - 1.0).powi(2) + lr.log10().powi(2) + q + k as f64 / 10.0;
                if model == "deep" {
                    let depth = t.suggest_int("depth", 2, 6).get()?;
                    assert!((2..=6).contains(&depth), "{name}: depth = {depth}");
                    loss += (depth - 4).abs() as f64 - 1.0;
                }
                match t.number() % 7 {
                    3 => Ok(f64::NAN),
                    5 => Err(Error::invalid("the training diverged")),
                    _ => Ok(loss + (units as f64).ln() / 100.0),
                }
            },
            Optimize::trials(trials),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    study
        .trials()
        .unwrap()
        .into_iter()
        .map(|t| {
            let branch_ok = match t.params.get("model") {
                Some(ParamValue::Str(m)) => (m == "deep") == t.params.contains_key("depth"),
                _ => false,
            };
            assert!(
                t.state != TrialState::Complete || branch_ok,
                "{name}: trial {} has {:?}",
                t.number,
                t.params
            );
            (
                t.state,
                t.params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn every_sampler_respects_the_space_survives_failures_and_repeats_itself() {
    let trials = 36;
    for name in SAMPLERS {
        let first = run(name, 7, trials);
        assert_eq!(first.len(), trials, "{name}");
        // Every NaN and every error fails its own trial, and nothing else fails.
        let failed: Vec<usize> = first
            .iter()
            .enumerate()
            .filter(|(_, t)| t.0 == TrialState::Failed)
            .map(|(n, _)| n)
            .collect();
        let expected: Vec<usize> = (0..trials).filter(|n| n % 7 == 3 || n % 7 == 5).collect();
        assert_eq!(failed, expected, "{name}");
        assert!(
            first
                .iter()
                .filter(|t| t.0 != TrialState::Failed)
                .all(|t| t.0 == TrialState::Complete),
            "{name}"
        );
        // Both branches of the conditional parameter are explored.
        let deep = first
            .iter()
            .filter(|t| t.1.iter().any(|(k, _)| k == "depth"))
            .count();
        assert!(deep > 0 && deep < trials, "{name}: {deep} deep trials");
        assert_eq!(first, run(name, 7, trials), "{name} is not reproducible");
        assert_ne!(first, run(name, 8, trials), "{name} ignores its seed");
    }
}
