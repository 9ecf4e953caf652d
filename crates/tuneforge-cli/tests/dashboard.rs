//! The dashboard end to end: studies run by `tuneforge run` (command trials, Hyperband, two
//! objectives), `tuneforge dashboard` serving them, and headless Chromium (driven through
//! ChromeDriver's WebDriver protocol) opening the page, checking that every plot drew data,
//! clicking through to a trial, and saving screenshots in `tmp/dashboard-e2e/` of the cargo
//! target directory.
//! Also `report` (opened from disk in the browser) and `plot`.
//!
//! Chromium and ChromeDriver come from `scripts/install-chromium`; without them the browser
//! test skips with a message, except under `CI=true`, where it fails.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{run_err, run_ok, tuneforge};
use serde_json::{Value, json};

const TRIAL: &str = r#"x=$1; k=$2; n=$3
i=1
while [ "$i" -le "$n" ]; do
  loss=$(awk -v x="$x" -v i="$i" -v k="$k" 'BEGIN { o = (k == "a") ? 0 : 0.3; printf "%.6f", (log(x) + 3)^2 * 0.1 + o + 1 / i }')
  printf '{"step": %d, "loss": %s}\n' "$i" "$loss"
  i=$((i + 1))
done
echo "trained $n epochs" >&2
printf '{"loss": %s}\n' "$loss"
"#;

const STUDY: &str = r#"[study]
name = "e2e"
metric = "loss"
sampler = "random"
seed = 4
trials = 40
jobs = 4

[pruner]
type = "hyperband"
min_resource = 1
max_resource = 9
reduction_factor = 3

[command]
run = "sh trial.sh {x} {kind} {budget} {units}"

[params.x]
type = "float"
low = 0.001
high = 1.0
log = true

[params.kind]
type = "categorical"
choices = ["a", "b"]

[params.units]
type = "int"
low = 8
high = 64
"#;

const PARETO: &str = r#"[study]
name = "e2e-pareto"
directions = ["minimize", "minimize"]
metrics = ["loss", "cost"]
sampler = "random"
seed = 1
trials = 20
jobs = 4

[command]
run = "sh pareto.sh {w}"

[params.w]
type = "float"
low = 0.0
high = 1.0
"#;

const PARETO_TRIAL: &str = r#"awk -v w="$1" 'BEGIN { printf "{\"loss\": %.6f, \"cost\": %.6f}\n", (1 - w)^2, w }'
"#;

/// A directory with both studies run.
fn seeded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("trial.sh", TRIAL),
        ("study.toml", STUDY),
        ("pareto.sh", PARETO_TRIAL),
        ("pareto.toml", PARETO),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml"]),
    );
    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "pareto.toml"]),
    );
    dir
}

/// `tuneforge report e2e` into `dir/report.html`.
fn write_report(dir: &Path) -> PathBuf {
    let report = dir.join("report.html");
    run_ok(
        tuneforge()
            .current_dir(dir)
            .args(["report", "e2e", "-o"])
            .arg(&report),
    );
    report
}

/// A child process killed when the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tuneforge dashboard` on a free port; returns it and the address it printed.
fn dashboard(dir: &Path, extra: &[&str]) -> (Reaped, String) {
    let mut child = tuneforge()
        .current_dir(dir)
        .args(["dashboard", "--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let reaped = Reaped(child);
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the dashboard ended before printing its address")
            .unwrap();
        if let Some(u) = line.strip_prefix("open ") {
            break u.to_string();
        }
    };
    // Keep reading what it prints, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    (reaped, url)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn get(url: &str) -> (u16, Value) {
    let mut resp = agent().get(url).call().unwrap();
    let status = resp.status().as_u16();
    let v = resp.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, v)
}

#[test]
fn the_dashboard_serves_the_api_and_needs_a_token_beyond_loopback() {
    let dir = seeded();
    let (_server, url) = dashboard(dir.path(), &[]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let base = url.trim_end_matches('/');
    let (status, v) = get(&format!("{base}/api/studies"));
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> = v["studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"e2e") && names.contains(&"e2e-pareto"));
    let (status, v) = get(&format!("{base}/api/studies/e2e/rungs"));
    assert_eq!(status, 200);
    assert_eq!(v["rule"], "hyperband");
    assert_eq!(v["step"], "step", "no resource name declared");
    let (status, v) = get(&format!("{base}/api/studies/e2e/trials/0"));
    assert_eq!(status, 200);
    assert!(
        v["logs"]["stdout"]["text"]
            .as_str()
            .unwrap()
            .contains("\"step\": 1")
    );
    assert!(
        v["environment"]["cpu_cores"].is_number(),
        "{}",
        v["environment"]
    );
    let (status, _) = get(&format!("{base}/api/studies/missing"));
    assert_eq!(status, 404);

    // Listening on every interface: a token is generated, printed, and required.
    let (_open, url) = dashboard(dir.path(), &["--host", "0.0.0.0"]);
    let (plain, token) = url
        .split_once("?token=")
        .expect("the address carries a token");
    assert_eq!(token.len(), 32);
    let (status, v) = get(&format!("{plain}api/studies"));
    assert_eq!(status, 401, "{v}");
    let mut resp = agent()
        .get(&format!("{plain}api/studies"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(v["studies"].as_array().unwrap().len(), 2);

    // A storage that does not exist is refused before serving.
    let out = run_err(tuneforge().current_dir(dir.path()).args([
        "dashboard",
        "--port",
        "0",
        "--storage",
        "sqlite://nothing/here.db",
    ]));
    assert!(out.contains("no database at"));
}

#[test]
fn report_and_plot_write_their_files() {
    let dir = seeded();
    let report = write_report(dir.path());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("id=\"tuneforge-report\""));
    assert!(
        !html.contains("src=\"assets/"),
        "nothing is loaded from elsewhere"
    );
    let start = html.find("application/json\">").unwrap() + "application/json\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let doc: Value = serde_json::from_str(&html[start..end].replace("<\\/", "</")).unwrap();
    let answers = doc["answers"].as_object().unwrap();
    for key in [
        "/api/studies/e2e",
        "/api/studies/e2e/history",
        "/api/studies/e2e/rungs",
        "/api/studies/e2e/trials?all=1",
    ] {
        assert!(answers.contains_key(key), "{key}");
    }
    assert_eq!(
        answers["/api/studies/e2e/trials?all=1"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        40
    );

    for (study, kind, file) in [
        ("e2e", "history", "h.png"),
        ("e2e", "importance", "i.svg"),
        ("e2e", "parallel", "p.png"),
        ("e2e-pareto", "pareto", "f.svg"),
    ] {
        let out = dir.path().join(file);
        run_ok(
            tuneforge()
                .current_dir(dir.path())
                .args(["plot", study, "--kind", kind, "-o"])
                .arg(&out),
        );
        let bytes = std::fs::read(&out).unwrap();
        if file.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{file}");
            assert!(bytes.len() > 10_000, "{file}: {} bytes", bytes.len());
        } else {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains("<svg"), "{file}");
            assert!(
                text.matches("<circle").count() + text.matches("<rect").count() > 3,
                "{file}"
            );
        }
    }
    // Bad requests say why.
    for (args, needle) in [
        (
            vec!["plot", "e2e", "--kind", "pie", "-o", "x.png"],
            "--kind 'pie' is not known",
        ),
        (
            vec!["plot", "e2e", "--kind", "history", "-o", "x.gif"],
            "name the file .png or .svg",
        ),
        (
            vec!["plot", "e2e", "--kind", "pareto", "-o", "x.svg"],
            "one objective",
        ),
        (vec!["report", "nope", "-o", "r.html"], "nope"),
    ] {
        let err = run_err(tuneforge().current_dir(dir.path()).args(&args));
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

// ------------------------------------------------------------------ the browser

fn browser_available() -> bool {
    let found = ["chromium", "chromedriver"].iter().all(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !found {
        if tuneforge::testing::postgres::required() {
            panic!(
                "Chromium and ChromeDriver are required under CI=true (scripts/install-chromium)"
            );
        }
        eprintln!("skipping the browser test: run scripts/install-chromium");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A WebDriver session on headless Chromium.
struct Browser {
    base: String,
    _driver: Reaped,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Reaped(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let root = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent().get(&format!("{root}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1400,2400",
                         format!("--user-data-dir={}", profile.path().display())],
            }
        }}});
        let mut resp = agent()
            .post(&format!("{root}/session"))
            .send_json(&caps)
            .unwrap();
        let v: Value = resp.body_mut().read_json().unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        Browser {
            base: format!("{root}/session/{id}"),
            _driver: driver,
            _profile: profile,
        }
    }

    fn command(&self, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.try_command(path, body);
        assert_eq!(status, 200, "WebDriver {path}: {v}");
        v["value"].clone()
    }

    /// The WebDriver status and answer of one command.
    fn try_command(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut resp = match body {
            Some(b) => agent().post(&url).send_json(&b).unwrap(),
            None => agent().get(&url).call().unwrap(),
        };
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap())
    }

    fn open(&self, url: &str) {
        self.command("/url", Some(json!({"url": url})));
    }

    fn script(&self, script: &str) -> Value {
        self.command("/execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// Waits until the page says it has drawn (`#app[data-ready]`).
    fn wait_ready(&self, what: &str) {
        let started = Instant::now();
        loop {
            // The page of the current route: a click sets the hash before that page loads,
            // while the page it leaves still says it is ready.
            let v = self.script("const a = document.getElementById('app'); return a && a.dataset.ready && a.dataset.page === location.hash ? a.dataset.ready : null;");
            if v == "1" {
                return;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let text = self.script("return document.body.innerText.slice(0, 2000);");
                panic!("{what} never became ready: {text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.command("/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-e2e");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Clicks the element `css` selects. The live page redraws while the study runs, so an
    /// element found may be replaced before the click lands (WebDriver's "stale element
    /// reference"): it is then found again, for up to 10 seconds.
    fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let el = self.command(
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            );
            let id = el
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("no element {css}: {el}"))
                .to_string();
            let (status, v) = self.try_command(&format!("/element/{id}/click"), Some(json!({})));
            if status == 200 {
                return;
            }
            let stale = v["value"]["error"] == "stale element reference";
            assert!(
                stale && started.elapsed() < Duration::from_secs(10),
                "WebDriver click on {css}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = agent().delete(&self.base).call();
    }
}

/// Marks drawn by each plot of the study page (0: an empty plot; -1: no plot at all).
const PLOT_MARKS: &str = r#"
const r = {};
for (const id of ['history', 'curves', 'importance', 'contour', 'parallel', 'rungs', 'pareto']) {
  const c = document.querySelector('#' + id + ' canvas');
  r[id] = c ? Number(c.dataset.points || 0) : -1;
}
const s = document.querySelector('#slices > div');
r.slices = s ? Number(s.dataset.points || 0) : -1;
const t = document.querySelector('#trials .tablewrap');
r.table_rows = t ? Number(t.dataset.rows || 0) : -1;
r.errors = Array.from(document.querySelectorAll('.error')).map(e => e.textContent);
return r;
"#;

/// The plots of a study with one objective, intermediate values and a rung-based pruner.
const ONE_OBJECTIVE_PLOTS: [&str; 8] = [
    "history",
    "curves",
    "importance",
    "contour",
    "parallel",
    "slices",
    "rungs",
    "table_rows",
];

fn assert_plots(marks: &Value, plots: &[&str]) {
    assert_eq!(marks["errors"], json!([]), "{marks}");
    for p in plots {
        assert!(
            marks[*p].as_f64().unwrap_or(0.0) > 0.0,
            "{p} drew nothing: {marks}"
        );
    }
}

#[test]
fn a_real_browser_shows_every_plot_and_clicks_through_to_a_trial() {
    if !browser_available() {
        return;
    }
    let dir = seeded();
    let (_server, url) = dashboard(dir.path(), &[]);
    let browser = Browser::start();

    // The study list.
    browser.open(&url);
    let started = Instant::now();
    while browser.script("return document.querySelectorAll('#studies tbody tr').length;") != 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the study list never showed 2 studies"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.screenshot("studies.png");

    // One study: every plot drew data.
    browser.open(&format!("{url}#/study/e2e"));
    browser.wait_ready("the study page");
    let marks = browser.script(PLOT_MARKS);
    assert_plots(&marks, &ONE_OBJECTIVE_PLOTS);
    assert_eq!(marks["table_rows"], 40);
    let shot = browser.screenshot("study.png");
    assert!(std::fs::metadata(&shot).unwrap().len() > 20_000);

    // Live: five more trials run while the page is open; it shows them without a reload.
    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml", "--trials", "45"]),
    );
    let started = Instant::now();
    loop {
        let n = browser.script(
            "const h = document.querySelector('#history .note'); return h ? h.textContent : '';",
        );
        let total = browser.script(
            "const b = document.querySelector('.stats .stat b'); return b ? b.textContent : '';",
        );
        if total == "45" {
            assert!(n.as_str().unwrap().contains("complete"), "{n}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the page still shows {total} trials"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        browser.script("return document.querySelector('#trials .tablewrap').dataset.rows;"),
        "45"
    );

    // Sorting the table by the objective puts the best trial first.
    browser.click("#trials th[data-col='loss']");
    let started = Instant::now();
    let best = run_best(dir.path());
    loop {
        let first = browser.script("const r = document.querySelector('#trials tbody tr'); return r ? Number(r.dataset.trial) : null;");
        if first == best {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sorted table starts with {first}, not {best}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Click through to that trial: its parameters, curve, output and environment.
    browser.click("#trials tbody tr");
    browser.wait_ready("the trial page");
    let page = browser.script(
        "return {hash: location.hash, points: Number(document.querySelector('#trial-curves canvas').dataset.points), \
         logs: document.querySelector('#logs').innerText, env: !!document.querySelector('#environment'), \
         params: document.querySelectorAll('#params tbody tr').length};",
    );
    assert_eq!(page["hash"], format!("#/study/e2e/trial/{best}"));
    assert!(page["points"].as_f64().unwrap() > 0.0, "{page}");
    assert!(
        page["logs"].as_str().unwrap().contains("\"step\": 1"),
        "{page}"
    );
    assert!(
        page["logs"].as_str().unwrap().contains("trained"),
        "stderr shown: {page}"
    );
    assert_eq!(page["env"], true);
    assert_eq!(page["params"], 3);
    browser.screenshot("trial.png");

    // Two objectives: the Pareto front.
    browser.open(&format!("{url}#/study/e2e-pareto"));
    browser.wait_ready("the two-objective study");
    let marks = browser.script(PLOT_MARKS);
    assert_plots(&marks, &["history", "pareto", "parallel", "table_rows"]);
    browser.screenshot("pareto.png");

    // The report, opened from disk with no server: the same plots.
    let report = write_report(dir.path());
    browser.open(&format!("file://{}", report.display()));
    browser.wait_ready("the report");
    let marks = browser.script(PLOT_MARKS);
    assert_plots(&marks, &ONE_OBJECTIVE_PLOTS);
    browser.screenshot("report.png");
}

/// The number of the best trial, from `tuneforge best --json`.
fn run_best(dir: &Path) -> Value {
    let out = run_ok(
        tuneforge()
            .current_dir(dir)
            .args(["best", "study.toml", "--json"]),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["trial"].clone()
}
