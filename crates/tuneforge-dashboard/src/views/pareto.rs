//! The Pareto front of a study with several objectives: the non-dominated complete trials on
//! two chosen objectives (all others ignored), found by one sort and a sweep, and an even
//! sample of the dominated ones.

use serde_json::json;

use super::{ViewResult, num, stride};
use crate::snapshot::Snapshot;

/// Most dominated trials returned.
const MAX_DOMINATED: usize = 3000;

/// The numbers of the trials on the front of objectives `x` and `y`, ordered along `x`.
pub fn front_numbers(s: &Snapshot, x: usize, y: usize) -> Vec<u64> {
    front(s, x, y).0.iter().map(|p| p.0).collect()
}

type Point = (u64, f64, f64);

/// (front, dominated), each as (number, value x, value y).
fn front(s: &Snapshot, x: usize, y: usize) -> (Vec<Point>, Vec<Point>) {
    let (dx, dy) = (s.direction(x), s.direction(y));
    let mut pts: Vec<Point> = s
        .trials
        .iter()
        .filter(|t| t.state == tuneforge::TrialState::Complete)
        .filter_map(|t| {
            let v = t.values.as_ref()?;
            let (a, b) = (*v.get(x)?, *v.get(y)?);
            (a.is_finite() && b.is_finite()).then_some((t.number, a, b))
        })
        .collect();
    // Sweep in order of x (best first; ties broken by y): a point is on the front when its y
    // beats every y seen so far.
    pts.sort_by(|a, b| dx.order(a.1, b.1).then(dy.order(a.2, b.2)));
    let mut on = Vec::new();
    let mut off = Vec::new();
    let mut best_y: Option<f64> = None;
    let mut last_on: Option<(f64, f64)> = None;
    for p in pts {
        let duplicate = last_on == Some((p.1, p.2));
        if duplicate || best_y.is_none_or(|b| dy.better(p.2, b)) {
            best_y = Some(p.2);
            last_on = Some((p.1, p.2));
            on.push(p);
        } else {
            off.push(p);
        }
    }
    (on, off)
}

/// The front on objectives `x` and `y` (indices) and a sample of the dominated trials.
pub fn pareto(s: &Snapshot, x: usize, y: usize) -> ViewResult {
    if s.record.directions.len() < 2 {
        return Err("the study has one objective: there is no Pareto front".to_string());
    }
    if x == y {
        return Err("pick two different objectives".to_string());
    }
    let (on, off) = front(s, x, y);
    let row = |p: &Point| json!([p.0, num(p.1), num(p.2)]);
    let mut sample: Vec<Point> = stride(off.len(), MAX_DOMINATED)
        .into_iter()
        .map(|k| off[k])
        .collect();
    sample.sort_by_key(|p| p.0);
    Ok(json!({
        "x": s.objectives.get(x),
        "y": s.objectives.get(y),
        "objectives": s.objectives,
        "front": on.iter().map(row).collect::<Vec<_>>(),
        "dominated": sample.iter().map(row).collect::<Vec<_>>(),
        "dominated_total": off.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneforge::pareto::pareto_front;
    use tuneforge::{Direction, FrozenTrial, StudyRecord, TrialState};

    #[test]
    fn the_sweep_finds_the_same_front_as_pairwise_dominance() {
        let record = StudyRecord {
            id: 1,
            name: "p".into(),
            directions: vec![Direction::Minimize, Direction::Maximize],
            attrs: Default::default(),
            created_ms: 0,
        };
        let mut s = crate::snapshot::Snapshot::for_tests(record);
        let mut pts = Vec::new();
        for i in 0..400u64 {
            let a = ((i * 37) % 101) as f64;
            let b = ((i * 53) % 97) as f64;
            let mut t = FrozenTrial::new_for_tests(i, TrialState::Complete);
            t.values = Some(vec![a, b]);
            s.trials.push(t);
            pts.push(vec![a, -b]);
        }
        let mut expected: Vec<u64> = pareto_front(&pts).into_iter().map(|i| i as u64).collect();
        let mut got = front_numbers(&s, 0, 1);
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected);
        assert!(!got.is_empty());
    }
}
