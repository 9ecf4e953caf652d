//! The TPE sampler's incremental view of a study's history.
//!
//! A finished trial never changes, so its unit-cube coordinates, its loss and its parameter set
//! are computed once, when it is first seen finished; each ask only processes the trials that
//! finished since the last one. Parameters are interned as (name, distribution) keys so that
//! "does this trial have these parameters" is an index lookup, not string hashing. The relative
//! search space and the groups of co-occurring parameters are kept up to date the same way.

use indexmap::IndexMap;
use std::collections::{BTreeSet, HashMap};

use super::parzen::Coord;
use crate::distribution::{Distribution, ParamValue};
use crate::pareto::dominates;
use crate::record::{FrozenTrial, TrialId, TrialState};
use crate::sampler::StudyView;

/// One finished trial, as TPE needs it.
#[derive(Clone, Debug)]
pub struct Obs {
    /// Trial number.
    pub number: u64,
    /// Pruned (true) or complete (false).
    pub pruned: bool,
    /// Objective values as losses (smaller is better); empty for pruned trials.
    pub loss: Vec<f64>,
    /// Last reported step (pruned trials are ranked deepest first).
    pub depth: Option<u64>,
    /// Coordinates by parameter key, sorted by key.
    pub coords: Vec<(usize, Coord)>,
}

impl Obs {
    /// The coordinates of `keys` (sorted ascending), or `None` when one is missing.
    fn select(&self, keys: &[usize]) -> Option<Vec<Coord>> {
        let mut out = Vec::with_capacity(keys.len());
        let mut it = self.coords.iter();
        for &k in keys {
            loop {
                match it.next() {
                    Some((kk, c)) if *kk == k => {
                        out.push(*c);
                        break;
                    }
                    Some((kk, _)) if *kk < k => continue,
                    _ => return None,
                }
            }
        }
        Some(out)
    }
}

/// The incremental history of one study.
#[derive(Default, Debug)]
pub struct History {
    /// Id of trial 0: a different one means another study, and the history starts over.
    first_id: Option<TrialId>,
    /// Every trial below this number has been processed.
    watermark: usize,
    processed: Vec<bool>,
    keys: Vec<(String, Distribution)>,
    key_of: HashMap<String, Vec<usize>>,
    obs: Vec<Obs>,
    /// Over complete trials: each parameter's key, or `None` when it had several distributions.
    space: IndexMap<String, Option<usize>>,
    /// Distinct parameter-key sets of complete trials.
    sets: Vec<Vec<usize>>,
    n_complete: usize,
}

/// The unit-cube coordinate of a value.
pub fn coord(d: &Distribution, v: &ParamValue) -> Coord {
    match d {
        Distribution::Categorical { .. } => Coord::Cat(d.to_internal(v).unwrap_or(0.0) as usize),
        _ => Coord::Num {
            x: d.to_unit(v).unwrap_or(0.5),
            cell: d.unit_cell(v),
        },
    }
}

impl History {
    fn intern(&mut self, name: &str, dist: &Distribution) -> usize {
        if let Some(ks) = self.key_of.get(name)
            && let Some(&k) = ks.iter().find(|&&k| &self.keys[k].1 == dist)
        {
            return k;
        }
        let k = self.keys.len();
        self.keys.push((name.to_string(), dist.clone()));
        self.key_of.entry(name.to_string()).or_default().push(k);
        k
    }

    /// The key of `(name, dist)`, if any finished trial had it.
    pub fn key(&self, name: &str, dist: &Distribution) -> Option<usize> {
        self.key_of
            .get(name)?
            .iter()
            .copied()
            .find(|&k| &self.keys[k].1 == dist)
    }

    /// Processes the trials that finished since the last call.
    pub fn update(&mut self, study: &StudyView) {
        let trials = &study.trials;
        if trials.first().map(|t| t.id) != self.first_id || trials.len() < self.watermark {
            *self = History {
                first_id: trials.first().map(|t| t.id),
                ..Default::default()
            };
        }
        self.processed.resize(trials.len(), false);
        for n in self.watermark..trials.len() {
            if self.processed[n] {
                continue;
            }
            let t = &trials[n];
            match t.state {
                TrialState::Complete => {
                    if let Some(v) = t
                        .values
                        .as_ref()
                        .filter(|v| v.len() == study.directions.len())
                    {
                        let loss = v
                            .iter()
                            .zip(&study.directions)
                            .map(|(x, d)| d.to_loss(*x))
                            .collect();
                        self.add(t, false, loss);
                    }
                }
                TrialState::Pruned => self.add(t, true, Vec::new()),
                TrialState::Failed => {}
                TrialState::Running | TrialState::Waiting => continue,
            }
            self.processed[n] = true;
        }
        while self.watermark < self.processed.len() && self.processed[self.watermark] {
            self.watermark += 1;
        }
    }

    fn add(&mut self, t: &FrozenTrial, pruned: bool, loss: Vec<f64>) {
        let mut coords: Vec<(usize, Coord)> = t
            .distributions
            .iter()
            .map(|(name, d)| (self.intern(name, d), coord(d, &t.params[name])))
            .collect();
        coords.sort_by_key(|c| c.0);
        if !pruned {
            self.n_complete += 1;
            for (k, _) in &coords {
                let name = &self.keys[*k].0;
                match self.space.get(name) {
                    None => {
                        self.space.insert(name.clone(), Some(*k));
                    }
                    Some(Some(prev)) if prev != k => {
                        self.space.insert(name.clone(), None);
                    }
                    _ => {}
                }
            }
            let set: Vec<usize> = coords.iter().map(|c| c.0).collect();
            if !self.sets.contains(&set) {
                self.sets.push(set);
            }
        }
        self.obs.push(Obs {
            number: t.number,
            pruned,
            loss,
            depth: t.intermediate.keys().next_back().copied(),
            coords,
        });
    }

    /// Complete trials seen so far.
    pub fn n_complete(&self) -> usize {
        self.n_complete
    }

    /// Parameters of complete trials that kept one distribution, in order of appearance.
    pub fn space(&self) -> Vec<(String, Distribution)> {
        self.space
            .iter()
            .filter_map(|(n, k)| k.map(|k| (n.clone(), self.keys[k].1.clone())))
            .collect()
    }

    /// True when every complete trial has parameter `name`.
    pub fn in_every_complete_trial(&self, name: &str) -> bool {
        self.sets
            .iter()
            .all(|s| s.iter().any(|&k| self.keys[k].0 == name))
    }

    /// The distinct parameter-name sets of complete trials.
    pub fn name_sets(&self) -> Vec<BTreeSet<String>> {
        self.sets
            .iter()
            .map(|s| s.iter().map(|&k| self.keys[k].0.clone()).collect())
            .collect()
    }

    /// Ordered observations of `keys` (sorted): complete trials best first (by loss, or by
    /// non-dominated rank for several objectives), then pruned trials deepest first. Each row is
    /// (trial number, coordinates in the order of `keys`).
    pub fn ranked(&self, keys: &[usize], n_objectives: usize) -> Vec<(u64, Vec<Coord>)> {
        let mut complete: Vec<(&Obs, Vec<Coord>)> = Vec::new();
        let mut pruned: Vec<(&Obs, Vec<Coord>)> = Vec::new();
        for o in &self.obs {
            if let Some(c) = o.select(keys) {
                if o.pruned {
                    pruned.push((o, c));
                } else {
                    complete.push((o, c));
                }
            }
        }
        if n_objectives == 1 {
            complete.sort_by(|a, b| {
                a.0.loss[0]
                    .total_cmp(&b.0.loss[0])
                    .then(a.0.number.cmp(&b.0.number))
            });
        } else {
            let losses: Vec<Vec<f64>> = complete.iter().map(|(o, _)| o.loss.clone()).collect();
            let ranks = nondominated_ranks(&losses);
            let mut idx: Vec<usize> = (0..complete.len()).collect();
            idx.sort_by_key(|&i| (ranks[i], complete[i].0.number));
            let mut reordered: Vec<Option<(&Obs, Vec<Coord>)>> =
                complete.into_iter().map(Some).collect();
            complete = idx
                .into_iter()
                .filter_map(|i| reordered[i].take())
                .collect();
        }
        pruned.sort_by_key(|(o, _)| (std::cmp::Reverse(o.depth), o.number));
        complete
            .into_iter()
            .chain(pruned)
            .map(|(o, c)| (o.number, c))
            .collect()
    }
}

/// Rank of each point in non-dominated sorting (0 = Pareto front), all objectives minimised.
pub fn nondominated_ranks(losses: &[Vec<f64>]) -> Vec<usize> {
    let n = losses.len();
    let mut rank = vec![usize::MAX; n];
    let mut left: Vec<usize> = (0..n).collect();
    let mut r = 0;
    while !left.is_empty() {
        let front: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| !left.iter().any(|&j| dominates(&losses[j], &losses[i])))
            .collect();
        for &i in &front {
            rank[i] = r;
        }
        left.retain(|i| rank[*i] == usize::MAX);
        r += 1;
    }
    rank
}
