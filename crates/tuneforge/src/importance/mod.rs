//! Parameter importance: which hyperparameters the objective is sensitive to, from the trials of
//! a study. Two methods: fANOVA on a random forest (variance explained by each parameter alone,
//! with the marginal curve of each) and PED-ANOVA (closed form, no model, fast at any size).
//!
//! Parameters are those every complete trial has with one distribution (conditional parameters
//! are listed as skipped); values are mapped to the unit interval (log scale where the
//! distribution is, categories as equal cells). Importances are normalised to sum to 1.

pub mod fanova;
pub mod ped_anova;
pub mod random_forest;

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::sampler::StudyView;
use random_forest::{ForestConfig, RandomForest};

/// Which importance method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// fANOVA on a random forest (Hutter et al. 2014).
    Fanova,
    /// PED-ANOVA (Watanabe et al. 2023), top 10 % against all trials.
    PedAnova,
}

impl Method {
    /// Parses `fanova` or `ped-anova`.
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "fanova" => Some(Method::Fanova),
            "ped-anova" | "pedanova" => Some(Method::PedAnova),
            _ => None,
        }
    }
}

/// One parameter's importance.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamImportance {
    /// Parameter name.
    pub name: String,
    /// Share of the total importance (the parameters sum to 1).
    pub importance: f64,
    /// fANOVA: the fraction of the objective's variance the parameter explains alone;
    /// PED-ANOVA: the Pearson divergence.
    pub raw: f64,
    /// fANOVA: the marginal curve, (value, predicted objective with the others averaged out).
    pub marginal: Vec<(ParamValue, f64)>,
}

/// The importances of a study's parameters, most important first.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Method used.
    pub method: Method,
    /// Complete trials used.
    pub trials: usize,
    /// Parameters, most important first.
    pub params: Vec<ParamImportance>,
    /// Parameters left out (absent from some trials, or with changing distributions).
    pub skipped: Vec<String>,
}

/// Importance of every parameter for objective `objective` of the study in `view`.
pub fn evaluate(view: &StudyView, objective: usize, method: Method, seed: u64) -> Result<Report> {
    let dir = *view.directions.get(objective).ok_or_else(|| {
        Error::invalid(format!(
            "objective {objective} does not exist: the study has {}",
            view.directions.len()
        ))
    })?;
    let done: Vec<_> = view
        .complete()
        .filter(|t| {
            t.values
                .as_ref()
                .and_then(|v| v.get(objective))
                .is_some_and(|v| v.is_finite())
        })
        .collect();
    if done.len() < 2 {
        return Err(Error::invalid(format!(
            "importance needs at least 2 complete trials, the study has {}",
            done.len()
        )));
    }
    // Parameters shared by every trial with the same distribution.
    let mut names: Vec<(String, Distribution)> = Vec::new();
    let mut skipped = Vec::new();
    let mut all: Vec<&String> = done.iter().flat_map(|t| t.params.keys()).collect();
    all.sort();
    all.dedup();
    for name in all {
        let d0 = done[0].distributions.get(name);
        let shared = d0.is_some()
            && done.iter().all(|t| t.distributions.get(name) == d0)
            && !d0.is_some_and(Distribution::is_single);
        match (shared, d0) {
            (true, Some(d)) => names.push((name.clone(), d.clone())),
            _ => skipped.push(name.clone()),
        }
    }
    // Keep the declared order of the first trial.
    names.sort_by_key(|(n, _)| done[0].params.get_index_of(n).unwrap_or(usize::MAX));
    if names.is_empty() {
        return Err(Error::invalid(
            "no parameter is shared by every complete trial with one distribution",
        ));
    }
    let columns: Vec<Vec<f64>> = names
        .iter()
        .map(|(n, d)| {
            done.iter()
                .map(|t| d.to_unit(&t.params[n]).unwrap_or(0.5))
                .collect()
        })
        .collect();
    let y: Vec<f64> = done
        .iter()
        .map(|t| t.values.as_ref().map_or(f64::NAN, |v| v[objective]))
        .collect();
    let mut params: Vec<ParamImportance> = match method {
        Method::Fanova => {
            let rows: Vec<Vec<f64>> = (0..done.len())
                .map(|i| columns.iter().map(|c| c[i]).collect())
                .collect();
            let forest = RandomForest::fit(
                &rows,
                &y,
                &ForestConfig {
                    seed,
                    ..ForestConfig::default()
                },
            );
            let effects = fanova::main_effects(&forest);
            names
                .iter()
                .enumerate()
                .map(|(i, (n, d))| {
                    let at: Vec<f64> = match d {
                        Distribution::Categorical { choices } => (0..choices.len())
                            .map(|k| (k as f64 + 0.5) / choices.len() as f64)
                            .collect(),
                        _ => (0..=10).map(|k| k as f64 / 10.0).collect(),
                    };
                    let m = fanova::marginal(&forest, i, &at);
                    ParamImportance {
                        name: n.clone(),
                        importance: 0.0,
                        raw: effects[i],
                        marginal: at.iter().map(|&u| d.from_unit(u)).zip(m).collect(),
                    }
                })
                .collect()
        }
        Method::PedAnova => {
            let mut order: Vec<usize> = (0..y.len()).collect();
            order.sort_by(|&a, &b| dir.order(y[a], y[b]));
            let k = ((y.len() as f64 * 0.1).ceil() as usize).clamp(2.min(y.len()), y.len());
            let mut top = vec![false; y.len()];
            for &i in &order[..k] {
                top[i] = true;
            }
            let cols: Vec<ped_anova::Column<'_>> = names
                .iter()
                .zip(&columns)
                .map(|((_, d), c)| ped_anova::Column {
                    values: c,
                    categories: match d {
                        Distribution::Categorical { choices } => Some(choices.len()),
                        _ => None,
                    },
                })
                .collect();
            let div = ped_anova::divergences(&cols, &top);
            names
                .iter()
                .zip(div)
                .map(|((n, _), r)| ParamImportance {
                    name: n.clone(),
                    importance: 0.0,
                    raw: r,
                    marginal: Vec::new(),
                })
                .collect()
        }
    };
    let total: f64 = params.iter().map(|p| p.raw).sum();
    for p in params.iter_mut() {
        p.importance = if total > 0.0 { p.raw / total } else { 0.0 };
    }
    params.sort_by(|a, b| b.importance.total_cmp(&a.importance));
    Ok(Report {
        method,
        trials: done.len(),
        params,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Optimize, RandomSampler, Study};

    fn study(n: usize) -> Study {
        let s = Study::builder("imp")
            .sampler(RandomSampler::new(5))
            .build()
            .unwrap();
        s.optimize(
            |t| -> crate::Result<f64> {
                let lr = t.suggest_float("lr", 1e-5, 1e-1).log().get()?;
                let noise = t.suggest_float("unused", 0.0, 1.0).get()?;
                let opt = t.suggest_categorical("opt", &["sgd", "adam"])?;
                let _ = noise;
                let base = (lr.log10() + 3.0).powi(2);
                Ok(base + if opt == "adam" { 0.0 } else { 0.5 })
            },
            Optimize::trials(n),
        )
        .unwrap();
        s
    }

    #[test]
    fn both_methods_rank_the_driving_parameter_above_the_idle_one() {
        let s = study(300);
        let view = s.view().unwrap();
        for m in [Method::Fanova, Method::PedAnova] {
            let r = evaluate(&view, 0, m, 1).unwrap();
            assert_eq!(r.trials, 300);
            assert_eq!(r.params[0].name, "lr", "{m:?}: {:?}", r.params);
            let unused = r.params.iter().find(|p| p.name == "unused").unwrap();
            assert!(unused.importance < 0.1, "{m:?}: {:?}", r.params);
            let sum: f64 = r.params.iter().map(|p| p.importance).sum();
            assert!((sum - 1.0).abs() < 1e-9);
        }
        let f = evaluate(&view, 0, Method::Fanova, 1).unwrap();
        let lr = &f.params[0];
        // The marginal of lr is lowest near 1e-3, where the objective is.
        let best = lr
            .marginal
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        let v = best.0.as_f64().unwrap();
        assert!((1e-4..1e-2).contains(&v), "{:?}", lr.marginal);
    }

    #[test]
    fn too_few_trials_or_a_bad_objective_are_refused() {
        let s = study(1);
        let view = s.view().unwrap();
        assert!(
            evaluate(&view, 0, Method::Fanova, 0)
                .unwrap_err()
                .to_string()
                .contains("at least 2")
        );
        assert!(
            evaluate(&view, 3, Method::Fanova, 0)
                .unwrap_err()
                .to_string()
                .contains("objective 3")
        );
    }
}
