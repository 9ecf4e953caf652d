//! Early stopping of command-line trials: the trial prints its learning curve, the pruner stops
//! it, the process (and everything it started) is really gone, and the trial is recorded as
//! pruned with the metrics it reported.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

/// The command, run in `dir`.
fn tuneforge_in(dir: &Path) -> Command {
    let mut c = common::tuneforge();
    c.current_dir(dir);
    c
}

const TRIAL: &str = r#"echo $$ > "$TUNEFORGE_WORKDIR/pid"
sleep 30 &
echo $! > "$TUNEFORGE_WORKDIR/child"
i=1
while [ $i -le "$TUNEFORGE_BUDGET" ]; do
  printf '{"step": %d, "loss": %s}\n' "$i" "$1"
  sleep 0.3
  i=$((i + 1))
done
printf '{"loss": %s}\n' "$1"
"#;

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{}", pid.trim())).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn a_pruned_command_trial_stops_and_its_processes_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trial.sh"), TRIAL).unwrap();
    std::fs::write(
        dir.path().join("study.toml"),
        r#"[study]
name = "prune"
metric = "loss"
sampler = "random"
trials = 2

[pruner]
type = "median"
startup_trials = 1
max_resource = 4

[command]
run = "sh trial.sh {x}"
grace = 1

[params.x]
type = "float"
low = 0.0
high = 10.0

[[enqueue]]
x = 0.0

[[enqueue]]
x = 10.0
"#,
    )
    .unwrap();
    let started = Instant::now();
    let out = tuneforge_in(dir.path())
        .args(["run", "study.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let trials = common::trials(dir.path(), "study.toml");
    assert_eq!(trials[0]["state"], "complete");
    assert_eq!(trials[0]["intermediate"].as_object().unwrap().len(), 4);
    let pruned = &trials[1];
    assert_eq!(pruned["state"], "pruned", "{err}");
    // Stopped at its first report, which is kept.
    assert_eq!(pruned["intermediate"]["1"]["loss"], 10.0);
    assert!(pruned["intermediate"].as_object().unwrap().len() < 4);
    // The first trial takes ~1.2 s; the pruned one was stopped long before its 1.2 s and its
    // 30 s background child.
    assert!(started.elapsed() < Duration::from_secs(10));
    let workdir = Path::new(pruned["system_attrs"]["workdir"].as_str().unwrap());
    let pid = std::fs::read_to_string(workdir.join("pid")).unwrap();
    let child = std::fs::read_to_string(workdir.join("child")).unwrap();
    assert!(!alive(&pid), "the trial's shell {pid} is gone");
    assert!(
        !alive(&child),
        "the process it started ({child}) is gone too"
    );
    assert!(err.contains("pruned"), "{err}");
    // A trial that completes does not leave what it started behind either.
    let first = Path::new(trials[0]["system_attrs"]["workdir"].as_str().unwrap());
    let child = std::fs::read_to_string(first.join("child")).unwrap();
    assert!(
        !alive(&child),
        "the completed trial's background process ({child}) is gone"
    );
}

const RESUMABLE: &str = r#"start=0
if [ -n "$TUNEFORGE_RESUME_DIR" ]; then start=$(cat "$TUNEFORGE_RESUME_DIR/checkpoint"); fi
echo "$start" > "$TUNEFORGE_WORKDIR/started_from"
echo "$TUNEFORGE_RESOURCE" > "$TUNEFORGE_WORKDIR/resource"
if [ "$3" != "$TUNEFORGE_BUDGET" ]; then echo "--epochs $3, budget $TUNEFORGE_BUDGET" >&2; exit 9; fi
e=$start
loss=0
while [ "$e" -lt "$TUNEFORGE_BUDGET" ]; do
  e=$((e + 1))
  loss=$(awk -v x="$1" -v e="$e" 'BEGIN { print x + 1 / e }')
  printf '{"step": %d, "loss": %s}\n' "$e" "$loss"
done
echo "$e" > "$TUNEFORGE_WORKDIR/checkpoint"
printf '{"loss": %s}\n' "$loss"
"#;

/// Promotion-based ASHA from a study file, with two worker processes: every trial runs to a rung
/// budget, the best 1/3 of a rung are continued by new trials that resume from the promoted
/// trial's checkpoint (not from scratch), each configuration is promoted at most once, and the
/// best trial is one that ran the full budget.
#[test]
fn promotions_resume_from_the_promoted_trial_s_checkpoint() {
    promotions(None);
}

#[test]
fn promotions_are_claimed_once_on_postgres_too() {
    if let Some(url) = tuneforge::testing::postgres::fresh_database() {
        promotions(Some(&url));
    }
}

/// Writes the resumable trial script and a study of `trials` trials under `schedule =
/// "promote"` with pruner `kind` (r = 1, R = 9, η = 3), runs it with two worker processes in
/// `storage` (default: the study's SQLite file) and returns the exported trials and the run's
/// standard error.
fn promote_study(
    dir: &Path,
    kind: &str,
    seed: u64,
    trials: usize,
    storage: Option<&str>,
) -> (Vec<serde_json::Value>, String) {
    let tuneforge = |dir: &Path| {
        let mut c = tuneforge_in(dir);
        if let Some(url) = storage {
            c.env("TUNEFORGE_STORAGE", url);
        }
        c
    };
    std::fs::write(dir.join("trial.sh"), RESUMABLE).unwrap();
    std::fs::write(
        dir.join("study.toml"),
        format!(
            r#"[study]
name = "{kind}"
metric = "loss"
sampler = "random"
seed = {seed}
trials = {trials}

[pruner]
type = "{kind}"
schedule = "promote"
resource = "epoch"
min_resource = 1
max_resource = 9
reduction_factor = 3

[command]
run = "sh trial.sh {{x}} --epochs {{epoch}} --resume {{resume}}"

[params.x]
type = "float"
low = 0.0
high = 1.0
"#
        ),
    )
    .unwrap();
    let out = tuneforge(dir)
        .args(["run", "study.toml", "--workers", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    let out = tuneforge(dir)
        .args(["export", "study.toml", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trials_out = doc["trials"].as_array().unwrap().clone();
    assert!(trials_out.len() >= trials, "{err}");
    (trials_out, err)
}

fn promotions(storage: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (trials, _) = promote_study(dir.path(), "asha", 2, 40, storage);
    let trials = &trials;
    let mut promoted = std::collections::HashSet::new();
    let mut resumed = 0;
    for t in trials {
        assert_eq!(t["state"], "complete", "{t}");
        let budget = t["system_attrs"]["budget"].as_u64().unwrap();
        assert!([1, 3, 9].contains(&budget));
        let workdir = Path::new(t["system_attrs"]["workdir"].as_str().unwrap());
        let started: u64 = std::fs::read_to_string(workdir.join("started_from"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        match t["system_attrs"]["resume_from"].as_u64() {
            Some(from) => {
                let parent = &trials[from as usize];
                let parent_budget = parent["system_attrs"]["budget"].as_u64().unwrap();
                assert_eq!(budget, 3 * parent_budget);
                assert_eq!(started, parent_budget, "resumed from the checkpoint");
                assert_eq!(parent["params"], t["params"]);
                let first = t["intermediate"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|k| k.parse::<u64>().unwrap())
                    .min()
                    .unwrap();
                assert_eq!(first, parent_budget + 1, "the curve continues");
                assert!(promoted.insert(from), "trial {from} promoted twice");
                resumed += 1;
            }
            None => {
                assert_eq!(budget, 1, "new configurations start at the bottom rung");
                assert_eq!(started, 0);
            }
        }
    }
    assert!(resumed >= 5, "{resumed} promotions");
    let mut best = tuneforge_in(dir.path());
    if let Some(url) = storage {
        best.env("TUNEFORGE_STORAGE", url);
    }
    let out = best
        .args(["best", "study.toml", "--json"])
        .output()
        .unwrap();
    let best: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = best["trial"].as_u64().unwrap() as usize;
    assert_eq!(trials[n]["system_attrs"]["budget"], 9, "{best}");
    assert_eq!(
        dir.path().join("tuneforge.db").exists(),
        storage.is_none(),
        "the study lived in the storage named"
    );
}

/// Hyperband's synchronous brackets from a study file (`type = "hyperband"`, `schedule =
/// "promote"`), two workers: each rung's trials are exactly the best of the rung below (a rung
/// is judged only once all its trials finished), no rung holds more than the paper's n, and
/// every promotion resumes from its parent's checkpoint at the parent's budget.
#[test]
fn hyperband_promotions_run_synchronous_brackets_from_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (trials, _) = promote_study(dir.path(), "hyperband", 4, 30, None);
    let trials = &trials;
    let attr = |t: &serde_json::Value, k: &str| t["system_attrs"][k].as_u64();
    let mut rungs: std::collections::BTreeMap<(u64, u64), Vec<&serde_json::Value>> =
        Default::default();
    for t in trials {
        assert_eq!(t["state"], "complete", "{t}");
        rungs
            .entry((attr(t, "bracket").unwrap(), attr(t, "rung").unwrap()))
            .or_default()
            .push(t);
    }
    // R = 9, η = 3: brackets s = 2, 1, 0 with rungs (9, 1), (3, 3), (1, 9); (5, 3), (1, 9);
    // (3, 9), then again.
    let shape = [
        vec![(9, 1), (3, 3), (1, 9)],
        vec![(5, 3), (1, 9)],
        vec![(3, 9)],
    ];
    let mut promotions = 0;
    for (&(j, k), here) in &rungs {
        let (n, budget) = shape[j as usize % 3][k as usize];
        assert!(
            here.len() as u64 <= n,
            "bracket {j} rung {k}: {}",
            here.len()
        );
        for t in here {
            assert_eq!(attr(t, "budget"), Some(budget));
            let workdir = Path::new(t["system_attrs"]["workdir"].as_str().unwrap());
            assert_eq!(
                std::fs::read_to_string(workdir.join("resource")).unwrap(),
                "epoch\n",
                "TUNEFORGE_RESOURCE names the study's resource"
            );
            let started: u64 = std::fs::read_to_string(workdir.join("started_from"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            match attr(t, "resume_from") {
                Some(from) => {
                    let parent = &trials[from as usize];
                    assert_eq!(started, attr(parent, "budget").unwrap());
                    assert_eq!(attr(t, "resume_budget"), attr(parent, "budget"));
                    assert_eq!(parent["params"], t["params"]);
                }
                None => assert_eq!((k, started), (0, 0), "new configurations start afresh"),
            }
        }
        if k == 0 {
            continue;
        }
        let loss = |t: &serde_json::Value| t["values"][0].as_f64().unwrap();
        let mut below: Vec<&serde_json::Value> = rungs[&(j, k - 1)].clone();
        below.sort_by(|a, b| loss(a).total_cmp(&loss(b)));
        let mut want: Vec<u64> = below[..here.len()]
            .iter()
            .map(|t| t["number"].as_u64().unwrap())
            .collect();
        let mut got: Vec<u64> = here
            .iter()
            .map(|t| attr(t, "resume_from").unwrap())
            .collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(
            got, want,
            "bracket {j} rung {k}: the best of the rung below"
        );
        promotions += here.len();
    }
    assert!(promotions >= 5, "{promotions} promotions");
}

/// A trial whose loss falls with the epochs towards its parameter x, each epoch taking a moment;
/// it records its pid so a test can check it is gone.
const CURVE_TRIAL: &str = r#"echo $$ > "$TUNEFORGE_WORKDIR/pid"
e=0
while [ "$e" -lt "$TUNEFORGE_BUDGET" ]; do
  e=$((e + 1))
  printf '{"step": %d, "loss": %s}\n' "$e" "$(awk -v x="$1" -v e="$e" 'BEGIN { print x + 1 / e }')"
  sleep 0.02
done
printf '{"loss": %s}\n' "$(awk -v x="$1" -v e="$e" 'BEGIN { print x + 1 / e }')"
"#;

/// Every rule of the issue stops command-line trials run by two worker processes sharing one
/// SQLite file: some trials are pruned, each with the reports it made and fewer than the full
/// budget's, its process gone; the others complete with the full curve; no trial is lost.
#[test]
fn every_rule_prunes_command_trials_run_by_two_worker_processes() {
    let rules = [
        ("median", "random", "startup_trials = 2\nwarmup_steps = 1"),
        (
            "percentile",
            "random",
            "percentile = 40\nstartup_trials = 2",
        ),
        ("asha", "random", ""),
        ("hyperband", "random", ""),
        ("hyperband", "bohb", ""),
        ("curve", "random", "threshold = 0.2"),
    ];
    for (rule, sampler, extra) in rules {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("trial.sh"), CURVE_TRIAL).unwrap();
        std::fs::write(
            dir.path().join("study.toml"),
            format!(
                r#"[study]
name = "{rule}-{sampler}"
metric = "loss"
sampler = "{sampler}"
seed = 3
trials = 24

[pruner]
type = "{rule}"
resource = "epoch"
min_resource = 1
max_resource = 9
{extra}

[command]
run = "sh trial.sh {{x}}"
grace = 1

[params.x]
type = "float"
low = 0.0
high = 1.0
"#
            ),
        )
        .unwrap();
        let out = tuneforge_in(dir.path())
            .args(["run", "study.toml", "--workers", "2"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{rule}/{sampler}: {err}");
        let trials = common::trials(dir.path(), "study.toml");
        assert!(
            (24..=26).contains(&trials.len()),
            "{rule}/{sampler}: {} trials",
            trials.len()
        );
        let steps = |t: &serde_json::Value| t["intermediate"].as_object().unwrap().len();
        let mut pruned = 0;
        for t in &trials {
            match t["state"].as_str().unwrap() {
                "complete" => assert_eq!(steps(t), 9, "{rule}/{sampler}: {t}"),
                "pruned" => {
                    pruned += 1;
                    assert!((1..9).contains(&steps(t)), "{rule}/{sampler}: {t}");
                    let workdir = Path::new(t["system_attrs"]["workdir"].as_str().unwrap());
                    let pid = std::fs::read_to_string(workdir.join("pid")).unwrap();
                    assert!(!alive(&pid), "{rule}/{sampler}: trial shell {pid} is gone");
                }
                other => panic!("{rule}/{sampler}: a trial ended {other}: {t}"),
            }
        }
        assert!(pruned >= 5, "{rule}/{sampler}: {pruned} pruned\n{err}");
        assert!(
            err.contains("stopped after epoch "),
            "{rule}/{sampler}: {err}"
        );
    }
}
