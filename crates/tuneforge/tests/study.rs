//! Behaviour of studies and trials through the public library API.

use indexmap::IndexMap;
use std::sync::Arc;
use tuneforge::storage::{SqliteStorage, Storage};
use tuneforge::{
    Direction, Error, GridSampler, Optimize, Outcome, ParamValue, RandomSampler, SobolSampler,
    Study, TrialState,
};

fn study(name: &str) -> Study {
    Study::builder(name)
        .sampler(RandomSampler::new(1))
        .build()
        .unwrap()
}

#[test]
fn failing_panicking_and_nan_objectives_fail_their_trial_and_the_study_goes_on() {
    let s = study("faults");
    s.optimize(
        |t| -> Result<f64, Error> {
            let x = t.suggest_float("x", 0.0, 1.0).get()?;
            match t.number() {
                1 => Err(Error::invalid("diverged")),
                2 => panic!("index out of bounds"),
                3 => Ok(f64::NAN),
                4 => Ok(f64::INFINITY),
                _ => Ok(x),
            }
        },
        Optimize::trials(7),
    )
    .unwrap();
    let trials = s.trials().unwrap();
    assert_eq!(trials.len(), 7);
    let msg = |n: usize| trials[n].message.clone().unwrap_or_default();
    assert_eq!(trials[1].state, TrialState::Failed);
    assert!(msg(1).contains("diverged"), "{}", msg(1));
    assert!(
        msg(2).contains("panicked") && msg(2).contains("index out of bounds"),
        "{}",
        msg(2)
    );
    assert!(
        msg(3).contains("NaN") && msg(3).contains("not a finite number"),
        "{}",
        msg(3)
    );
    assert!(msg(4).contains("inf"), "{}", msg(4));
    for n in [0, 5, 6] {
        assert_eq!(trials[n].state, TrialState::Complete);
        assert_eq!(
            trials[n].values,
            Some(vec![trials[n].params["x"].as_f64().unwrap()])
        );
    }
    // Parameters suggested before the failure are kept.
    assert!(trials[2].params.contains_key("x"));
}

#[test]
fn conditional_parameters_are_absent_when_inactive() {
    let s = study("cond");
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            let opt = t.suggest_categorical("optimizer", &["sgd", "adam"])?;
            let lr = t.suggest_float("lr", 1e-5, 1e-1).log().get()?;
            if opt == "sgd" {
                let m = t.suggest_float("momentum", 0.85, 0.98).get()?;
                return Ok(lr * m);
            }
            Ok(lr)
        },
        Optimize::trials(40),
    )
    .unwrap();
    let trials = s.trials().unwrap();
    let mut seen = [0, 0];
    for t in &trials {
        let sgd = t.params["optimizer"] == ParamValue::from("sgd");
        assert_eq!(t.params.contains_key("momentum"), sgd, "{:?}", t.params);
        seen[sgd as usize] += 1;
    }
    assert!(
        seen[0] > 5 && seen[1] > 5,
        "both branches explored: {seen:?}"
    );
}

#[test]
fn suggestions_respect_bounds_steps_log_scale_and_integers() {
    let s = study("bounds");
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            let a = t.suggest_float("a", -2.0, 3.0).step(0.5).get()?;
            let b = t.suggest_int("b", 3, 17).step(2).get()?;
            let c = t.suggest_int("c", 1, 1000).log().get()?;
            let d = t.suggest_float("d", 1e-6, 1e-1).log().get()?;
            assert!(
                (-2.0..=3.0).contains(&a) && (a * 2.0).fract() == 0.0,
                "a = {a}"
            );
            assert!((3..=17).contains(&b) && (b - 3) % 2 == 0, "b = {b}");
            assert!((1..=1000).contains(&c), "c = {c}");
            assert!((1e-6..=1e-1).contains(&d), "d = {d}");
            // Asking again returns the same value; another distribution is an error.
            assert_eq!(t.suggest_float("a", -2.0, 3.0).step(0.5).get()?, a);
            assert!(matches!(
                t.suggest_float("a", 0.0, 1.0).get(),
                Err(Error::ParamConflict { .. })
            ));
            Ok(a + b as f64 + c as f64 + d)
        },
        Optimize::trials(200),
    )
    .unwrap();
    let trials = s.trials().unwrap();
    assert!(trials.iter().all(|t| t.state == TrialState::Complete));
    // log scale: about half the draws of c fall below sqrt(1000) ~ 31.6
    let low = trials
        .iter()
        .filter(|t| t.params["c"].as_i64().unwrap() < 32)
        .count();
    assert!((70..=130).contains(&low), "{low} of 200 below 32");
}

#[test]
fn invalid_suggestions_fail_the_trial_with_the_reason() {
    let s = study("invalid");
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            t.suggest_float("x", 1.0, 0.0).get()?;
            Ok(0.0)
        },
        Optimize::trials(1),
    )
    .unwrap();
    let t = &s.trials().unwrap()[0];
    assert_eq!(t.state, TrialState::Failed);
    let m = t.message.as_deref().unwrap();
    assert!(
        m.contains("parameter 'x'") && m.contains("must not exceed"),
        "{m}"
    );
}

#[test]
fn an_enqueued_baseline_runs_first_with_its_exact_values() {
    let s = study("baseline");
    let mut base = IndexMap::new();
    base.insert("lr".to_string(), ParamValue::Float(3e-4));
    base.insert("layers".to_string(), ParamValue::Int(4));
    let n = s.enqueue(base).unwrap();
    assert_eq!(n, 0);
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            let lr = t.suggest_float("lr", 1e-5, 1e-1).log().get()?;
            let layers = t.suggest_int("layers", 1, 8).get()?;
            let width = t.suggest_int("width", 16, 256).get()?; // not in the baseline: sampled
            t.set_user_attr("note", format!("w{width}"))?;
            Ok(lr * layers as f64)
        },
        Optimize::trials(3),
    )
    .unwrap();
    let trials = s.trials().unwrap();
    assert_eq!(trials[0].params["lr"], ParamValue::Float(3e-4));
    assert_eq!(trials[0].params["layers"], ParamValue::Int(4));
    assert!(trials[0].params.contains_key("width"));
    assert_eq!(
        trials[0].user_attrs["note"],
        serde_json::json!(format!("w{}", trials[0].params["width"]))
    );
    assert_eq!(trials.len(), 3);
}

#[test]
fn an_enqueued_value_outside_the_range_fails_clearly() {
    let s = study("bad-baseline");
    let mut base = IndexMap::new();
    base.insert("lr".to_string(), ParamValue::Float(5.0));
    s.enqueue(base).unwrap();
    s.optimize(
        |t| -> tuneforge::Result<f64> { t.suggest_float("lr", 1e-5, 1e-1).log().get() },
        Optimize::trials(1),
    )
    .unwrap();
    let t = &s.trials().unwrap()[0];
    assert_eq!(t.state, TrialState::Failed);
    assert!(
        t.message
            .as_deref()
            .unwrap()
            .contains("fixed value 5.0 of parameter 'lr' is outside")
    );
}

#[test]
fn ask_and_tell_with_states_and_multiple_objectives() {
    let s = Study::builder("mo")
        .directions([Direction::Maximize, Direction::Minimize])
        .sampler(SobolSampler::new(3))
        .build()
        .unwrap();
    let points = [
        (0.9, 10.0),
        (0.8, 5.0),
        (0.7, 7.0),
        (0.95, 20.0),
        (0.8, 5.0),
    ];
    for (acc, lat) in points {
        let mut t = s.ask().unwrap();
        t.suggest_int("width", 8, 64).get().unwrap();
        s.tell(t, Outcome::Complete(vec![acc, lat])).unwrap();
    }
    let t = s.ask().unwrap();
    assert_eq!(s.trials().unwrap()[5].state, TrialState::Running);
    s.tell(t, Outcome::Pruned).unwrap();
    let t = s.ask().unwrap();
    let done = s.tell(t, Outcome::Complete(vec![1.0])).unwrap();
    assert_eq!(done.state, TrialState::Failed, "wrong number of values");
    assert!(done.message.unwrap().contains("2 objective"));
    // (0.7, 7) is dominated by (0.8, 5); the rest form the front (duplicates kept).
    let mut front: Vec<u64> = s.best_trials().unwrap().iter().map(|t| t.number).collect();
    front.sort();
    assert_eq!(front, vec![0, 1, 3, 4]);
    assert!(
        s.best_trial().is_err(),
        "single best of a multi-objective study"
    );
    // Telling a finished trial again is refused and changes nothing.
    assert!(matches!(
        s.tell_number(0, Outcome::Complete(vec![0.0, 0.0])),
        Err(Error::TrialFinished(0))
    ));
    assert_eq!(s.trials().unwrap()[0].values, Some(vec![0.9, 10.0]));
}

fn sequence(make: &dyn Fn() -> Study) -> Vec<IndexMap<String, ParamValue>> {
    let s = make();
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            let x = t.suggest_float("x", -5.0, 5.0).get()?;
            let k = t.suggest_categorical("k", &["a", "b", "c"])?;
            let n = if k == "a" {
                t.suggest_int("n", 1, 100).log().get()?
            } else {
                0
            };
            Ok(x + n as f64)
        },
        Optimize::trials(20),
    )
    .unwrap();
    s.trials().unwrap().into_iter().map(|t| t.params).collect()
}

#[test]
fn seeded_samplers_reproduce_identical_configurations() {
    let grid = || {
        let mut g = IndexMap::new();
        g.insert(
            "x".to_string(),
            (0..5).map(|i| ParamValue::Float(i as f64)).collect(),
        );
        g.insert("k".to_string(), vec!["a".into(), "b".into(), "c".into()]);
        g.insert(
            "n".to_string(),
            vec![ParamValue::Int(1), ParamValue::Int(10)],
        );
        g
    };
    type Maker = Box<dyn Fn(u64) -> Study>;
    let makers: Vec<(&str, Maker)> = vec![
        (
            "random",
            Box::new(|seed| {
                Study::builder("r")
                    .sampler(RandomSampler::new(seed))
                    .build()
                    .unwrap()
            }),
        ),
        (
            "sobol",
            Box::new(|seed| {
                Study::builder("s")
                    .sampler(SobolSampler::new(seed))
                    .build()
                    .unwrap()
            }),
        ),
        (
            "grid",
            Box::new(move |seed| {
                Study::builder("g")
                    .sampler(GridSampler::new(grid(), seed).unwrap())
                    .build()
                    .unwrap()
            }),
        ),
        (
            "default",
            Box::new(|seed| Study::builder("d").seed(seed).build().unwrap()),
        ),
    ];
    for (name, make) in makers {
        let a = sequence(&|| make(11));
        let b = sequence(&|| make(11));
        let c = sequence(&|| make(12));
        assert_eq!(a, b, "{name}: same seed, same sequence");
        assert_ne!(a, c, "{name}: another seed, another sequence");
    }
}

/// Warnock's closed form of the L2-star discrepancy of points in [0,1]^d.
fn l2_star_discrepancy(pts: &[Vec<f64>]) -> f64 {
    let n = pts.len() as f64;
    let d = pts[0].len() as i32;
    let a = 3f64.powi(-d);
    let b: f64 = pts
        .iter()
        .map(|p| p.iter().map(|x| (1.0 - x * x) / 2.0).product::<f64>())
        .sum::<f64>()
        * 2.0
        / n;
    let mut c = 0.0;
    for p in pts {
        for q in pts {
            c += p
                .iter()
                .zip(q)
                .map(|(x, y)| 1.0 - x.max(*y))
                .product::<f64>();
        }
    }
    (a - b + c / (n * n)).sqrt()
}

fn unit_points(s: &Study, dims: usize, n: usize) -> Vec<Vec<f64>> {
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            for d in 0..dims {
                t.suggest_float(&format!("x{d}"), 0.0, 1.0).get()?;
            }
            Ok(0.0)
        },
        Optimize::trials(n),
    )
    .unwrap();
    s.trials()
        .unwrap()
        .iter()
        .map(|t| {
            (0..dims)
                .map(|d| t.params[&format!("x{d}")].as_f64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn sobol_points_have_lower_discrepancy_than_random_points() {
    for dims in [2, 5] {
        let sobol = Study::builder("sobol")
            .sampler(SobolSampler::new(5))
            .build()
            .unwrap();
        let ds = l2_star_discrepancy(&unit_points(&sobol, dims, 256));
        // Compare with several random point sets, not a lucky one.
        for seed in 0..5 {
            let random = Study::builder("random")
                .sampler(RandomSampler::new(seed))
                .build()
                .unwrap();
            let dr = l2_star_discrepancy(&unit_points(&random, dims, 256));
            assert!(
                ds < dr,
                "{dims}-D: Sobol {ds:.5} vs random {dr:.5} (seed {seed})"
            );
        }
    }
}

#[test]
fn grid_visits_every_point_once_then_stops_with_threads() {
    let mut g = IndexMap::new();
    g.insert("a".to_string(), (0..6).map(ParamValue::Int).collect());
    g.insert("b".to_string(), vec!["x".into(), "y".into(), "z".into()]);
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(&dir.path().join("g.db")).unwrap());
    let s = Study::builder("grid")
        .storage(storage)
        .sampler(GridSampler::new(g, 9).unwrap())
        .build()
        .unwrap();
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            let a = t.suggest_int("a", 0, 5).get()?;
            let b = t.suggest_categorical("b", &["x", "y", "z"])?;
            Ok(a as f64 + b.len() as f64)
        },
        Optimize::trials(1000).jobs(4),
    )
    .unwrap();
    let trials = s.trials().unwrap();
    assert_eq!(trials.len(), 18);
    let pts: std::collections::HashSet<String> = trials
        .iter()
        .map(|t| format!("{}-{}", t.params["a"], t.params["b"]))
        .collect();
    assert_eq!(pts.len(), 18);
    assert!(matches!(s.ask(), Err(Error::Exhausted)));
}

#[test]
fn a_study_is_resumed_by_name_from_its_storage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let open = || -> Study {
        Study::builder("resume")
            .direction(Direction::Maximize)
            .storage(Arc::new(SqliteStorage::open(&path).unwrap()))
            .sampler(SobolSampler::new(2))
            .build()
            .unwrap()
    };
    let obj = |t: &mut tuneforge::Trial| -> tuneforge::Result<f64> {
        let x = t.suggest_float("x", 0.0, 1.0).get()?;
        Ok(-(x - 0.5).powi(2))
    };
    open().optimize(obj, Optimize::trials(5)).unwrap();
    let s = open();
    s.optimize(obj, Optimize::trials(5)).unwrap();
    let trials = s.trials().unwrap();
    assert_eq!(trials.len(), 10);
    assert_eq!(
        trials.iter().map(|t| t.number).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    // The resumed study continues the Sobol sequence instead of repeating it.
    let xs: std::collections::HashSet<String> =
        trials.iter().map(|t| t.params["x"].to_string()).collect();
    assert_eq!(xs.len(), 10);
    // Same name with other directions is refused.
    let e = Study::builder("resume")
        .direction(Direction::Minimize)
        .storage(Arc::new(SqliteStorage::open(&path).unwrap()))
        .build()
        .err()
        .unwrap();
    assert!(e.to_string().contains("exists with directions"), "{e}");
}

#[test]
fn reports_keep_several_named_metrics_per_step() {
    let s = study("reports");
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            for step in 0..3 {
                t.report(
                    step,
                    [
                        ("loss", 1.0 / (step + 1) as f64),
                        ("acc", step as f64 / 3.0),
                    ],
                )?;
            }
            t.report(3, 0.25)?;
            assert!(!t.should_prune()?);
            Ok(0.25)
        },
        Optimize::trials(1),
    )
    .unwrap();
    let t = &s.trials().unwrap()[0];
    assert_eq!(t.intermediate.len(), 4);
    assert_eq!(t.intermediate[&1]["loss"], 0.5);
    assert_eq!(t.intermediate[&2]["acc"], 2.0 / 3.0);
    assert_eq!(t.intermediate[&3]["value"], 0.25);
    assert_eq!(t.last_intermediate("loss"), Some((2, 1.0 / 3.0)));
}

#[test]
fn pruned_objectives_are_recorded_as_pruned() {
    let s = study("pruned");
    s.optimize(
        |t| -> tuneforge::Result<f64> {
            t.report(0, 1.0)?;
            Err(t.pruned())
        },
        Optimize::trials(2),
    )
    .unwrap();
    assert!(
        s.trials()
            .unwrap()
            .iter()
            .all(|t| t.state == TrialState::Pruned)
    );
}

/// Heartbeats cover ask/tell: a trial held by a live process is never failed however long it
/// runs; a trial whose process went away (dropped without tell) is failed after the grace by
/// the next `ask` of any worker, re-run with the same parameters up to `max_retries` times,
/// and a `tell` for it afterwards is refused without changing what was recorded.
#[test]
fn heartbeats_keep_live_trials_and_dead_ones_are_failed_and_retried() {
    use std::time::Duration;
    use tuneforge::liveness::Liveness;
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(&dir.path().join("hb.db")).unwrap());
    let live = Liveness {
        interval: Duration::from_millis(100),
        grace: Duration::from_millis(600),
        max_retries: 1,
    };
    let a = Study::builder("hb")
        .storage(storage.clone())
        .sampler(RandomSampler::new(2))
        .liveness(live)
        .build()
        .unwrap();
    // A second worker (another process, as far as the storage knows).
    let b = Study::builder("hb")
        .storage(storage.clone())
        .sampler(RandomSampler::new(2))
        .build()
        .unwrap();
    assert_eq!(
        b.liveness(),
        live,
        "the policy is the study's, shared by every worker"
    );

    let mut long = a.ask().unwrap();
    let x = long.suggest_float("x", 0.0, 1.0).get().unwrap();
    let mut dead = a.ask().unwrap();
    let y = dead.suggest_float("x", 0.0, 1.0).get().unwrap();
    let dead_number = dead.number();
    drop(dead); // its process is gone: no more heartbeats
    let detached = a.ask_detached().unwrap();
    std::thread::sleep(Duration::from_millis(1500));

    let reaped = b.reap_stale().unwrap();
    assert_eq!(
        reaped.iter().map(|t| t.number).collect::<Vec<_>>(),
        vec![dead_number]
    );
    assert!(
        reaped[0]
            .message
            .as_deref()
            .unwrap()
            .contains("no heartbeat")
    );
    assert!(b.reap_stale().unwrap().is_empty(), "reaped once");

    // The retry is handed out first, with the same parameters.
    let mut retry = b.ask().unwrap();
    assert_eq!(retry.suggest_float("x", 0.0, 1.0).get().unwrap(), y);
    let view = b.view().unwrap();
    let rt = view
        .trials
        .iter()
        .find(|t| t.number == retry.number())
        .unwrap();
    assert_eq!(rt.system_attrs["retry_of"], dead_number);
    assert_eq!(rt.system_attrs["retries"], 1);
    let retry_number = retry.number();
    drop(retry); // dies too: the policy allows one retry only
    std::thread::sleep(Duration::from_millis(1500));
    let reaped = a.reap_stale().unwrap();
    assert_eq!(
        reaped.iter().map(|t| t.number).collect::<Vec<_>>(),
        vec![retry_number]
    );
    let waiting = a
        .trials()
        .unwrap()
        .iter()
        .filter(|t| t.state == TrialState::Waiting)
        .count();
    assert_eq!(waiting, 0, "no second retry");

    // The long trial was beating all along; it completes normally.
    let done = a.tell(long, Outcome::Complete(vec![x])).unwrap();
    assert_eq!(done.state, TrialState::Complete);
    // A late tell for the reaped trial is refused; the record stays as the reaper left it.
    assert!(matches!(
        b.tell_number(dead_number, Outcome::Complete(vec![0.0])),
        Err(Error::TrialFinished(_))
    ));
    let t = storage.trial_by_number(a.record().id, dead_number).unwrap();
    assert_eq!(t.state, TrialState::Failed);
    // The detached trial (ask without heartbeats) is still running, waiting for its tell.
    let t = storage
        .trial_by_number(a.record().id, detached.number())
        .unwrap();
    assert_eq!(t.state, TrialState::Running);
}

#[test]
fn a_liveness_policy_that_would_fail_live_trials_is_refused() {
    use std::time::Duration;
    let e = Study::builder("bad-policy")
        .liveness(tuneforge::liveness::Liveness {
            interval: Duration::from_secs(10),
            grace: Duration::from_secs(5),
            max_retries: 0,
        })
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("must be longer than the heartbeat interval"),
        "{e}"
    );
}

/// An objective whose loss curve over steps 1..=`r` is (x − 0.3)² + 1/step, reported each
/// step, with the pruner asked before the last.
fn loss_curve(r: u64) -> impl Fn(&mut tuneforge::Trial) -> Result<f64, Error> + Sync {
    move |t| {
        let x = t.suggest_float("x", 0.0, 1.0).get()?;
        let mut loss = f64::NAN;
        for step in 1..=r {
            loss = (x - 0.3).powi(2) + 1.0 / step as f64;
            t.report(step, [("loss", loss)])?;
            if step < r && t.should_prune()? {
                return Err(Error::Pruned);
            }
        }
        Ok(loss)
    }
}

/// Hyperband through the real engine: four threads share one SQLite study, trials report a
/// curve each step and ask the pruner; trials stop only at rung resources of their own bracket,
/// the best configurations run to the end, and a pruned trial keeps the reports it made.
#[test]
fn hyperband_prunes_at_rungs_with_parallel_workers_on_shared_storage() {
    use tuneforge::pruner::{HyperbandPruner, Target};
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(&dir.path().join("hb.db")).unwrap());
    let pruner = HyperbandPruner::new(1, 27, 3).target(Target::new("loss", Direction::Minimize));
    let brackets = pruner.clone();
    let study = Study::builder("hb")
        .storage(storage)
        .sampler(RandomSampler::new(3))
        .pruner(pruner)
        .build()
        .unwrap();
    study
        .optimize(loss_curve(27), Optimize::trials(80).jobs(4))
        .unwrap();
    let trials = study.trials().unwrap();
    assert_eq!(trials.len(), 80);
    let pruned: Vec<_> = trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .collect();
    assert!(pruned.len() >= 20, "{} pruned", pruned.len());
    let s_max = 3;
    for t in &pruned {
        let last = *t.intermediate.keys().last().unwrap();
        let s = brackets.bracket_of(t.number);
        let rungs: Vec<u64> = (s_max - s..s_max).map(|k| 3u64.pow(k)).collect();
        assert!(
            rungs.contains(&last),
            "trial {} (bracket {s}) stopped at {last}",
            t.number
        );
        assert_eq!(t.intermediate.len() as u64, last, "its reports are kept");
    }
    let best = study.best_trial().unwrap().unwrap();
    assert_eq!(best.state, TrialState::Complete);
    let complete_xs: Vec<f64> = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .map(|t| (t.params["x"].as_f64().unwrap() - 0.3).abs())
        .collect();
    let pruned_xs: Vec<f64> = pruned
        .iter()
        .map(|t| (t.params["x"].as_f64().unwrap() - 0.3).abs())
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&complete_xs) < mean(&pruned_xs),
        "the trials that ran to the end are the better ones on average"
    );
}

#[test]
fn a_nan_constraint_is_refused_and_nothing_is_recorded() {
    let s = study("nan-constraint");
    let mut t = s.ask().unwrap();
    let e = t.set_constraints(&[0.0, f64::NAN]).unwrap_err().to_string();
    assert!(e.contains("NaN"), "{e}");
    let id = t.id();
    drop(t);
    let back = s.storage().get_trial(id).unwrap();
    assert!(!back.system_attrs.contains_key("constraints"));
}

#[test]
fn a_study_can_record_the_environment_of_its_trials() {
    let s = tuneforge::Study::builder("env")
        .record_environment()
        .build()
        .unwrap();
    s.optimize(
        |t| -> tuneforge::Result<f64> { t.suggest_float("x", 0.0, 1.0).get() },
        tuneforge::Optimize::trials(3),
    )
    .unwrap();
    let rec = s.storage().load_study("env").unwrap();
    let envs: Vec<_> = rec
        .attrs
        .iter()
        .filter(|(k, _)| k.starts_with(tuneforge::attrs::ENV_PREFIX))
        .collect();
    assert_eq!(envs.len(), 1);
    let id = envs[0]
        .0
        .strip_prefix(tuneforge::attrs::ENV_PREFIX)
        .unwrap();
    assert_eq!(envs[0].1["hostname"], tuneforge::env::hostname());
    for t in s.trials().unwrap() {
        assert_eq!(t.system_attrs[tuneforge::attrs::ENV], id);
    }
    // Without the option nothing is recorded.
    let plain = tuneforge::Study::builder("plain").build().unwrap();
    plain
        .optimize(
            |t| -> tuneforge::Result<f64> { t.suggest_float("x", 0.0, 1.0).get() },
            tuneforge::Optimize::trials(1),
        )
        .unwrap();
    assert!(
        !plain.trials().unwrap()[0]
            .system_attrs
            .contains_key(tuneforge::attrs::ENV)
    );
}

/// The (trial number, last step) of the trials a study file's `[pruner]` section stopped, over
/// 60 trials whose loss curves run to 52 steps.
fn stops_under(pruner: &str) -> Vec<(u64, u64)> {
    let file = tuneforge::studyfile::StudyFile::parse(
        std::path::Path::new("hb.toml"),
        &format!(
            "[study]\nname = \"hb1\"\nmetric = \"loss\"\n\n[pruner]\n{pruner}\n\n\
             [params.x]\ntype = \"float\"\nlow = 0.0\nhigh = 1.0\n"
        ),
    )
    .unwrap();
    let spec = file.pruner.as_ref().unwrap();
    let study = Study::builder("hb1")
        .sampler(RandomSampler::new(5))
        .pruner_arc(spec.build())
        .build()
        .unwrap();
    study
        .optimize(loss_curve(52), Optimize::trials(60))
        .unwrap();
    study
        .trials()
        .unwrap()
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .map(|t| (t.number, *t.intermediate.keys().last().unwrap()))
        .collect()
}

/// A study file's `[pruner] type = "hyperband"` with `brackets = 1` and R = 52 stops trials
/// only at Hyperband's budgets of its most exploratory bracket (2, 6 and 17 epochs: anchored at
/// R), never at ASHA's 1, 3, 9 or 27; so does `type = "asha"` with `anchor = "max"`, and
/// without it ASHA stops at 1, 3, 9 and 27.
#[test]
fn a_one_bracket_hyperband_from_a_study_file_judges_at_the_papers_budgets() {
    for pruner in [
        "type = \"hyperband\"\nmax_resource = 52\nbrackets = 1",
        "type = \"asha\"\nmax_resource = 52\nanchor = \"max\"",
    ] {
        let pruned = stops_under(pruner);
        let stops: std::collections::BTreeSet<u64> = pruned.iter().map(|p| p.1).collect();
        assert!(stops.is_subset(&[2, 6, 17].into()), "{pruner}: {stops:?}");
        // Trials 27..49 would be in the less exploratory brackets (first rung 6, 17 or none)
        // under all four; here they too are judged at 2.
        assert!(
            pruned
                .iter()
                .any(|&(n, at)| (27..49).contains(&n) && at == 2),
            "{pruner}: {pruned:?}"
        );
    }
    let asha: std::collections::BTreeSet<u64> = stops_under("type = \"asha\"\nmax_resource = 52")
        .iter()
        .map(|p| p.1)
        .collect();
    assert!(
        asha.contains(&1) && asha.is_subset(&[1, 3, 9, 27].into()),
        "{asha:?}"
    );
}

/// A study with promotion-based ASHA (R = 52) from a study file whose `[pruner]` section also
/// holds `extra`; new configurations are random.
fn promotion_study(extra: &str) -> Study {
    let file = tuneforge::studyfile::StudyFile::parse(
        std::path::Path::new("p.toml"),
        &format!(
            "[study]\nname = \"p\"\nmetric = \"loss\"\n\n[pruner]\ntype = \"asha\"\n\
             schedule = \"promote\"\nmax_resource = 52\n{extra}\n\
             [params.x]\ntype = \"float\"\nlow = 0.0\nhigh = 1.0\n"
        ),
    )
    .unwrap();
    let spec = file.pruner.as_ref().unwrap();
    Study::builder("p")
        .sampler_arc(spec.scheduler(Arc::new(RandomSampler::new(1))))
        .build()
        .unwrap()
}

/// Promotion-based ASHA from a study file with `anchor = "max"` hands out Hyperband's budgets:
/// a new configuration gets 2 epochs (R = 52), not 1.
#[test]
fn promotion_asha_anchored_at_the_maximum_starts_new_configurations_at_hyperbands_budget() {
    for (anchor, first) in [("max", 2), ("min", 1)] {
        let study = promotion_study(&format!("anchor = \"{anchor}\"\n"));
        let t = study.ask().unwrap();
        assert_eq!(
            tuneforge::sampler::asha_scheduler::budget_of(t.frozen()),
            Some(first),
            "anchor {anchor}"
        );
    }
}

/// Promotion-based ASHA from a study file with `first_full_after = 3`: the best of the first
/// three configurations (each at 2 epochs) is continued to 6, 17 and 52 epochs straight away.
#[test]
fn promotion_asha_from_a_study_file_can_run_a_first_configuration_to_the_end_early() {
    use tuneforge::sampler::asha_scheduler::budget_of;
    let study = promotion_study("anchor = \"max\"\nfirst_full_after = 3\n");
    let mut budgets = Vec::new();
    let mut resumed = Vec::new();
    for i in 0..6 {
        let t = study.ask().unwrap();
        budgets.push(budget_of(t.frozen()).unwrap());
        resumed.push(
            t.frozen()
                .system_attrs
                .get(tuneforge::attrs::RESUME_FROM)
                .cloned(),
        );
        // The second configuration is the best of the first three.
        let loss = [0.5, 0.1, 0.9].get(i).copied().unwrap_or(0.1);
        study.tell(t, Outcome::Complete(vec![loss])).unwrap();
    }
    assert_eq!(budgets, vec![2, 2, 2, 6, 17, 52]);
    assert_eq!(
        resumed[3],
        Some(1.into()),
        "continues the best of the three"
    );
    assert_eq!(resumed[4], Some(3.into()));
    assert_eq!(resumed[5], Some(4.into()));
}
