//! Turns run results into Markdown tables and writes them into one marked section of
//! `docs/BENCHMARKS.md`, leaving the other sections as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::harness::RunResult;

/// Quantile of sorted data (linear interpolation).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn fmt(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 || v.abs() >= 1e4 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

/// Median regret of each (problem, sampler) at `budget`.
pub fn median_regret(
    results: &[RunResult],
    f_star: &BTreeMap<String, f64>,
    budget: usize,
) -> BTreeMap<(String, String), f64> {
    let mut by: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for r in results {
        if let (Some(v), Some(fs)) = (r.best.get(budget - 1), f_star.get(&r.problem)) {
            by.entry((r.problem.clone(), r.sampler.clone()))
                .or_default()
                .push((v - fs).max(0.0));
        }
    }
    by.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, quantile(&v, 0.5))
        })
        .collect()
}

/// Mean rank of each sampler over problems, by median regret at `budget` (ties share ranks).
pub fn mean_ranks(
    results: &[RunResult],
    f_star: &BTreeMap<String, f64>,
    budget: usize,
) -> Vec<(String, f64, usize)> {
    let med = median_regret(results, f_star, budget);
    // Only problems that every sampler ran count, so the ranks compare like with like.
    let samplers: BTreeSet<&String> = med.keys().map(|(_, s)| s).collect();
    let problems: BTreeSet<&String> = med
        .keys()
        .map(|(p, _)| p)
        .filter(|p| {
            samplers
                .iter()
                .all(|s| med.contains_key(&((*p).clone(), (*s).clone())))
        })
        .collect();
    let mut ranks: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for p in problems {
        let mut row: Vec<(&String, f64)> = med
            .iter()
            .filter(|((q, _), _)| q == p)
            .map(|((_, s), v)| (s, *v))
            .collect();
        row.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut i = 0;
        while i < row.len() {
            let mut j = i;
            while j + 1 < row.len() && row[j + 1].1 == row[i].1 {
                j += 1;
            }
            let r = (i + j) as f64 / 2.0 + 1.0;
            for item in &row[i..=j] {
                ranks.entry(item.0.clone()).or_default().push(r);
            }
            i = j + 1;
        }
    }
    let mut out: Vec<(String, f64, usize)> = ranks
        .into_iter()
        .map(|(s, r)| (s, r.iter().sum::<f64>() / r.len() as f64, r.len()))
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

/// tuneforge samplers and their Optuna counterparts, compared head to head.
pub const COUNTERPARTS: [(&str, &str); 4] = [
    ("tpe", "optuna-tpe"),
    ("tpe-watanabe", "optuna-tpe"),
    ("gp", "optuna-gp"),
    ("cmaes", "optuna-cmaes"),
];

/// For each (ours, peer) pair that both ran: the problems (run by both) where our median regret
/// at `budget` is at most the peer's, and the ones where it is worse.
pub fn head_to_head(
    results: &[RunResult],
    f_star: &BTreeMap<String, f64>,
    budget: usize,
    pairs: &[(&str, &str)],
) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let med = median_regret(results, f_star, budget);
    let mut out = Vec::new();
    for (ours, peer) in pairs {
        let (mut wins, mut losses) = (Vec::new(), Vec::new());
        for ((p, s), v) in &med {
            if s != ours {
                continue;
            }
            if let Some(w) = med.get(&(p.clone(), peer.to_string())) {
                if v <= w {
                    wins.push(p.clone());
                } else {
                    losses.push(p.clone());
                }
            }
        }
        if !wins.is_empty() || !losses.is_empty() {
            out.push((ours.to_string(), peer.to_string(), wins, losses));
        }
    }
    out
}

/// What each sampler of `runs` covered, for the ones that did not run every problem with the
/// longest budget: "smac: 75 runs, 15 of 15 problems, 100 evaluations", joined by "; ".
pub fn coverage(runs: &[RunResult], n_problems: usize) -> String {
    let budget = runs.iter().map(|r| r.best.len()).max().unwrap_or(0);
    let mut by: BTreeMap<&str, (usize, BTreeSet<&str>, usize)> = BTreeMap::new();
    for r in runs {
        let e = by.entry(&r.sampler).or_insert((0, BTreeSet::new(), 0));
        e.0 += 1;
        e.1.insert(&r.problem);
        e.2 = e.2.max(r.best.len());
    }
    let partial: Vec<String> = by
        .into_iter()
        .filter(|(_, (_, p, b))| p.len() < n_problems || *b < budget)
        .map(|(s, (n, p, b))| {
            format!(
                "{s}: {n} runs, {} of {n_problems} problems, {b} evaluations",
                p.len()
            )
        })
        .collect();
    if partial.is_empty() {
        "every peer ran every problem".into()
    } else {
        format!("slow peers ran less: {}", partial.join("; "))
    }
}

/// The sampler-quality section: regret tables per problem, sampler time, mean ranks.
pub fn samplers_section(
    results: &[RunResult],
    f_star: &BTreeMap<String, f64>,
    budgets: &[usize],
    header: &str,
) -> String {
    let mut s = String::new();
    s.push_str(header);
    let max_budget = *budgets.iter().max().unwrap_or(&0);
    let at = *budgets.iter().find(|b| **b == 100).unwrap_or(&max_budget);
    // Samplers that ran every problem, and those that ran only some (e.g. a slow peer).
    let all_problems: BTreeSet<&String> = results.iter().map(|r| &r.problem).collect();
    let all_samplers: BTreeSet<&String> = results.iter().map(|r| &r.sampler).collect();
    let full: BTreeSet<&String> = all_samplers
        .iter()
        .copied()
        .filter(|s| {
            all_problems
                .iter()
                .all(|p| results.iter().any(|r| &r.sampler == *s && &r.problem == *p))
        })
        .collect();
    let rank_table = |s: &mut String, rs: &[RunResult]| {
        s.push_str("| sampler | mean rank | problems |\n|---|---|---|\n");
        for (name, r, n) in mean_ranks(rs, f_star, at) {
            s.push_str(&format!("| {name} | {r:.2} | {n} |\n"));
        }
    };
    s.push_str(&format!(
        "\n### Mean rank at {at} evaluations (by median regret; 1 = best), all {} problems\n\n",
        all_problems.len()
    ));
    let covered: Vec<RunResult> = results
        .iter()
        .filter(|r| full.contains(&r.sampler))
        .cloned()
        .collect();
    rank_table(&mut s, &covered);
    // Each sampler that ran only some problems, ranked with the full ones on its problems.
    for partial in all_samplers.iter().filter(|x| !full.contains(*x)) {
        let mine: BTreeSet<&String> = results
            .iter()
            .filter(|r| &r.sampler == *partial)
            .map(|r| &r.problem)
            .collect();
        s.push_str(&format!(
            "\n### Mean rank at {at} evaluations with {partial}, on the {} problems it ran\n\n",
            mine.len()
        ));
        let rs: Vec<RunResult> = results
            .iter()
            .filter(|r| mine.contains(&r.problem))
            .filter(|r| full.contains(&r.sampler) || &r.sampler == *partial)
            .cloned()
            .collect();
        rank_table(&mut s, &rs);
    }
    let h2h = head_to_head(results, f_star, at, &COUNTERPARTS);
    if !h2h.is_empty() {
        s.push_str(&format!(
            "\n### Against the Optuna counterpart at {at} evaluations\n\nProblems (run by both) where tuneforge's median regret is at most the peer's.\n\n| tuneforge | peer | at least as good | share | worse on |\n|---|---|---|---|---|\n"
        ));
        for (ours, peer, wins, losses) in h2h {
            let n = wins.len() + losses.len();
            s.push_str(&format!(
                "| {ours} | {peer} | {} of {n} | {:.0} % | {} |\n",
                wins.len(),
                100.0 * wins.len() as f64 / n as f64,
                if losses.is_empty() {
                    "-".to_string()
                } else {
                    losses.join(", ")
                }
            ));
        }
    }
    let problems: BTreeSet<&String> = results.iter().map(|r| &r.problem).collect();
    for p in problems {
        let fs = f_star.get(p).copied().unwrap_or(0.0);
        s.push_str(&format!("\n### {p} (f* = {})\n\nSimple regret, median [25%, 75%] over seeds; sampler time per trial.\n\n", fmt(fs)));
        s.push_str("| sampler | seeds |");
        for b in budgets {
            s.push_str(&format!(" {b} |"));
        }
        s.push_str(" ms/trial |\n|---|---|");
        for _ in budgets {
            s.push_str("---|");
        }
        s.push_str("---|\n");
        let samplers: BTreeSet<&String> = results
            .iter()
            .filter(|r| &r.problem == p)
            .map(|r| &r.sampler)
            .collect();
        for name in samplers {
            let runs: Vec<&RunResult> = results
                .iter()
                .filter(|r| &r.problem == p && &r.sampler == name)
                .collect();
            s.push_str(&format!("| {name} | {} |", runs.len()));
            for &b in budgets {
                let mut v: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.best.get(b - 1))
                    .map(|x| (x - fs).max(0.0))
                    .collect();
                v.sort_by(f64::total_cmp);
                if v.is_empty() {
                    s.push_str(" - |");
                } else {
                    s.push_str(&format!(
                        " {} [{}, {}] |",
                        fmt(quantile(&v, 0.5)),
                        fmt(quantile(&v, 0.25)),
                        fmt(quantile(&v, 0.75))
                    ));
                }
            }
            let ms =
                runs.iter().map(|r| r.sampler_s_per_trial).sum::<f64>() / runs.len() as f64 * 1e3;
            s.push_str(&format!(" {} |\n", fmt(ms)));
        }
    }
    s
}

/// Replaces the section named `name` in the Markdown file at `path` (creating either).
pub fn write_section(path: &Path, name: &str, body: &str) -> std::io::Result<()> {
    let begin = format!("<!-- section:{name}:begin (written by tuneforge-bench, do not edit) -->");
    let end = format!("<!-- section:{name}:end -->");
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# tuneforge benchmarks\n\nEvery table below is written by `tuneforge-bench`; the command that produced it heads its section.\n".to_string()
    });
    let block = format!("{begin}\n{body}\n{end}");
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{}{}", &old[..b], block, &old[e + end.len()..]),
        _ => format!("{}\n{}\n", old.trim_end(), block),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(problem: &str, sampler: &str, last: f64) -> RunResult {
        RunResult {
            problem: problem.into(),
            sampler: sampler.into(),
            seed: 0,
            best: vec![last; 100],
            sampler_s_per_trial: 0.001,
        }
    }

    #[test]
    fn ranks_average_over_problems_and_share_ties() {
        let fs = BTreeMap::from([("p".to_string(), 0.0), ("q".to_string(), 0.0)]);
        let res = vec![
            r("p", "a", 1.0),
            r("p", "b", 2.0),
            r("p", "c", 2.0),
            r("q", "a", 3.0),
            r("q", "b", 1.0),
            r("q", "c", 2.0),
        ];
        let ranks = mean_ranks(&res, &fs, 100);
        let get = |n: &str| ranks.iter().find(|x| x.0 == n).unwrap().1;
        assert_eq!(get("a"), 2.0); // 1 and 3
        assert_eq!(get("b"), 1.75); // 2.5 and 1
        assert_eq!(get("c"), 2.25); // 2.5 and 2
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        // A sampler that skipped problem q restricts the ranking to the shared problem p.
        let mut partial = res.clone();
        partial.push(r("p", "d", 0.5));
        let ranks = mean_ranks(&partial, &fs, 100);
        assert!(
            ranks.iter().all(|x| x.2 == 1),
            "only problem p counts: {ranks:?}"
        );
        assert_eq!(ranks[0].0, "d");
    }

    #[test]
    fn head_to_head_counts_ties_as_at_least_as_good_and_skips_problems_one_side_lacks() {
        let f_star: BTreeMap<String, f64> = ["a", "b", "c", "d"]
            .iter()
            .map(|p| (p.to_string(), 0.0))
            .collect();
        let runs = vec![
            r("a", "tpe", 1.0),
            r("a", "optuna-tpe", 2.0),
            r("b", "tpe", 2.0),
            r("b", "optuna-tpe", 2.0),
            r("c", "tpe", 3.0),
            r("c", "optuna-tpe", 1.0),
            r("d", "tpe", 0.0),
            r("a", "cmaes", 1.0),
        ];
        let h = head_to_head(&runs, &f_star, 1, &COUNTERPARTS);
        assert_eq!(h.len(), 1, "cmaes has no counterpart runs: {h:?}");
        let (ours, peer, wins, losses) = &h[0];
        assert_eq!((ours.as_str(), peer.as_str()), ("tpe", "optuna-tpe"));
        assert_eq!(wins, &["a".to_string(), "b".to_string()]);
        assert_eq!(losses, &["c".to_string()]);
    }

    #[test]
    fn coverage_names_only_the_peers_that_ran_less() {
        let mut short = r("p", "slow", 1.0);
        short.best.truncate(50);
        let runs = vec![
            r("p", "full", 1.0),
            r("q", "full", 1.0),
            r("p", "some", 1.0),
            short,
        ];
        assert_eq!(
            coverage(&runs, 2),
            "slow peers ran less: slow: 1 runs, 1 of 2 problems, 50 evaluations; \
             some: 1 runs, 1 of 2 problems, 100 evaluations"
        );
        assert_eq!(coverage(&runs[..2], 2), "every peer ran every problem");
    }

    #[test]
    fn sections_are_replaced_in_place() {
        let dir = std::env::temp_dir().join(format!("tf-report-{}", std::process::id()));
        let path = dir.join("B.md");
        write_section(&path, "a", "first").unwrap();
        write_section(&path, "b", "other").unwrap();
        write_section(&path, "a", "second").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("second") && !text.contains("first") && text.contains("other"));
        assert!(text.find("second").unwrap() < text.find("other").unwrap());
        std::fs::remove_dir_all(dir).ok();
    }
}
