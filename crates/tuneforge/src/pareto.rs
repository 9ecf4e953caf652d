//! Pareto dominance for several objectives (all minimised here; flip signs to maximise).

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
}
