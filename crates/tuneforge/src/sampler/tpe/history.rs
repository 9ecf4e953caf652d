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
    /// The coordinates of `keys` (sorted ascending) placed at `slots` (the position of each
    /// key in the caller's order), or `None` when one is missing.
    fn select(&self, keys: &[usize], slots: &[usize]) -> Option<Vec<Coord>> {
        let mut out = vec![Coord::Cat(0); keys.len()];
        let mut it = self.coords.iter();
        for (&k, &slot) in keys.iter().zip(slots) {
            loop {
                match it.next() {
                    Some((kk, c)) if *kk == k => {
                        out[slot] = *c;
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
    /// Per numeric key: its observations as (coordinate, trial number, index in `obs`), in
    /// ascending order, so that bandwidths need no sort per ask; `pending` holds the ones added
    /// since the last merge.
    sorted: Vec<Vec<Entry>>,
    pending: Vec<Vec<Entry>>,
}

/// (coordinate, trial number, index in the history or row) — ordered by coordinate, then number.
type Entry = (f64, u64, u32);

fn entry_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Feeds the entries of two sorted sequences to `out` in merged order (`a` first on ties).
fn merge(
    a: impl IntoIterator<Item = Entry>,
    b: impl IntoIterator<Item = Entry>,
    mut out: impl FnMut(Entry),
) {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if entry_order(x, y).is_le() => a.next(),
            (Some(_), None) => a.next(),
            (_, Some(_)) => b.next(),
            (None, None) => break,
        };
        next.into_iter().for_each(&mut out);
    }
}

/// Rows of a split: (trial number, coordinates).
pub type Rows = Vec<(u64, Vec<Coord>)>;

/// The result of [`History::split`].
#[derive(Debug, Default)]
pub struct SplitRows {
    /// The γ(n) best rows, in rank order.
    pub below: Rows,
    /// The other rows, in trial order.
    pub above: Rows,
    /// For each numeric dimension, the positions of `above`'s rows in ascending order of that
    /// coordinate (ties by trial number); `None` for categorical dimensions.
    pub above_order: Vec<Option<Vec<u32>>>,
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
        self.sorted.push(Vec::new());
        self.pending.push(Vec::new());
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
        let at = self.obs.len() as u32;
        for &(k, c) in &coords {
            if let Coord::Num { x, .. } = c {
                self.pending[k].push((x, t.number, at));
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

    /// The distributions of [`History::space`], without copying them.
    pub fn distributions(&self) -> impl Iterator<Item = &Distribution> {
        self.space
            .values()
            .filter_map(|k| k.map(|k| &self.keys[k].1))
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

    /// Splits the observations of `keys` (each row: trial number, coordinates in the order of
    /// `keys`) plus the `extra` rows (running trials under the constant liar) into the `γ(n)` best
    /// and the rest, where n counts every row. The ranking is: complete trials best first (by
    /// loss, or by non-dominated rank for several objectives, ties by trial number), then pruned
    /// trials deepest first, then `extra` in its order. The best rows come back in rank order,
    /// the rest in trial order (the order recency weights follow).
    ///
    /// With one objective only the best γ(n) are ordered (a selection, not a sort of the whole
    /// history), and the rest keep the history's order, which is already nearly trial order.
    pub fn split(
        &mut self,
        keys: &[usize],
        n_objectives: usize,
        extra: Rows,
        gamma: impl Fn(usize) -> usize,
    ) -> SplitRows {
        for k in keys.iter().copied() {
            self.merge_pending(k);
        }
        // Walk each observation's sorted coordinates once, in key order.
        let mut slots: Vec<usize> = (0..keys.len()).collect();
        slots.sort_by_key(|&i| keys[i]);
        let sorted: Vec<usize> = slots.iter().map(|&i| keys[i]).collect();
        let mut rows: Vec<(&Obs, Option<Vec<Coord>>, u32)> = Vec::new();
        let (mut complete, mut pruned) = (Vec::new(), Vec::new());
        for (at, o) in self.obs.iter().enumerate() {
            if let Some(c) = o.select(&sorted, &slots) {
                if o.pruned {
                    pruned.push(rows.len());
                } else {
                    complete.push(rows.len());
                }
                rows.push((o, Some(c), at as u32));
            }
        }
        let total = rows.len() + extra.len();
        let n_below = gamma(total).min(total);
        let by_loss = |a: &usize, b: &usize| {
            let (a, b) = (rows[*a].0, rows[*b].0);
            a.loss[0]
                .total_cmp(&b.loss[0])
                .then(a.number.cmp(&b.number))
        };
        if n_objectives == 1 {
            if n_below < complete.len() {
                complete.select_nth_unstable_by(n_below, by_loss);
                complete.truncate(n_below);
            }
            complete.sort_by(by_loss);
        } else {
            let losses: Vec<Vec<f64>> = complete.iter().map(|&i| rows[i].0.loss.clone()).collect();
            let ranks = nondominated_ranks(&losses);
            let mut order: Vec<usize> = (0..complete.len()).collect();
            order.sort_by_key(|&i| (ranks[i], rows[complete[i]].0.number));
            complete = order
                .into_iter()
                .take(n_below)
                .map(|i| complete[i])
                .collect();
        }
        if complete.len() < n_below {
            pruned.sort_by_key(|&i| (std::cmp::Reverse(rows[i].0.depth), rows[i].0.number));
            pruned.truncate(n_below - complete.len());
            complete.extend(pruned);
        }
        let mut below: Vec<(u64, Vec<Coord>)> = complete
            .iter()
            .map(|&i| (rows[i].0.number, rows[i].1.take().unwrap_or_default()))
            .collect();
        let mut extra = extra.into_iter();
        below.extend(extra.by_ref().take(n_below - below.len()));
        // The rest in trial order, remembering where each history row went.
        let mut above: Vec<(u64, Vec<Coord>, u32)> = rows
            .into_iter()
            .filter_map(|(o, c, at)| c.map(|c| (o.number, c, at)))
            .chain(extra.map(|(n, c)| (n, c, u32::MAX)))
            .collect();
        above.sort_by_key(|r| r.0);
        let mut position = vec![u32::MAX; self.obs.len()];
        for (p, r) in above.iter().enumerate() {
            if r.2 != u32::MAX {
                position[r.2 as usize] = p as u32;
            }
        }
        let above_order = keys
            .iter()
            .enumerate()
            .map(|(j, &k)| {
                if matches!(self.keys[k].1, Distribution::Categorical { .. }) {
                    return None;
                }
                // Rows not from the history (running trials) are few: sort them and merge.
                let mut others: Vec<Entry> = above
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.2 == u32::MAX)
                    .filter_map(|(p, r)| match r.1[j] {
                        Coord::Num { x, .. } => Some((x, r.0, p as u32)),
                        Coord::Cat(_) => None,
                    })
                    .collect();
                others.sort_by(entry_order);
                let mine = self.sorted[k]
                    .iter()
                    .filter(|e| position[e.2 as usize] != u32::MAX)
                    .map(|e| (e.0, e.1, position[e.2 as usize]));
                let mut order = Vec::with_capacity(above.len());
                if others.is_empty() {
                    order.extend(mine.map(|e| e.2));
                } else {
                    merge(mine, others, |e| order.push(e.2));
                }
                Some(order)
            })
            .collect();
        SplitRows {
            below,
            above: above.into_iter().map(|(n, c, _)| (n, c)).collect(),
            above_order,
        }
    }

    /// Merges the observations of key `k` added since the last call into its sorted list.
    fn merge_pending(&mut self, k: usize) {
        let mut new = std::mem::take(&mut self.pending[k]);
        if new.is_empty() {
            return;
        }
        new.sort_by(entry_order);
        let sorted = &mut self.sorted[k];
        if new.len() * 16 < sorted.len() {
            // A trial or two per ask: each goes in at its place (a binary search and one block
            // move), where a merge would compare and copy the whole list entry by entry.
            for e in new {
                let at = sorted.partition_point(|x| entry_order(x, &e).is_le());
                sorted.insert(at, e);
            }
            return;
        }
        let old = std::mem::take(sorted);
        let mut merged = Vec::with_capacity(old.len() + new.len());
        merge(old, new, |e| merged.push(e));
        self.sorted[k] = merged;
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
