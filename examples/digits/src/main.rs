//! digits-mlp: trains a one-hidden-layer perceptron on the 8x8 handwritten digits (1,797 images,
//! 10 classes) and reports validation accuracy per epoch as tuneforge metric lines.
//!
//! Fixed split (same for every run): 60% train, 20% validation, 20% test. The training seed comes
//! from `--seed`, else `TUNEFORGE_SEED`, else 0.
//!
//! ```text
//! digits-mlp --data data/digits.csv.gz --lr 0.05 --hidden 32 --epochs 20 --optimizer sgd --momentum 0.9
//! {"step":1,"train_loss":1.52,"val_loss":0.91,"val_accuracy":0.83}
//! ...
//! {"val_accuracy":0.97,"test_accuracy":0.96}
//! ```
//!
//! With `--checkpoint DIR` the weights, optimiser state and shuffling state are written to
//! `DIR/checkpoint.json` at the end; `--resume DIR` continues such a run from its last epoch
//! to `--epochs`, exactly as one uninterrupted run would have (an empty value starts afresh, so
//! tuneforge's `--resume={resume}` works for new and promoted trials alike).

// Dense-layer arithmetic reads more plainly with explicit indices than with zipped iterators.
#![allow(clippy::needless_range_loop)]

use std::io::Read;
use std::process::ExitCode;

struct Config {
    data: String,
    lr: f64,
    hidden: usize,
    epochs: usize,
    batch_size: usize,
    optimizer: String,
    momentum: f64,
    weight_decay: f64,
    activation: String,
    seed: u64,
    checkpoint: Option<String>,
    resume: Option<String>,
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        data: "data/digits.csv.gz".into(),
        lr: 0.01,
        hidden: 16,
        epochs: 10,
        batch_size: 32,
        optimizer: "sgd".into(),
        momentum: 0.0,
        weight_decay: 0.0,
        activation: "relu".into(),
        seed: std::env::var("TUNEFORGE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        checkpoint: None,
        resume: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let (key, inline) = match args[i].split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (args[i].clone(), None),
        };
        if key == "--help" || key == "-h" {
            println!(
                "usage: digits-mlp [--data PATH] [--lr F] [--hidden N] [--epochs N] [--batch-size N] \
                 [--optimizer sgd|adam] [--momentum F] [--weight-decay F] [--activation relu|tanh] [--seed N] \
                 [--checkpoint DIR] [--resume DIR]"
            );
            std::process::exit(0);
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i).cloned().ok_or(format!("{key} needs a value"))?
            }
        };
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{key}: '{v}' is not a number"))
        };
        let int = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{key}: '{v}' is not a non-negative integer"))
        };
        match key.as_str() {
            "--data" => c.data = value,
            "--lr" => c.lr = num(&value)?,
            "--hidden" => c.hidden = int(&value)?,
            "--epochs" => c.epochs = int(&value)?,
            "--batch-size" => c.batch_size = int(&value)?,
            "--optimizer" => c.optimizer = value,
            "--momentum" => c.momentum = num(&value)?,
            "--weight-decay" => c.weight_decay = num(&value)?,
            "--activation" => c.activation = value,
            "--seed" => c.seed = int(&value)? as u64,
            "--checkpoint" => c.checkpoint = Some(value).filter(|v| !v.is_empty()),
            "--resume" => c.resume = Some(value).filter(|v| !v.is_empty()),
            other => return Err(format!("unknown option {other}")),
        }
        i += 1;
    }
    if !["sgd", "adam"].contains(&c.optimizer.as_str()) {
        return Err(format!(
            "--optimizer must be sgd or adam, not {}",
            c.optimizer
        ));
    }
    if !["relu", "tanh"].contains(&c.activation.as_str()) {
        return Err(format!(
            "--activation must be relu or tanh, not {}",
            c.activation
        ));
    }
    if c.hidden == 0 || c.batch_size == 0 || c.epochs == 0 {
        return Err("--hidden, --batch-size and --epochs must be positive".into());
    }
    if !(c.lr > 0.0 && c.lr.is_finite()) {
        return Err(format!("--lr must be a positive number, not {}", c.lr));
    }
    Ok(c)
}

/// xorshift64*: a tiny seeded generator, enough for initialisation and shuffling.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

fn load(path: &str) -> Result<(Vec<[f64; 64]>, Vec<usize>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{path}: not a gzip CSV file ({e})"))?;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            // A header line is allowed; anything else malformed is an error.
            if n == 0 && fields.iter().any(|f| f.parse::<f64>().is_err()) {
                continue;
            }
            return Err(format!(
                "{path}:{}: expected 65 fields, found {}",
                n + 1,
                fields.len()
            ));
        }
        let mut x = [0.0; 64];
        for (k, f) in fields[..64].iter().enumerate() {
            x[k] = f
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("{path}:{}: '{f}' is not a number", n + 1))?
                / 16.0;
        }
        let y: usize = fields[64]
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{path}:{}: bad label", n + 1))? as usize;
        if y > 9 {
            return Err(format!("{path}:{}: label {y} out of range", n + 1));
        }
        xs.push(x);
        ys.push(y);
    }
    if xs.len() < 100 {
        return Err(format!("{path}: only {} rows", xs.len()));
    }
    Ok((xs, ys))
}

struct Mlp {
    w1: Vec<f64>, // hidden x 64
    b1: Vec<f64>,
    w2: Vec<f64>, // 10 x hidden
    b2: Vec<f64>,
    h: usize,
    tanh: bool,
}

impl Mlp {
    fn new(h: usize, tanh: bool, rng: &mut Rng) -> Self {
        let init = |n: usize, fan_in: usize, rng: &mut Rng| -> Vec<f64> {
            let a = (6.0 / fan_in as f64).sqrt();
            (0..n).map(|_| (rng.unit() * 2.0 - 1.0) * a).collect()
        };
        Mlp {
            w1: init(h * 64, 64, rng),
            b1: vec![0.0; h],
            w2: init(10 * h, h, rng),
            b2: vec![0.0; 10],
            h,
            tanh,
        }
    }

    fn params(&mut self) -> [&mut Vec<f64>; 4] {
        [&mut self.w1, &mut self.b1, &mut self.w2, &mut self.b2]
    }

    /// Forward pass: hidden activations and class probabilities.
    fn forward(&self, x: &[f64; 64]) -> (Vec<f64>, [f64; 10]) {
        let mut a = vec![0.0; self.h];
        for j in 0..self.h {
            let row = &self.w1[j * 64..(j + 1) * 64];
            let z: f64 = self.b1[j] + row.iter().zip(x).map(|(w, v)| w * v).sum::<f64>();
            a[j] = if self.tanh { z.tanh() } else { z.max(0.0) };
        }
        let mut logits = [0.0; 10];
        for (k, l) in logits.iter_mut().enumerate() {
            let row = &self.w2[k * self.h..(k + 1) * self.h];
            *l = self.b2[k] + row.iter().zip(&a).map(|(w, v)| w * v).sum::<f64>();
        }
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut p = [0.0; 10];
        let mut s = 0.0;
        for k in 0..10 {
            p[k] = (logits[k] - m).exp();
            s += p[k];
        }
        for v in p.iter_mut() {
            *v /= s;
        }
        (a, p)
    }

    fn evaluate(&self, xs: &[[f64; 64]], ys: &[usize], idx: &[usize]) -> (f64, f64) {
        let mut loss = 0.0;
        let mut correct = 0;
        for &i in idx {
            let (_, p) = self.forward(&xs[i]);
            loss -= p[ys[i]].max(1e-12).ln();
            let arg = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
            correct += (arg == ys[i]) as usize;
        }
        (loss / idx.len() as f64, correct as f64 / idx.len() as f64)
    }
}

/// Everything a run needs to continue: the weights, the optimiser's moments and step count,
/// the shuffling generator, and the epoch reached.
struct State {
    net: Mlp,
    m1: Vec<Vec<f64>>,
    m2: Vec<Vec<f64>>,
    t_adam: i32,
    rng: Rng,
    /// The training examples in the order the last epoch visited them (each epoch shuffles
    /// the previous order).
    order: Vec<usize>,
    epoch: usize,
}

const CHECKPOINT: &str = "checkpoint.json";

fn save(state: &mut State, c: &Config, dir: &str) -> Result<(), String> {
    let [w1, b1, w2, b2] = state.net.params();
    let doc = serde_json::json!({
        "epoch": state.epoch,
        "hidden": c.hidden,
        "activation": c.activation,
        "optimizer": c.optimizer,
        "params": [w1, b1, w2, b2],
        "m1": state.m1,
        "m2": state.m2,
        "t_adam": state.t_adam,
        "rng": state.rng.0,
        "order": state.order,
    });
    let path = std::path::Path::new(dir).join(CHECKPOINT);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, doc.to_string())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot write the checkpoint {}: {e}", path.display()))
}

fn restore(c: &Config, dir: &str, mut train_set: Vec<usize>) -> Result<State, String> {
    train_set.sort_unstable();
    let path = std::path::Path::new(dir).join(CHECKPOINT);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the checkpoint {}: {e}", path.display()))?;
    let bad = |what: &str| format!("checkpoint {}: {what}", path.display());
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    for (key, want) in [
        ("hidden", serde_json::json!(c.hidden)),
        ("activation", serde_json::json!(c.activation)),
        ("optimizer", serde_json::json!(c.optimizer)),
    ] {
        if doc[key] != want {
            return Err(bad(&format!(
                "it was trained with {key} {}, this run has {want}",
                doc[key]
            )));
        }
    }
    let vecs = |v: &serde_json::Value, what: &str| -> Result<Vec<Vec<f64>>, String> {
        serde_json::from_value::<Vec<Vec<f64>>>(v.clone()).map_err(|e| bad(&format!("{what}: {e}")))
    };
    let params = vecs(&doc["params"], "params")?;
    let (m1, m2) = (vecs(&doc["m1"], "m1")?, vecs(&doc["m2"], "m2")?);
    let h = c.hidden;
    let sizes = [h * 64, h, 10 * h, 10];
    for (name, v) in [("params", &params), ("m1", &m1), ("m2", &m2)] {
        if v.iter().map(Vec::len).ne(sizes) {
            return Err(bad(&format!("{name} do not fit {h} hidden units")));
        }
    }
    let mut p = params.into_iter();
    let mut next = || p.next().unwrap_or_default();
    let net = Mlp {
        w1: next(),
        b1: next(),
        w2: next(),
        b2: next(),
        h,
        tanh: c.activation == "tanh",
    };
    let int = |key: &str| doc[key].as_u64().ok_or_else(|| bad(&format!("no {key}")));
    let order: Vec<usize> =
        serde_json::from_value(doc["order"].clone()).map_err(|e| bad(&format!("order: {e}")))?;
    let mut sorted = order.clone();
    sorted.sort_unstable();
    if sorted != train_set {
        return Err(bad("its training examples are not this run's"));
    }
    Ok(State {
        net,
        m1,
        m2,
        t_adam: int("t_adam")? as i32,
        rng: Rng(int("rng")?),
        order,
        epoch: int("epoch")? as usize,
    })
}

fn main() -> ExitCode {
    let c = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("digits-mlp: {e}");
            return ExitCode::from(2);
        }
    };
    let (xs, ys) = match load(&c.data) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("digits-mlp: {e}");
            return ExitCode::from(1);
        }
    };
    // The split is fixed; only initialisation and batch order depend on the seed.
    let mut order: Vec<usize> = (0..xs.len()).collect();
    Rng::new(12345).shuffle(&mut order);
    let n_train = xs.len() * 6 / 10;
    let n_val = xs.len() * 2 / 10;
    let train = order[..n_train].to_vec();
    let val = order[n_train..n_train + n_val].to_vec();
    let test = order[n_train + n_val..].to_vec();

    let mut state = match &c.resume {
        Some(dir) => match restore(&c, dir, train.clone()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("digits-mlp: {e}");
                return ExitCode::from(1);
            }
        },
        None => {
            let mut rng = Rng::new(c.seed + 1);
            let mut net = Mlp::new(c.hidden, c.activation == "tanh", &mut rng);
            let sizes: Vec<usize> = net.params().iter().map(|p| p.len()).collect();
            let zeros = || sizes.iter().map(|&n| vec![0.0; n]).collect::<Vec<_>>();
            State {
                net,
                m1: zeros(),
                m2: zeros(),
                t_adam: 0,
                rng,
                order: train.clone(),
                epoch: 0,
            }
        }
    };
    let sizes: Vec<usize> = state.net.params().iter().map(|p| p.len()).collect();
    let State {
        mut net,
        mut m1,
        mut m2,
        mut t_adam,
        mut rng,
        order,
        epoch: start,
    } = state;
    let mut train = order;
    let h = c.hidden;
    let mut val_acc = net.evaluate(&xs, &ys, &val).1;
    for epoch in start + 1..=c.epochs {
        rng.shuffle(&mut train);
        let mut train_loss = 0.0;
        for batch in train.chunks(c.batch_size) {
            let mut g: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
            for &i in batch {
                let x = &xs[i];
                let (a, p) = net.forward(x);
                train_loss -= p[ys[i]].max(1e-12).ln();
                let mut dl = p;
                dl[ys[i]] -= 1.0;
                let mut da = vec![0.0; h];
                for k in 0..10 {
                    g[3][k] += dl[k];
                    for j in 0..h {
                        g[2][k * h + j] += dl[k] * a[j];
                        da[j] += dl[k] * net.w2[k * h + j];
                    }
                }
                for j in 0..h {
                    let dz = if net.tanh {
                        da[j] * (1.0 - a[j] * a[j])
                    } else if a[j] > 0.0 {
                        da[j]
                    } else {
                        0.0
                    };
                    if dz == 0.0 {
                        continue;
                    }
                    g[1][j] += dz;
                    for (gw, xv) in g[0][j * 64..(j + 1) * 64].iter_mut().zip(x) {
                        *gw += dz * xv;
                    }
                }
            }
            let scale = 1.0 / batch.len() as f64;
            t_adam += 1;
            let wd = c.weight_decay;
            for (pi, p) in net.params().into_iter().enumerate() {
                for (k, w) in p.iter_mut().enumerate() {
                    let grad = g[pi][k] * scale + wd * *w;
                    if c.optimizer == "adam" {
                        let (b1, b2) = (0.9, 0.999);
                        m1[pi][k] = b1 * m1[pi][k] + (1.0 - b1) * grad;
                        m2[pi][k] = b2 * m2[pi][k] + (1.0 - b2) * grad * grad;
                        let mh = m1[pi][k] / (1.0 - f64::powi(b1, t_adam));
                        let vh = m2[pi][k] / (1.0 - f64::powi(b2, t_adam));
                        *w -= c.lr * mh / (vh.sqrt() + 1e-8);
                    } else {
                        m1[pi][k] = c.momentum * m1[pi][k] + grad;
                        *w -= c.lr * m1[pi][k];
                    }
                }
            }
        }
        let (val_loss, acc) = net.evaluate(&xs, &ys, &val);
        val_acc = acc;
        println!(
            "{{\"step\":{epoch},\"train_loss\":{},\"val_loss\":{},\"val_accuracy\":{acc:.6}}}",
            json_num(train_loss / train.len() as f64),
            json_num(val_loss)
        );
    }
    let (_, test_acc) = net.evaluate(&xs, &ys, &test);
    if let Some(dir) = &c.checkpoint {
        let mut state = State {
            net,
            m1,
            m2,
            t_adam,
            rng,
            order: train,
            epoch: c.epochs.max(start),
        };
        if let Err(e) = save(&mut state, &c, dir) {
            eprintln!("digits-mlp: {e}");
            return ExitCode::from(1);
        }
    }
    println!("{{\"val_accuracy\":{val_acc:.6},\"test_accuracy\":{test_acc:.6}}}");
    ExitCode::SUCCESS
}

/// A number as JSON, with Python's spelling for values JSON lacks (tuneforge reads both).
fn json_num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        format!("{x:.6}")
    }
}
