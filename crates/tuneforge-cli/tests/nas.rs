//! Architecture search from study files: `[architecture]`, `{arch}`, the NAS samplers.

use std::path::PathBuf;

mod common;
use common::{run_ok, trials, tuneforge};

fn table() -> Option<PathBuf> {
    let p = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../../shared/data/nas-bench-201/cifar10.csv.gz");
    p.exists().then(|| p.canonicalize().unwrap())
}

#[test]
fn the_nas_bench_201_example_climbs_from_its_random_start_and_never_repeats_a_cell() {
    let Some(table) = table() else {
        eprintln!("skipped: the NAS-Bench-201 table is not present");
        return;
    };
    let ex = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../examples/nas");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        ex.join("nas_bench_201.py"),
        dir.path().join("nas_bench_201.py"),
    )
    .unwrap();
    let study = std::fs::read_to_string(ex.join("study.toml"))
        .unwrap()
        .replace(
            "../../../shared/data/nas-bench-201/cifar10.csv.gz",
            &table.display().to_string(),
        );
    std::fs::write(dir.path().join("study.toml"), study).unwrap();
    run_ok(tuneforge().current_dir(dir.path()).args([
        "run",
        "study.toml",
        "--trials",
        "40",
        "--quiet",
    ]));
    let ts = trials(dir.path(), "study.toml");
    assert_eq!(ts.len(), 40);
    let mut archs = std::collections::HashSet::new();
    for t in &ts {
        assert_eq!(t["state"], "complete", "{t}");
        let cmd = t["system_attrs"]["command"].as_str().unwrap();
        let arch = cmd
            .split("--arch ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let arch = arch.trim_matches('\'');
        assert!(arch.starts_with("|") && arch.contains("~2|"), "{cmd}");
        assert!(
            arch.contains(t["params"]["edge_3_2"].as_str().unwrap()),
            "{arch} vs {}",
            t["params"]
        );
        assert!(archs.insert(arch.to_string()), "{arch} was evaluated twice");
    }
    let value = |t: &serde_json::Value| t["values"][0].as_f64().unwrap();
    let start = ts[..10].iter().map(value).fold(f64::MIN, f64::max);
    let best = ts.iter().map(value).fold(f64::MIN, f64::max);
    assert!(
        best > start,
        "local search {best} vs its random start {start}"
    );
    let out = run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["best", "study.toml"]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("architecture = |"), "{text}");
}

#[test]
fn reinforce_searches_a_chain_space_declared_in_a_study_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("study.toml"),
        r#"
[study]
name = "chain"
direction = "minimize"
metric = "loss"
sampler = "reinforce"
seed = 3
trials = 25

[architecture]
type = "chain"
layers = 3
ops = ["mbconv", "conv", "skip"]
[architecture.options]
kernel = [3, 5]
expansion = [1, 6]

[command]
run = ["python3", "-c", "import sys, json; a = sys.argv[1]; print(json.dumps(dict(loss=a.count('kernel=5') + a.count('skip'))))", "{arch}"]
"#,
    )
    .unwrap();
    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml", "--quiet"]),
    );
    let ts = trials(dir.path(), "study.toml");
    assert_eq!(ts.len(), 25);
    for t in &ts {
        assert_eq!(t["state"], "complete", "{t}");
        let cmd = t["system_attrs"]["command"].as_str().unwrap();
        assert_eq!(cmd.matches(" > ").count(), 2, "{cmd}");
        assert!(t["params"]["layer2_kernel"].is_string(), "{}", t["params"]);
    }
}

#[test]
fn bad_architecture_declarations_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[study]\nname = \"x\"\n";
    for (body, why) in [
        (
            "sampler = \"local-search\"\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n",
            "declare it in an [architecture] table",
        ),
        (
            "[architecture]\ntype = \"tree\"\n",
            "type 'tree' is not known",
        ),
        (
            "[architecture]\ntype = \"cell\"\nnodes = 1\n",
            "between 2 and 16 nodes",
        ),
        (
            "[architecture]\ntype = \"chain\"\nops = [\"a\"]\n",
            "needs `layers`",
        ),
        (
            "[architecture]\ntype = \"cell\"\n[params.edge_1_0]\ntype = \"float\"\nlow = 0\nhigh = 1\n",
            "also a decision of the [architecture]",
        ),
        (
            "[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n[command]\nrun = \"echo {arch}\"\n",
            "declares no [architecture]",
        ),
    ] {
        std::fs::write(dir.path().join("s.toml"), format!("{base}{body}")).unwrap();
        let out = tuneforge()
            .current_dir(dir.path())
            .args(["run", "s.toml", "--trials", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(why), "expected '{why}' in: {err}");
        assert!(!dir.path().join("tuneforge.db").exists() || why.is_empty());
    }
}
