//! The Mann-Whitney U test, one-sided: is one sample stochastically larger than another?
//! The benchmark report uses it beside its median comparisons, to tell a lead that seed
//! noise could give from one it hardly could.
//!
//! U counts the pairs (x, y) with x > y, a tie counting one half; under the null hypothesis
//! (both samples from one distribution) it has mean n·m/2, and the p-value here comes from the
//! normal approximation with the tie-corrected variance and a continuity correction of 1/2.
//!
//! # References
//! - H. B. Mann, D. R. Whitney, "On a Test of Whether one of Two Random Variables is
//!   Stochastically Larger than the Other", Annals of Mathematical Statistics 18(1), 1947.

use tuneforge::sampler::gp::acquisition::norm_cdf;

/// U for `x` against `y`: the pairs with x > y plus half the ties. U(x, y) + U(y, x) = n·m.
pub fn u_statistic(x: &[f64], y: &[f64]) -> f64 {
    x.iter()
        .map(|a| {
            y.iter()
                .map(|b| match a.total_cmp(b) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .sum::<f64>()
        })
        .sum()
}

/// The one-sided p-value for "`x` tends to be larger than `y`". 1 when a sample is empty or
/// every value is tied (no evidence either way). NaN values are ordered after every number
/// (`f64::total_cmp`), so callers should map them to a meaningful value first.
pub fn p_greater(x: &[f64], y: &[f64]) -> f64 {
    let (n, m) = (x.len() as f64, y.len() as f64);
    if x.is_empty() || y.is_empty() {
        return 1.0;
    }
    let total = n + m;
    // Tie correction: sum of t³ − t over the groups of equal values in the pooled sample.
    let mut pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let j = pooled[i..]
            .iter()
            .take_while(|v| v.total_cmp(&pooled[i]).is_eq())
            .count();
        let t = j as f64;
        ties += t * t * t - t;
        i += j;
    }
    let var = n * m / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u_statistic(x, y) - n * m / 2.0 - 0.5) / var.sqrt();
    1.0 - norm_cdf(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_u_statistics_sum_to_n_times_m() {
        // Mann and Whitney: U and U' = n·m − U, ties counted one half each way.
        let a = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 5.0, 7.0];
        let b = [0.0, 1.0, 1.0, 2.0, 2.0, 4.0];
        assert_eq!(u_statistic(&a, &b) + u_statistic(&b, &a), 48.0);
        assert_eq!(u_statistic(&a, &b), 37.0);
    }

    #[test]
    fn complete_separation_is_significant_and_only_one_way() {
        let hi: Vec<f64> = (10..20).map(f64::from).collect();
        let lo: Vec<f64> = (0..10).map(f64::from).collect();
        // z = (100 − 50 − 0.5) / sqrt(100·21/12) = 3.742: p = 9.13e-5.
        let p = p_greater(&hi, &lo);
        assert!((p - 9.1336e-5).abs() < 1e-8, "{p}");
        assert!(p_greater(&lo, &hi) > 0.999);
    }

    #[test]
    fn ties_shrink_the_variance() {
        // Pooled ties {1: 3, 2: 4, 3: 3}: the corrected normal approximation gives 0.0498.
        let a = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 5.0, 7.0];
        let b = [0.0, 1.0, 1.0, 2.0, 2.0, 4.0];
        let p = p_greater(&a, &b);
        assert!((p - 0.049816).abs() < 1e-5, "{p}");
    }

    #[test]
    fn equal_samples_give_no_evidence() {
        assert_eq!(p_greater(&[1.0, 1.0, 1.0], &[1.0, 1.0]), 1.0);
        assert_eq!(p_greater(&[], &[1.0]), 1.0);
        let s = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0];
        assert!(p_greater(&s, &s) > 0.5);
    }
}
