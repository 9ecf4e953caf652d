//! Conformance suites that every storage backend runs: one contract, checked the same way for
//! memory, SQLite and any future backend.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::distribution::{Distribution, ParamValue};
use crate::error::Error;
use crate::record::{Direction, Metrics, TrialState};
use crate::storage::{NewTrial, Storage};

#[cfg(feature = "postgres")]
pub mod postgres;

/// Runs the whole storage suite against fresh storages made by `make`. Panics naming the first
/// broken rule.
pub fn storage_conformance(make: &dyn Fn() -> Arc<dyn Storage>) {
    studies(&*make());
    trial_lifecycle(&*make());
    finished_trials_are_read_only(&*make());
    claims_are_exactly_once(make());
    waiting_trials_are_claimed_once(make());
    incremental_reads(&*make());
    concurrent_numbers_are_dense(make());
    stale_trials_fail_once(make());
    numbers_come_back_bit_for_bit(&*make());
    imported_trials_keep_their_record(&*make());
}

/// Runs the rules that need several handles (connections, processes' worth of state) on one
/// database: `open` returns a new handle to the same database each call. Memory storage has
/// no such thing; SQLite (one file) and PostgreSQL (one server) run it.
pub fn shared_handles_conformance(open: &dyn Fn() -> Arc<dyn Storage>) {
    let first = open();
    let st = first
        .create_study("shared", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    for k in 0..10 {
        first
            .create_trial(
                st.id,
                NewTrial {
                    waiting: true,
                    fixed_params: [("k".to_string(), ParamValue::Int(k))]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let handles: Vec<Arc<dyn Storage>> = (0..4).map(|_| open()).collect();
    let threads: Vec<_> = handles
        .into_iter()
        .enumerate()
        .map(|(w, s)| {
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while let Some(t) = s.claim_waiting(st.id, &format!("w{w}"), true).unwrap() {
                    mine.push(format!("waiting:{}", t.number));
                }
                for k in 0..20 {
                    let new = NewTrial {
                        claim: Some(format!("point-{}", k % 10)),
                        heartbeat: true,
                        ..Default::default()
                    };
                    if let Some(t) = s.create_trial(st.id, new).unwrap() {
                        mine.push(format!("point-{}", k % 10));
                        s.report(t.id, 0, &Metrics::from([("m".into(), 1.0)]))
                            .unwrap();
                        s.finish(t.id, TrialState::Complete, Some(&[k as f64]), None)
                            .unwrap();
                    }
                    s.create_trial(st.id, NewTrial::default()).unwrap().unwrap();
                }
                mine
            })
        })
        .collect();
    let mut got: Vec<String> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..10)
        .map(|i| format!("waiting:{i}"))
        .chain((0..10).map(|i| format!("point-{i}")))
        .collect();
    want.sort();
    assert_eq!(
        got, want,
        "every waiting trial and claim handed out exactly once"
    );
    let all = open().all_trials(st.id).unwrap();
    let numbers: Vec<u64> = all.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (0..all.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        all.len(),
        10 + 10 + 4 * 20,
        "numbers are dense across handles"
    );
}

/// Parameters, objective values and metrics are read back exactly as written: a configuration
/// re-run from storage (a retry, an export) is the same configuration, not a neighbour.
fn numbers_come_back_bit_for_bit(s: &dyn Storage) {
    let st = s
        .create_study("exact", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    // Awkward values: decimal fractions, f32 values widened, tiny and huge magnitudes, and a
    // spread of pseudo-random mantissas.
    let mut xs = vec![
        0.1 + 0.2,
        1.0 / 3.0,
        91.324_020_385_742_19,
        1e-300,
        6.02e23,
        -0.0,
    ];
    let mut z: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..40 {
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        let x = f64::from_bits((z >> 12) | 0x3FF0_0000_0000_0000) * 37.0;
        xs.push(x);
        xs.push((x as f32) as f64);
    }
    let d = Distribution::float(-1e308, 1e308);
    for (i, &x) in xs.iter().enumerate() {
        let t = s.create_trial(st.id, NewTrial::default()).unwrap().unwrap();
        s.set_param(t.id, "x", &d, &ParamValue::Float(x)).unwrap();
        s.report(t.id, 1, &Metrics::from([("m".into(), x)]))
            .unwrap();
        let done = s
            .finish(t.id, TrialState::Complete, Some(&[x]), None)
            .unwrap();
        let back = s.get_trial(done.id).unwrap();
        let p = back.params["x"].as_f64().unwrap();
        assert_eq!(
            p.to_bits(),
            x.to_bits(),
            "value {i}: parameter {x:e} came back as {p:e}"
        );
        let v = back.values.as_ref().unwrap()[0];
        assert_eq!(
            v.to_bits(),
            x.to_bits(),
            "value {i}: objective {x:e} came back as {v:e}"
        );
        let m = back.intermediate[&1]["m"];
        assert_eq!(
            m.to_bits(),
            x.to_bits(),
            "value {i}: metric {x:e} came back as {m:e}"
        );
    }
}

fn imported_trials_keep_their_record(s: &dyn Storage) {
    let a = s
        .create_study("source", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let b = s
        .create_study("copy", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let mut originals = Vec::new();
    for (i, state) in [
        TrialState::Complete,
        TrialState::Pruned,
        TrialState::Failed,
        TrialState::Complete,
    ]
    .into_iter()
    .enumerate()
    {
        let mut attrs = BTreeMap::new();
        attrs.insert("seed".to_string(), serde_json::json!(i));
        let t = s
            .create_trial(
                a.id,
                NewTrial {
                    system_attrs: attrs,
                    worker: Some("w1".into()),
                    ..NewTrial::default()
                },
            )
            .unwrap()
            .unwrap();
        s.set_param(
            t.id,
            "lr",
            &Distribution::float_log(1e-5, 1.0),
            &ParamValue::Float(1e-3 * (i + 1) as f64),
        )
        .unwrap();
        s.set_param(
            t.id,
            "opt",
            &Distribution::categorical(["sgd", "adam"]),
            &ParamValue::from("adam"),
        )
        .unwrap();
        s.report(
            t.id,
            1,
            &Metrics::from([("loss".into(), 0.5), ("odd".into(), f64::NAN)]),
        )
        .unwrap();
        s.report(t.id, 2, &Metrics::from([("loss".into(), 0.25)]))
            .unwrap();
        s.set_user_attr(t.id, "note", &serde_json::json!({"k": [1, 2]}))
            .unwrap();
        let values = (state == TrialState::Complete).then(|| vec![0.1 * i as f64]);
        let msg = (state == TrialState::Failed).then_some("it broke");
        originals.push(s.finish(t.id, state, values.as_deref(), msg).unwrap());
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    for t in &originals {
        let c = s.import_trial(b.id, t).unwrap();
        let back = s.get_trial(c.id).unwrap();
        assert_eq!(back.number, t.number);
        assert_eq!(back.state, t.state);
        assert_eq!(back.values, t.values);
        assert_eq!(back.params, t.params);
        assert_eq!(back.distributions, t.distributions);
        assert_eq!(back.user_attrs, t.user_attrs);
        assert_eq!(back.message, t.message);
        assert_eq!(back.intermediate[&2], t.intermediate[&2]);
        assert!(back.intermediate[&1]["odd"].is_nan());
        assert_eq!(back.system_attrs["seed"], t.system_attrs["seed"]);
    }
    let copied = s.all_trials(b.id).unwrap();
    assert_eq!(copied.len(), originals.len());
}

fn stale_trials_fail_once(s: Arc<dyn Storage>) {
    let st = s
        .create_study("stale", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let beating = NewTrial {
        heartbeat: true,
        ..Default::default()
    };
    let dead = s.create_trial(st.id, beating.clone()).unwrap().unwrap();
    let alive = s.create_trial(st.id, beating.clone()).unwrap().unwrap();
    // No heartbeats promised (a trial handed to an external program): never stale.
    let detached = s.create_trial(st.id, NewTrial::default()).unwrap().unwrap();
    let done = s.create_trial(st.id, beating).unwrap().unwrap();
    s.finish(done.id, TrialState::Complete, Some(&[1.0]), None)
        .unwrap();
    assert!(s.fail_stale(st.id, 60_000, "x").unwrap().is_empty());
    for _ in 0..6 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        s.heartbeat(alive.id).unwrap();
    }
    let before = s.trials_since(st.id, 0).unwrap().seq;
    // Two reapers at once: each stale trial is failed by exactly one of them.
    let reapers: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || s.fail_stale(st.id, 300, "no heartbeat").unwrap())
        })
        .collect();
    let failed: Vec<_> = reapers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].id, dead.id);
    assert_eq!(failed[0].state, TrialState::Failed);
    assert_eq!(failed[0].message.as_deref(), Some("no heartbeat"));
    let changed = s.trials_since(st.id, before).unwrap();
    assert!(
        changed.trials.iter().any(|t| t.id == dead.id),
        "reaping is a change"
    );
    assert!(matches!(s.heartbeat(dead.id), Err(Error::TrialFinished(_))));
    assert_eq!(s.get_trial(alive.id).unwrap().state, TrialState::Running);
    assert_eq!(s.get_trial(detached.id).unwrap().state, TrialState::Running);
    assert!(matches!(
        s.finish(dead.id, TrialState::Complete, Some(&[0.0]), None),
        Err(Error::TrialFinished(_))
    ));
}

fn studies(s: &dyn Storage) {
    let attrs = BTreeMap::from([("seed".to_string(), serde_json::json!(7))]);
    let a = s.create_study("a", &[Direction::Maximize], &attrs).unwrap();
    assert!(matches!(
        s.create_study("a", &[Direction::Minimize], &BTreeMap::new()),
        Err(Error::StudyExists(_))
    ));
    let b = s
        .create_study(
            "b",
            &[Direction::Minimize, Direction::Maximize],
            &BTreeMap::new(),
        )
        .unwrap();
    assert_eq!(s.load_study("a").unwrap(), a);
    assert!(matches!(s.load_study("zz"), Err(Error::StudyNotFound(_))));
    let names: Vec<String> = s
        .list_studies()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    s.set_study_attr(a.id, "note", &serde_json::json!("hi"))
        .unwrap();
    let a2 = s.load_study("a").unwrap();
    assert_eq!(a2.attrs["note"], "hi");
    assert_eq!(a2.attrs["seed"], 7);
    s.create_trial(b.id, NewTrial::default()).unwrap();
    s.delete_study(b.id).unwrap();
    assert!(matches!(s.load_study("b"), Err(Error::StudyNotFound(_))));
    assert_eq!(s.list_studies().unwrap().len(), 1);
}

fn trial_lifecycle(s: &dyn Storage) {
    let st = s
        .create_study("t", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let t = s
        .create_trial(
            st.id,
            NewTrial {
                worker: Some("w1".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!((t.number, t.state), (0, TrialState::Running));
    assert_eq!(t.worker.as_deref(), Some("w1"));
    let d = Distribution::float_log(1e-5, 1.0);
    s.set_param(t.id, "lr", &d, &ParamValue::Float(1e-3))
        .unwrap();
    let c = Distribution::categorical(["a", "b"]);
    s.set_param(t.id, "opt", &c, &ParamValue::from("b"))
        .unwrap();
    s.report(t.id, 1, &Metrics::from([("loss".into(), 0.5)]))
        .unwrap();
    s.report(t.id, 1, &Metrics::from([("acc".into(), 0.8)]))
        .unwrap();
    s.report(t.id, 2, &Metrics::from([("loss".into(), f64::NAN)]))
        .unwrap();
    s.set_user_attr(t.id, "note", &serde_json::json!({"k": [1, 2]}))
        .unwrap();
    s.set_system_attr(t.id, "seed", &serde_json::json!(5))
        .unwrap();
    s.heartbeat(t.id).unwrap();
    let done = s
        .finish(t.id, TrialState::Complete, Some(&[0.25]), None)
        .unwrap();
    assert_eq!(done.state, TrialState::Complete);
    assert_eq!(done.values, Some(vec![0.25]));
    assert_eq!(
        done.params["lr"],
        ParamValue::Float(1e-3),
        "values are kept exactly"
    );
    assert_eq!(done.params["opt"], ParamValue::from("b"));
    assert_eq!(
        done.params.keys().collect::<Vec<_>>(),
        vec!["lr", "opt"],
        "order kept"
    );
    assert_eq!(done.distributions["lr"], d);
    assert_eq!(done.intermediate[&1]["loss"], 0.5);
    assert_eq!(done.intermediate[&1]["acc"], 0.8);
    assert!(done.intermediate[&2]["loss"].is_nan());
    assert_eq!(done.user_attrs["note"]["k"][1], 2);
    assert!(done.started_ms.is_some() && done.finished_ms.is_some());
    // (compared through Debug: the NaN report makes `==` false by definition)
    let same = |a: &crate::record::FrozenTrial| format!("{a:?}") == format!("{done:?}");
    assert!(same(&s.get_trial(t.id).unwrap()));
    assert!(same(&s.trial_by_number(st.id, 0).unwrap()));
    // Complete needs finite values; failures keep their message.
    let t2 = s.create_trial(st.id, NewTrial::default()).unwrap().unwrap();
    assert!(
        s.finish(t2.id, TrialState::Complete, Some(&[f64::NAN]), None)
            .is_err()
    );
    assert!(s.finish(t2.id, TrialState::Complete, None, None).is_err());
    let f = s
        .finish(t2.id, TrialState::Failed, None, Some("boom"))
        .unwrap();
    assert_eq!(
        (f.state, f.message.as_deref()),
        (TrialState::Failed, Some("boom"))
    );
}

fn finished_trials_are_read_only(s: &dyn Storage) {
    let st = s
        .create_study("ro", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let t = s.create_trial(st.id, NewTrial::default()).unwrap().unwrap();
    s.finish(t.id, TrialState::Pruned, None, None).unwrap();
    let before = s.get_trial(t.id).unwrap();
    let d = Distribution::float(0.0, 1.0);
    let fin = |r: crate::error::Result<()>| matches!(r, Err(Error::TrialFinished(0)));
    assert!(fin(s.set_param(t.id, "x", &d, &ParamValue::Float(0.5))));
    assert!(fin(s.report(t.id, 1, &Metrics::from([("x".into(), 1.0)]))));
    assert!(fin(s.set_user_attr(t.id, "k", &serde_json::json!(1))));
    assert!(fin(s.set_system_attr(t.id, "k", &serde_json::json!(1))));
    assert!(fin(s.heartbeat(t.id)));
    assert!(matches!(
        s.finish(t.id, TrialState::Complete, Some(&[1.0]), None),
        Err(Error::TrialFinished(0))
    ));
    assert_eq!(s.get_trial(t.id).unwrap(), before, "nothing changed");
}

fn claims_are_exactly_once(s: Arc<dyn Storage>) {
    let st = s
        .create_study("claims", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut won = Vec::new();
                for k in 0..20 {
                    let new = NewTrial {
                        claim: Some(format!("grid:{k}")),
                        ..Default::default()
                    };
                    if let Some(t) = s.create_trial(st.id, new).unwrap() {
                        won.push(t.system_attrs["claim"].as_str().unwrap().to_string());
                    }
                }
                won
            })
        })
        .collect();
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 20, "every key claimed exactly once: {all:?}");
    assert_eq!(unique.len(), 20);
    assert_eq!(
        s.all_trials(st.id).unwrap().len(),
        20,
        "no trial without its claim"
    );
}

fn waiting_trials_are_claimed_once(s: Arc<dyn Storage>) {
    let st = s
        .create_study("queue", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    for i in 0..30 {
        let mut fixed = indexmap::IndexMap::new();
        fixed.insert("i".to_string(), ParamValue::Int(i));
        s.create_trial(
            st.id,
            NewTrial {
                waiting: true,
                fixed_params: fixed,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let handles: Vec<_> = (0..6)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(t) = s.claim_waiting(st.id, &format!("w{w}"), true).unwrap() {
                    assert_eq!(t.state, TrialState::Running);
                    got.push(t.fixed_params()["i"].as_i64().unwrap());
                }
                got
            })
        })
        .collect();
    let mut all: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(all, (0..30).collect::<Vec<_>>());
}

fn incremental_reads(s: &dyn Storage) {
    let st = s
        .create_study("inc", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let a = s.create_trial(st.id, NewTrial::default()).unwrap().unwrap();
    let b = s.create_trial(st.id, NewTrial::default()).unwrap().unwrap();
    let all = s.trials_since(st.id, 0).unwrap();
    assert_eq!(all.trials.len(), 2);
    let none = s.trials_since(st.id, all.seq).unwrap();
    assert!(none.trials.is_empty());
    assert_eq!(none.seq, all.seq);
    s.report(b.id, 0, &Metrics::from([("x".into(), 1.0)]))
        .unwrap();
    let ch = s.trials_since(st.id, all.seq).unwrap();
    assert_eq!(ch.trials.len(), 1);
    assert_eq!(ch.trials[0].id, b.id);
    assert_eq!(ch.trials[0].intermediate[&0]["x"], 1.0);
    s.finish(a.id, TrialState::Complete, Some(&[1.0]), None)
        .unwrap();
    let ch2 = s.trials_since(st.id, ch.seq).unwrap();
    assert_eq!(
        ch2.trials.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![a.id]
    );
    assert!(ch2.seq > ch.seq);
}

fn concurrent_numbers_are_dense(s: Arc<dyn Storage>) {
    let st = s
        .create_study("dense", &[Direction::Minimize], &BTreeMap::new())
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| {
                        s.create_trial(st.id, NewTrial::default())
                            .unwrap()
                            .unwrap()
                            .number
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut nums: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    nums.sort();
    assert_eq!(nums, (0..100).collect::<Vec<_>>());
}
