//! Study files: the shipped examples parse to the intended spaces; bad files give one clear error
//! naming the file, the line and the value at fault.

use std::path::{Path, PathBuf};
use tuneforge::studyfile::{SamplerKind, StudyFile};
use tuneforge::{Direction, Distribution, ParamValue};

fn examples() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../examples")
}

fn parse(text: &str) -> Result<StudyFile, String> {
    StudyFile::parse(Path::new("dir/study.toml"), text).map_err(|e| e.to_string())
}

#[test]
fn the_seed_space_is_declared_verbatim() {
    let f = StudyFile::load(&examples().join("seed_space.toml")).unwrap();
    let get = |n: &str| f.space.get(n).unwrap().distribution.clone();
    assert_eq!(
        get("backbone"),
        Distribution::categorical([
            "MobileNetV2_0.25",
            "MobileNetV3_small",
            "MobileNetV3_large",
            "ResNet18_V1b",
            "ResNet34_V1b",
            "ResNet50_V1b",
            "ResNet101_V1b",
            "VGG16_bn",
            "se_ResNext50_32x4d",
            "ResNest50",
            "ResNest200"
        ])
    );
    assert_eq!(get("learning_rate"), Distribution::float_log(1e-6, 1e-1));
    assert_eq!(
        get("batch_size"),
        Distribution::categorical([8, 16, 32, 64, 128, 256, 512])
    );
    assert_eq!(get("momentum"), Distribution::float(0.85, 0.98));
    assert_eq!(get("weight_decay"), Distribution::float_log(1e-6, 1e-2));
    assert_eq!(
        get("detector"),
        Distribution::categorical(["faster-rcnn", "ssd", "yolo-v3", "center-net"])
    );
    assert_eq!(f.space.params().len(), 6);
    assert!(f.command.is_none());
}

#[test]
fn the_digits_study_declares_a_conditional_space_and_a_baseline() {
    let f = StudyFile::load(&examples().join("digits/study.toml")).unwrap();
    assert_eq!(f.directions, vec![Direction::Maximize]);
    assert_eq!(f.metrics, vec!["val_accuracy"]);
    assert_eq!(f.sampler, SamplerKind::Auto);
    let m = f.space.get("momentum").unwrap();
    assert_eq!(m.conditions[0].param, "optimizer");
    assert_eq!(m.conditions[0].values, vec![ParamValue::from("sgd")]);
    assert_eq!(f.enqueue.len(), 1);
    assert!(f.command.is_some());
    assert!(
        f.storage_url().ends_with("examples/digits/tuneforge.db"),
        "{}",
        f.storage_url()
    );
}

const HEAD: &str = "[study]\nname = \"s\"\n\n";

#[test]
fn conditions_order_parents_first_and_enumerate_the_grid() {
    let f = parse(&format!(
        "{HEAD}[params.momentum]\ntype = \"float\"\nlow = 0.0\nhigh = 0.9\nstep = 0.3\ncondition = {{ opt = \"sgd\" }}\n\n\
         [params.opt]\ntype = \"categorical\"\nchoices = [\"sgd\", \"adam\"]\n\n\
         [params.layers]\ntype = \"int\"\nlow = 1\nhigh = 3\n"
    ))
    .unwrap();
    let names: Vec<&str> = f.space.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["opt", "momentum", "layers"]);
    let pts = f.space.grid_points().unwrap();
    // sgd: 4 momentum values x 3 layers; adam: 3 layers (no momentum)
    assert_eq!(pts.len(), 15);
    assert!(
        pts.iter()
            .filter(|p| p["opt"] == ParamValue::from("adam"))
            .all(|p| !p.contains_key("momentum"))
    );
}

#[test]
fn json_study_files_are_read_too() {
    let f = StudyFile::parse(
        Path::new("s.json"),
        r#"{"study": {"name": "j", "directions": ["min", "max"], "metrics": ["loss", "acc"]},
            "params": {"x": {"type": "int", "low": 0, "high": 4}}}"#,
    )
    .unwrap();
    assert_eq!(f.directions, vec![Direction::Minimize, Direction::Maximize]);
    assert_eq!(
        f.space.get("x").unwrap().distribution,
        Distribution::int(0, 4)
    );
}

fn bad(text: &str, wants: &[&str]) {
    let e = parse(text).unwrap_err();
    assert!(e.starts_with("dir/study.toml: "), "names the file: {e}");
    assert!(!e.contains('\n'), "one line: {e}");
    for w in wants {
        assert!(e.contains(w), "expected {w:?} in: {e}");
    }
}

#[test]
fn malformed_files_give_one_clear_error_with_the_line() {
    bad("[study\nname = 1", &["line 1"]);
    bad(
        &format!("{HEAD}[params.x]\ntype = \"beta\"\nlow = 1\n"),
        &["parameter 'x'", "line 4", "unknown type 'beta'"],
    );
    bad(
        &format!(
            "{HEAD}[params.a]\ntype = \"int\"\nlow = 1\nhigh = 2\n\n[params.lr]\ntype = \"float\"\nlow = 0.1\nhigh = 0.001\n"
        ),
        &[
            "parameter 'lr'",
            "line 9",
            "low (0.1) must not exceed high (0.001)",
        ],
    );
    bad(
        &format!("{HEAD}[params.c]\ntype = \"categorical\"\nchoices = []\n"),
        &["parameter 'c'", "at least one choice"],
    );
    bad(
        &format!("{HEAD}[params.c]\ntype = \"float\"\nlow = 0\n"),
        &["needs `high`"],
    );
    bad(
        &format!("{HEAD}[params.c]\ntype = \"float\"\nlow = 0\nhigh = 1\nlog = true\n"),
        &["low > 0"],
    );
    bad(
        &format!("{HEAD}[params.c]\ntype = \"float\"\nlow = 0\nhigh = 1\nbogus = 3\n"),
        &["unknown field `bogus`"],
    );
    bad("[study]\nname = \"s\"\ntrails = 3\n", &["line 3", "trails"]);
    bad(
        "[study]\nname = \"s\"\ndirection = \"up\"\n",
        &["direction 'up'"],
    );
    bad(
        "[study]\nname = \"s\"\nsampler = \"magic\"\n",
        &["sampler 'magic'"],
    );
    bad(
        &format!(
            "{HEAD}[params.m]\ntype = \"float\"\nlow = 0\nhigh = 1\ncondition = {{ opt = \"sgd\" }}\n"
        ),
        &["parameter 'm'", "'opt', which is not a parameter"],
    );
    bad(
        &format!(
            "{HEAD}[params.a]\ntype = \"int\"\nlow = 0\nhigh = 1\ncondition = {{ b = 1 }}\n[params.b]\ntype = \"int\"\nlow = 0\nhigh = 1\ncondition = {{ a = 1 }}\n"
        ),
        &["cycle"],
    );
    bad(
        &format!(
            "{HEAD}[command]\nrun = \"train --lr {{lrr}}\"\n[params.lr]\ntype = \"float\"\nlow = 0\nhigh = 1\n"
        ),
        &["[command] run", "unknown placeholder {lrr}"],
    );
    bad(
        &format!("{HEAD}[params.lr]\ntype = \"float\"\nlow = 0\nhigh = 1\n[[enqueue]]\nlr = 2.0\n"),
        &["[[enqueue]] #1", "value 2.0 of 'lr' is outside"],
    );
    bad(
        &format!(
            "{HEAD}[params.lr]\ntype = \"float\"\nlow = 0\nhigh = 1\n[[enqueue]]\nlrr = 0.5\n"
        ),
        &["'lrr' is not a parameter"],
    );
    bad(
        "[study]\nname = \"s\"\ndirections = [\"min\", \"max\"]\nmetric = \"x\"\n",
        &["1 metric(s) for 2 direction(s)"],
    );
    let e = StudyFile::load(Path::new("/nonexistent/study.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent/study.toml") && e.contains("No such file"),
        "{e}"
    );
}

#[test]
fn heartbeat_and_retry_policy_is_read_and_checked() {
    let f = parse(
        "[study]\nname = \"s\"\nheartbeat_interval = 0.5\nheartbeat_grace = 4\nretries = 3\n\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n",
    )
    .unwrap();
    assert_eq!(f.liveness.interval, std::time::Duration::from_millis(500));
    assert_eq!(f.liveness.grace, std::time::Duration::from_secs(4));
    assert_eq!(f.liveness.max_retries, 3);
    let d = parse("[study]\nname = \"s\"\n\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n")
        .unwrap();
    assert_eq!(d.liveness, tuneforge::liveness::Liveness::default());
    bad(
        "[study]\nname = \"s\"\nheartbeat_interval = 30\nheartbeat_grace = 10\n",
        &["heartbeat grace", "longer than the heartbeat interval"],
    );
    bad(
        "[study]\nname = \"s\"\nheartbeat_interval = -1\n",
        &["heartbeat_interval must be a positive number"],
    );
    bad(
        "[study]\nname = \"s\"\nretries = -2\n",
        &["retries must not be negative"],
    );
}

#[test]
fn the_pruner_section_declares_the_rule_its_metric_and_the_resource() {
    let f = parse(
        "[study]\nname = \"s\"\nmetrics = [\"acc\", \"latency\"]\ndirections = [\"maximize\", \"minimize\"]\nsampler = \"bohb\"\n\n\
         [pruner]\ntype = \"hyperband\"\nmetric = \"acc\"\nmin_resource = 1\nmax_resource = 27\nreduction_factor = 3\n\n\
         [command]\nrun = \"train --epochs {budget} --lr {lr}\"\n\n[params.lr]\ntype = \"float\"\nlow = 0.001\nhigh = 0.1\n",
    )
    .unwrap();
    let p = f.pruner.as_ref().unwrap();
    assert_eq!(p.kind, tuneforge::studyfile::PrunerKind::Hyperband);
    assert_eq!(p.metric, "acc");
    assert_eq!(
        p.direction,
        tuneforge::Direction::Maximize,
        "the objective's direction"
    );
    assert_eq!(
        (p.min_resource, p.max_resource, p.reduction_factor),
        (1, Some(27), 3)
    );
    assert_eq!(f.command.as_ref().unwrap().budget, Some(27));
    // BOHB models the budgets the schedule judges at: Hyperband's R·η^(−k), ASHA's r·η^k.
    assert_eq!(p.budgets(), vec![1, 3, 9, 27]);
    let budgets = |kind: &str| {
        parse(&format!(
            "{HEAD}[pruner]\ntype = \"{kind}\"\nmin_resource = 1\nmax_resource = 52\n"
        ))
        .unwrap()
        .pruner
        .unwrap()
        .budgets()
    };
    assert_eq!(budgets("hyperband"), vec![2, 6, 17, 52]);
    assert_eq!(budgets("asha"), vec![1, 3, 9, 27, 52]);
    // `brackets` keeps Hyperband's most exploratory brackets only.
    let one = parse(&format!(
        "{HEAD}[pruner]\ntype = \"hyperband\"\nmax_resource = 52\nbrackets = 1\n"
    ))
    .unwrap();
    assert_eq!(one.pruner.as_ref().unwrap().brackets, Some(1));
    assert_eq!(p.brackets, None, "all brackets unless told");
    bad(
        &format!("{HEAD}[pruner]\ntype = \"hyperband\"\nmax_resource = 52\nbrackets = 0\n"),
        &["brackets must be at least 1 (0)"],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"asha\"\nbrackets = 2\n"),
        &["brackets is a Hyperband setting", "'asha'"],
    );
    // `anchor = "max"` puts ASHA's rungs at Hyperband's budgets.
    let anchored = |extra: &str| {
        parse(&format!(
            "{HEAD}[pruner]\ntype = \"asha\"\nmax_resource = 52\n{extra}"
        ))
        .map(|f| f.pruner.unwrap())
    };
    assert_eq!(
        anchored("anchor = \"max\"\n").unwrap().budgets(),
        vec![2, 6, 17, 52]
    );
    assert_eq!(
        anchored("anchor = \"min\"\n").unwrap().budgets(),
        vec![1, 3, 9, 27, 52]
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"asha\"\nmax_resource = 52\nanchor = \"middle\"\n"),
        &["anchor 'middle' must be \"min\" or \"max\""],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"asha\"\nanchor = \"max\"\n"),
        &["anchor \"max\" needs max_resource"],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"hyperband\"\nmax_resource = 52\nanchor = \"max\"\n"),
        &["anchor is an ASHA setting", "'hyperband'"],
    );
    // `first_full_after` belongs to promotion-based ASHA.
    let promote = "type = \"asha\"\nschedule = \"promote\"\nmax_resource = 52\n";
    assert_eq!(
        anchored("schedule = \"promote\"\nfirst_full_after = 3\n")
            .unwrap()
            .first_full_after,
        Some(3)
    );
    assert_eq!(anchored("").unwrap().first_full_after, None);
    bad(
        &format!("{HEAD}[pruner]\n{promote}first_full_after = 0\n"),
        &["first_full_after must be at least 1 (0)"],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"asha\"\nmax_resource = 52\nfirst_full_after = 3\n"),
        &["first_full_after is a setting of type \"asha\" with schedule \"promote\""],
    );
    bad(
        &format!(
            "{HEAD}[pruner]\ntype = \"hyperband\"\nschedule = \"promote\"\nmax_resource = 52\n\
             first_full_after = 3\n"
        ),
        &["first_full_after is a setting"],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"magic\"\n"),
        &["[pruner]", "type 'magic' is not known"],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"hyperband\"\n"),
        &["needs max_resource"],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"median\"\nmetric = \"other\"\n"),
        &["not an objective", "say its direction"],
    );
    bad(
        "[study]\nname = \"s\"\nsampler = \"bohb\"\n",
        &["bohb", "needs a [pruner]"],
    );
    bad(
        "[study]\nname = \"s\"\n\n[command]\nrun = \"t --epochs {budget}\"\n",
        &["{budget}", "no [pruner] declares max_resource"],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"median\"\nschedule = \"promote\"\n"),
        &["schedule \"promote\" works with type \"asha\" or \"hyperband\""],
    );
    bad(
        &format!("{HEAD}[pruner]\ntype = \"asha\"\nschedule = \"later\"\n"),
        &["schedule 'later'"],
    );
    let f = parse(&format!(
        "{HEAD}[pruner]\ntype = \"asha\"\nschedule = \"promote\"\nmax_resource = 9\n"
    ))
    .unwrap();
    assert!(f.pruner.unwrap().promote);
    let f = parse(&format!(
        "{HEAD}[pruner]\ntype = \"hyperband\"\nschedule = \"promote\"\nmax_resource = 9\n"
    ))
    .unwrap();
    let p = f.pruner.unwrap();
    assert!(p.promote);
    let sampler = p.scheduler(std::sync::Arc::new(tuneforge::RandomSampler::new(0)));
    assert_eq!(sampler.name(), "hyperband-promotion");
    bad(
        &format!("{HEAD}[pruner]\ntype = \"asha\"\nmin_resource = 9\nmax_resource = 3\n"),
        &["max_resource (3) must not be below min_resource (9)"],
    );
}

#[test]
fn architecture_tables_add_their_decisions_to_the_space() {
    let f = StudyFile::load(&examples().join("nas/study.toml")).unwrap();
    assert_eq!(f.sampler, SamplerKind::LocalSearch);
    assert_eq!(f.space.params().len(), 6);
    assert_eq!(
        f.space.get("edge_3_2").unwrap().distribution,
        Distribution::categorical([
            "none",
            "skip_connect",
            "nor_conv_1x1",
            "nor_conv_3x3",
            "avg_pool_3x3"
        ])
    );
    let chain = parse(
        "[study]\nname = \"c\"\nsampler = \"reinforce\"\n[architecture]\ntype = \"chain\"\n\
         layers = 2\nops = [\"mbconv\", \"skip\"]\noptions = { kernel = [3, 5], expansion = [1, 6] }\n\
         [params.lr]\ntype = \"float\"\nlow = 0.001\nhigh = 0.1\nlog = true\n",
    )
    .unwrap();
    let names: Vec<&str> = chain
        .space
        .params()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "lr",
            "layer0_op",
            "layer0_kernel",
            "layer0_expansion",
            "layer1_op",
            "layer1_kernel",
            "layer1_expansion"
        ]
    );
    assert_eq!(
        chain.space.get("layer1_kernel").unwrap().distribution,
        Distribution::categorical(["3", "5"])
    );
    let d = parse(
        "[study]\nname = \"d\"\n[architecture]\ntype = \"decisions\"\n\
         decisions = { act = [\"relu\", \"gelu\"], depth = [2, 4, 8] }\n",
    )
    .unwrap();
    let space = d.architecture.unwrap().build().unwrap();
    assert_eq!(space.format(&[1, 2]), "act=gelu,depth=8");
    let e = parse("[study]\nname = \"d\"\n[architecture]\ntype = \"decisions\"\n").unwrap_err();
    assert!(e.contains("at least one decision"), "{e}");
}

#[test]
fn the_sampler_table_sets_bohbs_and_tpes_models() {
    use tuneforge::sampler::{BohbSampler, TpeConfig};
    let hb = "[pruner]\ntype = \"hyperband\"\nmin_resource = 1\nmax_resource = 27\n";
    let f = parse(&format!(
        "[study]\nname = \"s\"\nsampler = \"bohb\"\n\n[sampler]\ngamma = 0.15\ncandidates = 64\n\
         min_points = 8\nrandom_fraction = 0.2\nmin_model_budget = 3\nbandwidth_factor = 3\n\
         low_budget_bandwidth_factor = 2\n\n{hb}\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n"
    ))
    .unwrap();
    let bohb = f.bohb_sampler(0).unwrap();
    assert_eq!(bohb.budgets(), &[1, 3, 9, 27]);
    let s = bohb.settings();
    assert_eq!(
        (
            s.gamma,
            s.candidates,
            s.min_points,
            s.random_fraction,
            s.min_model_budget,
            s.bandwidth_factor,
            s.low_budget_bandwidth_factor
        ),
        (0.15, 64, 8, 0.2, 3, 3.0, 2.0)
    );
    // Unset settings keep the sampler's defaults.
    let f = parse(&format!(
        "[study]\nname = \"s\"\nsampler = \"bohb\"\n\n[sampler]\ncandidates = 64\n\n{hb}\n\
         [params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n"
    ))
    .unwrap();
    let default = BohbSampler::new(1, 27, 3, 0).settings();
    let s = f.bohb_sampler(0).unwrap().settings();
    assert_eq!(s.candidates, 64);
    assert_eq!(
        (s.gamma, s.min_points, s.random_fraction),
        (default.gamma, default.min_points, default.random_fraction)
    );
    // No [sampler] table: nothing changes.
    let f = parse(&format!(
        "[study]\nname = \"s\"\nsampler = \"bohb\"\n\n{hb}\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n"
    ))
    .unwrap();
    assert_eq!(f.bohb_sampler(0).unwrap().settings(), default);

    let f = parse(
        "[study]\nname = \"s\"\nsampler = \"tpe\"\n\n[sampler]\ngamma = 0.2\ncandidates = 100\n\
         startup_trials = 4\nbandwidth_factor = 2.5\n\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n",
    )
    .unwrap();
    let c = f.tpe_config();
    assert_eq!(
        (
            c.gamma_fraction,
            c.n_ei_candidates,
            c.n_startup_trials,
            c.bandwidth_factor
        ),
        (0.2, 100, 4, 2.5)
    );
    let d = TpeConfig::default();
    let c = parse("[study]\nname = \"s\"\nsampler = \"tpe\"\n\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n")
        .unwrap()
        .tpe_config();
    assert_eq!(
        (
            c.gamma_fraction,
            c.n_ei_candidates,
            c.n_startup_trials,
            c.bandwidth_factor
        ),
        (d.gamma_fraction, d.n_ei_candidates, d.n_startup_trials, 1.0)
    );
}

#[test]
fn a_sampler_setting_out_of_range_or_foreign_to_the_sampler_is_refused() {
    let file = |sampler: &str, setting: &str| {
        format!(
            "[study]\nname = \"s\"\nsampler = \"{sampler}\"\n\n[sampler]\n{setting}\n\n\
             [pruner]\ntype = \"hyperband\"\nmin_resource = 1\nmax_resource = 27\n\n\
             [params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n"
        )
    };
    for g in ["nan", "1.0", "0.001", "-0.2"] {
        bad(
            &file("bohb", &format!("gamma = {g}")),
            &["[sampler] gamma must be between 0.01 and 0.99"],
        );
    }
    bad(
        &file("tpe", "candidates = 0"),
        &["candidates must be at least 1 (0)"],
    );
    bad(
        &file("tpe", "startup_trials = -1"),
        &["startup_trials must be at least 0 (-1)"],
    );
    bad(
        &file("bohb", "candidates = -3"),
        &["[sampler] candidates must be at least 1 (-3)"],
    );
    bad(
        &file("bohb", "min_points = 1"),
        &["min_points must be at least 2"],
    );
    bad(
        &file("bohb", "random_fraction = 1.5"),
        &["random_fraction must be between 0 and 1"],
    );
    bad(
        &file("bohb", "random_fraction = nan"),
        &["random_fraction must be between 0 and 1"],
    );
    for b in ["0", "-1", "nan", "inf"] {
        bad(
            &file("bohb", &format!("bandwidth_factor = {b}")),
            &["[sampler] bandwidth_factor must be above 0"],
        );
    }
    for b in ["0", "-2", "nan"] {
        bad(
            &file("bohb", &format!("low_budget_bandwidth_factor = {b}")),
            &["[sampler] low_budget_bandwidth_factor must be above 0"],
        );
    }
    bad(
        &file("tpe", "low_budget_bandwidth_factor = 3"),
        &["`low_budget_bandwidth_factor` is not a setting of sampler \"tpe\""],
    );
    bad(
        &file("random", "bandwidth_factor = 3"),
        &["`bandwidth_factor` is not a setting of sampler \"random\""],
    );
    bad(
        &file("bohb", "min_model_budget = 0"),
        &["min_model_budget must be at least 1 (0)"],
    );
    bad(
        &file("bohb", "min_model_budget = 28"),
        &["[sampler] min_model_budget (28) is above the largest budget (27)"],
    );
    bad(
        &file("tpe", "min_model_budget = 3"),
        &["`min_model_budget` is not a setting of sampler \"tpe\""],
    );
    bad(
        &file("random", "gamma = 0.2"),
        &[
            "`gamma` is not a setting of sampler \"random\"",
            "\"tpe\" and \"bohb\"",
        ],
    );
    bad(
        &file("tpe", "min_points = 8"),
        &[
            "`min_points` is not a setting of sampler \"tpe\"",
            "\"bohb\"",
        ],
    );
    bad(
        &file("bohb", "startup_trials = 5"),
        &["`startup_trials` is not a setting of sampler \"bohb\""],
    );
    bad(&file("bohb", "gama = 0.2"), &["unknown field", "gama"]);
}

#[test]
fn the_resource_can_be_named_and_its_name_means_budget_in_the_command() {
    let file = |resource: &str, run: &str| {
        format!(
            "[study]\nname = \"s\"\n\n[pruner]\ntype = \"hyperband\"\n{resource}\nmin_resource = 1\n\
             max_resource = 27\n\n[command]\nrun = \"{run}\"\n\n[params.lr]\ntype = \"float\"\nlow = 0.01\nhigh = 0.1\n"
        )
    };
    let f = parse(&file(
        "resource = \"epoch\"",
        "train --epochs {epoch} --lr {lr}",
    ))
    .unwrap();
    let p = f.pruner.as_ref().unwrap();
    assert_eq!(p.resource.as_deref(), Some("epoch"));
    assert_eq!(p.resource_name(), "epoch");
    let c = f.command.as_ref().unwrap();
    assert_eq!(c.resource.as_deref(), Some("epoch"));
    assert!(c.template.uses("budget"), "{{epoch}} is the budget");
    let mut params = indexmap::IndexMap::new();
    params.insert("lr".to_string(), ParamValue::Float(0.05));
    let ctx = tuneforge::runner::template::Context {
        budget: Some(9),
        ..Default::default()
    };
    assert_eq!(
        c.template.expand(&params, &ctx),
        ["train", "--epochs", "9", "--lr", "0.05"]
    );
    // Unnamed, the resource's steps are plain steps and {epoch} means nothing.
    let f = parse(&file("", "train --epochs {budget}")).unwrap();
    assert_eq!(f.pruner.as_ref().unwrap().resource_name(), "step");
    assert_eq!(f.command.as_ref().unwrap().resource, None);
    bad(
        &file("", "train --epochs {epoch}"),
        &["unknown placeholder {epoch}"],
    );
    // {epoch} without max_resource has no budget to mean.
    bad(
        "[study]\nname = \"s\"\n\n[pruner]\ntype = \"median\"\nresource = \"epoch\"\n\n[command]\nrun = \"t {epoch}\"\n\n[params.lr]\ntype = \"float\"\nlow = 0.01\nhigh = 0.1\n",
        &["uses {budget} (or {epoch}), but no [pruner] declares max_resource"],
    );
    bad(
        &file("resource = \"data fraction\"", "t"),
        &["[pruner] resource 'data fraction' must be a name"],
    );
    bad(
        &file("resource = \"\"", "t"),
        &["resource '' must be a name"],
    );
    bad(
        &file("resource = \"trial\"", "t"),
        &["resource 'trial' is a built-in placeholder"],
    );
    bad(
        &file("resource = \"lr\"", "t"),
        &["resource 'lr' is also a parameter"],
    );
}
