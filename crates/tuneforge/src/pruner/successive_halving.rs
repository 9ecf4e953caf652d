//! Successive halving: evaluate n configurations with a small resource, keep the best 1/η,
//! give the survivors η times the resource, and repeat until one configuration (or the maximum
//! resource) remains.
//!
//! Jamieson & Talwalkar 2016, "Non-stochastic Best Arm Identification and Hyperparameter
//! Optimization" (AISTATS), Algorithm 1 (with halving generalised to a reduction factor η as in
//! Li et al. 2018). The rungs and the survivor rule here are shared by the asynchronous variant
//! ([`super::AshaPruner`]) and by Hyperband's brackets ([`super::HyperbandPruner`]).

/// The rung resources r·η^(s+k), k = 0, 1, ..., that are below `max_resource`: the points
/// at which a trial is compared with the others (`s` is the minimum early-stopping rate).
pub fn rung_resources(min_resource: u64, max_resource: u64, eta: u64, s: u32) -> Vec<u64> {
    let eta = eta.max(2);
    let mut out = Vec::new();
    let mut r = min_resource.max(1).saturating_mul(eta.saturating_pow(s));
    while r < max_resource {
        out.push(r);
        r = r.saturating_mul(eta);
    }
    out
}

/// ASHA's rungs r·η^k below `max_resource`, then `max_resource` itself: the budgets a
/// promotion-based ASHA hands out, and the ones a model-based sampler over ASHA (BOHB) fits its
/// models at.
pub fn asha_budgets(min_resource: u64, max_resource: u64, eta: u64) -> Vec<u64> {
    let mut out = rung_resources(min_resource, max_resource, eta, 0);
    out.push(max_resource);
    out
}

/// The indices of the configurations that survive one rung: the best ⌊n/η⌋ by loss (smaller
/// is better; ties broken by position), at least one when any is given.
pub fn successive_halving_survivors(losses: &[f64], eta: u64) -> Vec<usize> {
    let keep = (losses.len() / eta.max(2) as usize).max(usize::from(!losses.is_empty()));
    let mut order: Vec<usize> = (0..losses.len()).collect();
    order.sort_by(|&a, &b| losses[a].total_cmp(&losses[b]).then(a.cmp(&b)));
    order.truncate(keep);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_eta_below_the_maximum() {
        assert_eq!(rung_resources(1, 81, 3, 0), vec![1, 3, 9, 27]);
        assert_eq!(rung_resources(1, 81, 3, 2), vec![9, 27]);
        assert_eq!(rung_resources(2, 100, 4, 0), vec![2, 8, 32]);
        assert!(rung_resources(100, 50, 3, 0).is_empty());
        assert_eq!(asha_budgets(1, 52, 3), vec![1, 3, 9, 27, 52]);
    }

    /// The paper's rule: each rung keeps exactly the best 1/η. Starting from 81 configurations
    /// with η = 3, the rungs hold 81, 27, 9, 3 and 1, and the survivors are always the best.
    #[test]
    fn each_rung_keeps_exactly_the_best_one_over_eta() {
        // Losses that keep their order as the resource grows (a consistent problem).
        let quality: Vec<f64> = (0..81).map(|i| ((i * 37) % 81) as f64).collect();
        let mut alive: Vec<usize> = (0..81).collect();
        let mut sizes = vec![alive.len()];
        while alive.len() > 1 {
            let losses: Vec<f64> = alive.iter().map(|&i| quality[i]).collect();
            let keep = successive_halving_survivors(&losses, 3);
            assert_eq!(keep.len(), alive.len() / 3);
            let mut kept: Vec<f64> = keep.iter().map(|&k| losses[k]).collect();
            let mut sorted = losses.clone();
            sorted.sort_by(f64::total_cmp);
            kept.sort_by(f64::total_cmp);
            assert_eq!(
                kept,
                sorted[..kept.len()].to_vec(),
                "the survivors are the best"
            );
            alive = keep.iter().map(|&k| alive[k]).collect();
            sizes.push(alive.len());
        }
        assert_eq!(sizes, vec![81, 27, 9, 3, 1]);
        assert_eq!(quality[alive[0]], 0.0, "the best configuration wins");
        assert_eq!(successive_halving_survivors(&[5.0, 1.0], 3), vec![1]);
        assert!(successive_halving_survivors(&[], 3).is_empty());
    }
}
