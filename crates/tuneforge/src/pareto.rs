//! Pareto dominance for several objectives (all minimised here; flip signs to maximise): the
//! Pareto front, non-dominated sorting and crowding distance (NSGA-II), constrained dominance,
//! and the hypervolume indicator.

/// True when `a` Pareto-dominates `b`: no worse in every objective and better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Indices of the non-dominated points (the first Pareto front), in input order. Duplicated
/// points are all kept.
pub fn pareto_front(points: &[Vec<f64>]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| !points.iter().any(|q| dominates(q, &points[i])))
        .collect()
}

/// Fast non-dominated sorting (Deb et al. 2002, §III-A): the fronts F1, F2, ... as index lists,
/// F1 being the non-dominated points, F2 those dominated only by F1, and so on. `dominates`
/// decides dominance (plain Pareto dominance, or constrained dominance).
pub fn non_dominated_fronts(n: usize, dominates: impl Fn(usize, usize) -> bool) -> Vec<Vec<usize>> {
    let mut dominated_by: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut count = vec![0usize; n];
    let mut fronts = vec![Vec::new()];
    for p in 0..n {
        for q in 0..n {
            if p == q {
                continue;
            }
            if dominates(p, q) {
                dominated_by[p].push(q);
            } else if dominates(q, p) {
                count[p] += 1;
            }
        }
        if count[p] == 0 {
            fronts[0].push(p);
        }
    }
    let mut i = 0;
    while !fronts[i].is_empty() {
        let mut next = Vec::new();
        for &p in &fronts[i] {
            for &q in &dominated_by[p] {
                count[q] -= 1;
                if count[q] == 0 {
                    next.push(q);
                }
            }
        }
        next.sort_unstable();
        i += 1;
        fronts.push(next);
    }
    fronts.pop();
    fronts
}

/// Crowding distance of each point of one front (Deb et al. 2002, §III-B): for each objective,
/// the boundary points get infinity and the others the normalised gap between their two
/// neighbours, summed over objectives. Returned in the order of `front`.
pub fn crowding_distance(points: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let n = front.len();
    let mut d = vec![0.0; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let m = points[front[0]].len();
    #[allow(clippy::needless_range_loop)] // k indexes the objective within each point
    for k in 0..m {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| points[front[a]][k].total_cmp(&points[front[b]][k]));
        let lo = points[front[order[0]]][k];
        let hi = points[front[order[n - 1]]][k];
        d[order[0]] = f64::INFINITY;
        d[order[n - 1]] = f64::INFINITY;
        if hi > lo {
            for w in 1..n - 1 {
                let gap = points[front[order[w + 1]]][k] - points[front[order[w - 1]]][k];
                d[order[w]] += gap / (hi - lo);
            }
        }
    }
    d
}

/// Constrained dominance (Deb et al. 2002, §VI): a feasible point (total violation 0) beats an
/// infeasible one; of two infeasible points the smaller violation wins; of two feasible ones,
/// Pareto dominance decides.
pub fn constrained_dominates(a: &[f64], va: f64, b: &[f64], vb: f64) -> bool {
    match (va <= 0.0, vb <= 0.0) {
        (true, false) => true,
        (false, true) => false,
        (false, false) => va < vb,
        (true, true) => dominates(a, b),
    }
}

/// The hypervolume (all objectives minimised) dominated by `points` and bounded by `reference`:
/// the measure of the union of the boxes [p, reference]. Points not better than the reference
/// in every objective add nothing. Exact, by slicing along the last objective (fine for the
/// front sizes of a study).
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let pts: Vec<&Vec<f64>> = points
        .iter()
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x < r))
        .collect();
    hv(&pts.into_iter().cloned().collect::<Vec<_>>(), reference)
}

fn hv(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let m = reference.len();
    if points.is_empty() {
        return 0.0;
    }
    if m == 1 {
        let best = points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
        return (reference[0] - best).max(0.0);
    }
    if m == 2 {
        let mut ps: Vec<(f64, f64)> = points.iter().map(|p| (p[0], p[1])).collect();
        ps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut area = 0.0;
        let mut y_best = reference[1];
        for (x, y) in ps {
            if y < y_best {
                area += (reference[0] - x) * (y_best - y);
                y_best = y;
            }
        }
        return area;
    }
    // Slice along the last objective: between consecutive values, the (m−1)-D hypervolume of
    // the points at or below the slice.
    let mut order: Vec<&Vec<f64>> = points.iter().collect();
    order.sort_by(|a, b| a[m - 1].total_cmp(&b[m - 1]));
    let mut total = 0.0;
    for i in 0..order.len() {
        let lo = order[i][m - 1];
        let hi = if i + 1 < order.len() {
            order[i + 1][m - 1]
        } else {
            reference[m - 1]
        };
        if hi <= lo {
            continue;
        }
        let slice: Vec<Vec<f64>> = order[..=i].iter().map(|p| p[..m - 1].to_vec()).collect();
        total += hv(&slice, &reference[..m - 1]) * (hi - lo);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_keeps_exactly_the_non_dominated_points() {
        let pts = vec![
            vec![1.0, 5.0],
            vec![2.0, 2.0],
            vec![3.0, 3.0], // dominated by (2,2)
            vec![5.0, 1.0],
            vec![2.0, 2.0], // duplicate stays
        ];
        assert_eq!(pareto_front(&pts), vec![0, 1, 3, 4]);
        assert!(dominates(&[1.0, 1.0], &[1.0, 2.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
    }

    #[test]
    fn fronts_are_peeled_in_order_of_dominance() {
        let pts = [
            vec![1.0, 4.0], // F1
            vec![2.0, 2.0], // F1
            vec![4.0, 1.0], // F1
            vec![3.0, 3.0], // F2 (dominated by (2,2))
            vec![2.5, 4.5], // F2 (dominated by (1,4) and (2,2))
            vec![5.0, 5.0], // F3
        ];
        let fronts = non_dominated_fronts(pts.len(), |a, b| dominates(&pts[a], &pts[b]));
        assert_eq!(fronts, vec![vec![0, 1, 2], vec![3, 4], vec![5]]);
    }

    #[test]
    fn crowding_gives_the_extremes_infinity_and_the_rest_their_normalised_gaps() {
        let pts = vec![
            vec![0.0, 4.0],
            vec![1.0, 3.0],
            vec![3.0, 1.0],
            vec![4.0, 0.0],
        ];
        let d = crowding_distance(&pts, &[0, 1, 2, 3]);
        assert!(d[0].is_infinite() && d[3].is_infinite());
        // Point 1: (3 − 0)/4 + (4 − 1)/4 = 1.5; point 2 likewise.
        assert!((d[1] - 1.5).abs() < 1e-12 && (d[2] - 1.5).abs() < 1e-12);
    }

    #[test]
    fn feasible_beats_infeasible_and_smaller_violation_beats_larger() {
        assert!(constrained_dominates(&[9.0, 9.0], 0.0, &[0.0, 0.0], 0.1));
        assert!(!constrained_dominates(&[0.0, 0.0], 0.1, &[9.0, 9.0], 0.0));
        assert!(constrained_dominates(&[9.0, 9.0], 0.2, &[0.0, 0.0], 0.5));
        assert!(constrained_dominates(&[1.0, 1.0], 0.0, &[2.0, 1.0], 0.0));
        assert!(!constrained_dominates(&[1.0, 2.0], 0.0, &[2.0, 1.0], 0.0));
    }

    #[test]
    fn hypervolume_is_the_measure_of_the_dominated_region() {
        // Two boxes [1,3]x[2,3] ∪ [2,3]x[1,3] = 2 + 2 − 1 = 3.
        assert!((hypervolume(&[vec![1.0, 2.0], vec![2.0, 1.0]], &[3.0, 3.0]) - 3.0).abs() < 1e-12);
        // A dominated point adds nothing; a point beyond the reference adds nothing.
        let base = hypervolume(&[vec![1.0, 2.0], vec![2.0, 1.0]], &[3.0, 3.0]);
        let more = hypervolume(
            &[
                vec![1.0, 2.0],
                vec![2.0, 1.0],
                vec![2.5, 2.5],
                vec![4.0, 0.0],
            ],
            &[3.0, 3.0],
        );
        assert_eq!(base, more);
        // 3-D: unit cubes at the origin and shifted: 1 + 1 − overlap 0.125 = 1.875.
        let v = hypervolume(
            &[vec![0.0, 0.0, 0.0], vec![0.5, 0.5, 0.5]],
            &[1.0, 1.0, 1.0],
        );
        assert!(
            (v - 1.0).abs() < 1e-12,
            "the second cube lies inside the first: {v}"
        );
        let v = hypervolume(
            &[vec![0.0, 0.5, 0.5], vec![0.5, 0.0, 0.0]],
            &[1.0, 1.0, 1.0],
        );
        // 0.25 + 0.5 − overlap (0.5·0.5·0.5 = 0.125) = 0.625.
        assert!((v - 0.625).abs() < 1e-12, "{v}");
    }
}
