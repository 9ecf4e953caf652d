//! The dashboard's API, route by route, over real SQLite storages seeded through the library:
//! answers, bad queries, unknown studies and trials, the access token, a storage that
//! disappears, live updates, and the bounds that keep large studies fast.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tuneforge::storage::{SqliteStorage, Storage};
use tuneforge::{Direction, Outcome, RandomSampler, Study};
use tuneforge_dashboard::server::{AppState, router};

/// A study file with a Hyperband pruner (R = 27, η = 3), stored with the study as `tuneforge
/// run` does, so the rungs view knows the rule.
const STUDY_FILE: &str = r#"[study]
name = "seeded"
metric = "loss"

[pruner]
type = "hyperband"
resource = "epoch"
min_resource = 1
max_resource = 27
reduction_factor = 3

[command]
run = "true"

[params.x]
type = "float"
low = 0.001
high = 1.0
"#;

fn loss(x: f64, kind: &str, step: u64) -> f64 {
    let offset = match kind {
        "a" => 0.0,
        "b" => 0.2,
        _ => 0.5,
    };
    (x.ln() + 3.0).powi(2) * 0.1 + offset + 1.0 / step as f64
}

/// `n` trials: every third stopped at step 1, 3 or 9; the rest complete after 27 steps.
fn seed(storage: Arc<dyn Storage>, name: &str, n: usize) -> Study {
    let study = Study::builder(name)
        .storage(storage)
        .sampler(RandomSampler::new(3))
        .attr(tuneforge::attrs::STUDY_FILE, STUDY_FILE)
        .attr(tuneforge::attrs::OBJECTIVE_NAMES, json!(["loss"]))
        .build()
        .unwrap();
    for i in 0..n {
        let mut t = study.ask().unwrap();
        let x = t.suggest_float("x", 1e-3, 1.0).log().get().unwrap();
        let kind = t.suggest_categorical("kind", &["a", "b", "c"]).unwrap();
        let units = t.suggest_int("units", 8, 64).get().unwrap();
        let stop = match i % 9 {
            0 => Some(1),
            3 => Some(3),
            6 => Some(9),
            _ => None,
        };
        let last = stop.unwrap_or(27);
        for step in 1..=last {
            t.report(
                step,
                &[("loss", loss(x, kind, step)), ("units", units as f64)][..],
            )
            .unwrap();
        }
        let outcome = match stop {
            Some(_) => Outcome::Pruned,
            None => Outcome::Complete(vec![loss(x, kind, 27)]),
        };
        study.tell(t, outcome).unwrap();
    }
    study
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    storage: Arc<dyn Storage>,
    app: axum::Router,
}

fn fixture(n: usize, token: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&path).unwrap());
    seed(storage.clone(), "seeded", n);
    let app = router(AppState::new(storage.clone(), token.map(str::to_string)));
    Fixture {
        _dir: dir,
        path,
        storage,
        app,
    }
}

async fn call(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    call_with(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn call_with(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

async fn ok(app: &axum::Router, uri: &str) -> Value {
    let (status, v) = call(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    v
}

#[tokio::test]
async fn every_view_answers_with_the_study_s_data() {
    let f = fixture(90, None);
    let app = &f.app;
    let trials = f.storage.all_trials(1).unwrap();
    let complete: Vec<_> = trials
        .iter()
        .filter(|t| t.state == tuneforge::TrialState::Complete)
        .collect();

    let list = ok(app, "/api/studies").await;
    assert_eq!(list["studies"][0]["name"], "seeded");
    assert_eq!(list["studies"][0]["counts"]["pruned"], 30);
    assert_eq!(list["studies"][0]["counts"]["complete"], 60);
    assert_eq!(ok(app, "/api/health").await["studies"], 1);

    let s = ok(app, "/api/studies/seeded").await;
    assert_eq!(s["objectives"], json!(["loss"]));
    assert_eq!(s["pruner"]["rule"], "hyperband");
    let best = complete
        .iter()
        .min_by(|a, b| a.value().unwrap().total_cmp(&b.value().unwrap()))
        .unwrap();
    assert_eq!(s["best"]["number"], best.number);
    let names: Vec<&str> = s["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "kind", "units"]);
    assert_eq!(s["params"][0]["log"], true);
    assert_eq!(s["params"][1]["choices"], json!(["a", "b", "c"]));

    let h = ok(app, "/api/studies/seeded/history").await;
    assert_eq!(h["complete"], 60);
    assert_eq!(h["points"].as_array().unwrap().len(), 60);
    assert_eq!(h["pruned_total"], 30);
    let best_line = h["best"].as_array().unwrap();
    assert_eq!(best_line.last().unwrap()[0], best.number);
    assert!(
        best_line
            .windows(2)
            .all(|w| w[1][1].as_f64() < w[0][1].as_f64()),
        "the best-so-far line only improves"
    );

    let c = ok(app, "/api/studies/seeded/curves").await;
    assert_eq!(c["metric"], "loss");
    assert_eq!(c["trials_with_curves"], 90);
    assert_eq!(c["curves"].as_array().unwrap().len(), 90);
    let pruned_curve = c["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["number"] == 0)
        .unwrap();
    assert_eq!(pruned_curve["state"], "pruned");
    assert_eq!(pruned_curve["points"].as_array().unwrap().len(), 1);
    // Bands: every step 1..27; at step 1 all 90 trials reported.
    assert_eq!(c["bands"][0][0], 1);
    assert_eq!(c["bands"][0][4], 90);
    assert_eq!(c["bands"].as_array().unwrap().len(), 27);
    let other = ok(app, "/api/studies/seeded/curves?metric=units").await;
    assert_eq!(other["metric"], "units");

    let p = ok(app, "/api/studies/seeded/params").await;
    assert_eq!(p["rows"].as_array().unwrap().len(), 60);
    assert_eq!(p["axes"].as_array().unwrap().len(), 3);
    let row = &p["rows"][0];
    let t = complete[0];
    assert_eq!(row[0], t.number);
    assert_eq!(row[1].as_f64(), t.value());
    let kind_index = ["a", "b", "c"]
        .iter()
        .position(|k| t.params["kind"].to_string() == *k)
        .unwrap();
    assert_eq!(row[3].as_f64(), Some(kind_index as f64));

    let ct = ok(app, "/api/studies/seeded/contour?x=x&y=kind&bins=10").await;
    assert_eq!(ct["nx"], 10);
    assert_eq!(ct["ny"], 3, "one row per category");
    let counted: u64 = ct["count"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 60, "every complete trial lands in one cell");

    let imp = ok(app, "/api/studies/seeded/importance").await;
    let params = imp["params"].as_array().unwrap();
    assert_eq!(params.len(), 3);
    let top = params[0]["param"].as_str().unwrap();
    assert!(
        top == "x" || top == "kind",
        "x and kind drive the loss, units does not: {imp}"
    );
    assert_eq!(params[2]["param"], "units");

    let r = ok(app, "/api/studies/seeded/rungs").await;
    assert_eq!(r["rule"], "hyperband");
    assert_eq!(r["step"], "epoch", "the study file's name for its resource");
    let resources: Vec<u64> = r["rungs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["resource"].as_u64().unwrap())
        .collect();
    assert_eq!(resources, [1, 3, 9, 27]);
    let stopped: Vec<u64> = r["rungs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["stopped"].as_u64().unwrap())
        .collect();
    assert_eq!(stopped, [10, 10, 10, 0]);
    assert_eq!(r["rungs"][0]["reached"], 90);
    assert_eq!(r["rungs"][3]["finished"], 60);

    let page = ok(app, "/api/studies/seeded/trials?limit=5&offset=5").await;
    assert_eq!(page["total"], 90);
    assert_eq!(page["rows"].as_array().unwrap().len(), 5);
    assert_eq!(page["rows"][0]["number"], 5);

    let one = ok(app, "/api/studies/seeded/trials/4").await;
    assert_eq!(one["number"], 4);
    assert_eq!(one["intermediate"]["loss"].as_array().unwrap().len(), 27);
    assert_eq!(one["values"][0]["name"], "loss");
}

#[tokio::test]
async fn the_trial_table_sorts_filters_and_pages_on_the_server() {
    let f = fixture(45, None);
    let app = &f.app;
    let all = f.storage.all_trials(1).unwrap();
    // Sorted by x descending.
    let v = ok(app, "/api/studies/seeded/trials?sort=x&desc=1&limit=1000").await;
    let xs: Vec<f64> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["params"]["x"].as_f64().unwrap())
        .collect();
    assert_eq!(xs.len(), 45);
    assert!(xs.windows(2).all(|w| w[0] >= w[1]));
    // By the objective: missing values (pruned trials) last in both orders.
    for desc in ["0", "1"] {
        let v = ok(
            app,
            &format!("/api/studies/seeded/trials?sort=loss&desc={desc}&limit=1000"),
        )
        .await;
        let states: Vec<&str> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["state"].as_str().unwrap())
            .collect();
        let first_pruned = states.iter().position(|s| *s == "pruned").unwrap();
        assert!(states[first_pruned..].iter().all(|s| *s == "pruned"));
    }
    // Filters: state, and conditions on parameters (URL-encoded as a browser sends them).
    let v = ok(app, "/api/studies/seeded/trials?state=pruned").await;
    assert_eq!(v["total"], 15);
    let v = ok(
        app,
        "/api/studies/seeded/trials?filter=x%3C0.1%2C%20kind%3Da&limit=1000",
    )
    .await;
    let expected = all
        .iter()
        .filter(|t| t.params["x"].as_f64().unwrap() < 0.1 && t.params["kind"].to_string() == "a")
        .count();
    assert_eq!(v["total"], expected);
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| { r["params"]["x"].as_f64().unwrap() < 0.1 && r["params"]["kind"] == "a" })
    );
    // Paging past the end is an empty page, not an error.
    let v = ok(app, "/api/studies/seeded/trials?offset=1000").await;
    assert_eq!(v["rows"].as_array().unwrap().len(), 0);
    assert_eq!(v["total"], 45);
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_reason() {
    let f = fixture(12, None);
    let app = &f.app;
    let cases = [
        (
            "/api/studies/nope",
            StatusCode::NOT_FOUND,
            "no study named 'nope'",
        ),
        (
            "/api/studies/nope/history",
            StatusCode::NOT_FOUND,
            "no study named",
        ),
        (
            "/api/studies/seeded/trials/999",
            StatusCode::NOT_FOUND,
            "has no trial 999",
        ),
        (
            "/api/studies/seeded/trials/abc",
            StatusCode::BAD_REQUEST,
            "non-negative integer",
        ),
        (
            "/api/studies/seeded/history?objective=acc",
            StatusCode::BAD_REQUEST,
            "objective 'acc' is not one of: loss",
        ),
        (
            "/api/studies/seeded/history?points=-3",
            StatusCode::BAD_REQUEST,
            "points must be",
        ),
        (
            "/api/studies/seeded/curves?metric=acc",
            StatusCode::BAD_REQUEST,
            "metric 'acc' was never reported",
        ),
        (
            "/api/studies/seeded/contour?x=nope",
            StatusCode::BAD_REQUEST,
            "parameter 'nope' is not one of",
        ),
        (
            "/api/studies/seeded/pareto",
            StatusCode::BAD_REQUEST,
            "one objective",
        ),
        (
            "/api/studies/seeded/trials?sort=nope",
            StatusCode::BAD_REQUEST,
            "column 'nope'",
        ),
        (
            "/api/studies/seeded/trials?state=done",
            StatusCode::BAD_REQUEST,
            "state 'done'",
        ),
        (
            "/api/studies/seeded/trials?filter=x",
            StatusCode::BAD_REQUEST,
            "has no comparison",
        ),
        (
            "/api/studies/seeded/trials?filter=%3C3",
            StatusCode::BAD_REQUEST,
            "needs a name and a value",
        ),
        ("/api/nothing", StatusCode::NOT_FOUND, "no such API route"),
    ];
    for (uri, status, text) in cases {
        let (got, v) = call(app, uri).await;
        assert_eq!(got, status, "{uri}: {v}");
        let message = v["error"].as_str().unwrap_or_default();
        assert!(message.contains(text), "{uri}: '{message}' lacks '{text}'");
    }
}

#[tokio::test]
async fn the_pareto_view_returns_the_non_dominated_trials() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(&dir.path().join("p.db")).unwrap());
    let study = Study::builder("two")
        .storage(storage.clone())
        .directions([Direction::Maximize, Direction::Minimize])
        .sampler(RandomSampler::new(5))
        .attr(tuneforge::attrs::OBJECTIVE_NAMES, json!(["acc", "latency"]))
        .build()
        .unwrap();
    study
        .optimize(
            |t| -> tuneforge::Result<Vec<f64>> {
                let w = t.suggest_float("width", 0.0, 1.0).get()?;
                let d = t.suggest_float("depth", 0.0, 1.0).get()?;
                Ok(vec![w.sqrt() * (1.0 - 0.3 * d), w + d])
            },
            tuneforge::Optimize::trials(200),
        )
        .unwrap();
    let app = router(AppState::new(storage.clone(), None));
    let v = ok(&app, "/api/studies/two/pareto").await;
    let front = v["front"].as_array().unwrap();
    assert!(!front.is_empty());
    assert_eq!(
        front.len() + v["dominated_total"].as_u64().unwrap() as usize,
        200
    );
    // No front member is dominated by any trial (accuracy up, latency down).
    let trials = storage.all_trials(1).unwrap();
    for f in front {
        let (a, l) = (f[1].as_f64().unwrap(), f[2].as_f64().unwrap());
        assert!(!trials.iter().any(|t| {
            let v = t.values.as_ref().unwrap();
            v[0] >= a && v[1] <= l && (v[0] > a || v[1] < l)
        }));
    }
    let s = ok(&app, "/api/studies/two").await;
    assert_eq!(s["best"]["pareto_size"], front.len());
    let (status, _) = call(&app, "/api/studies/two/pareto?x=acc&y=acc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_token_is_required_when_set() {
    let f = fixture(3, Some("s3cret"));
    let app = &f.app;
    let (status, v) = call(app, "/api/studies").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("access token"));
    let (status, _) = call(app, "/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the page too");
    let wrong = Request::get("/api/studies")
        .header(header::AUTHORIZATION, "Bearer s3cres")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call_with(app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let right = Request::get("/api/studies")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call_with(app, right).await.0, StatusCode::OK);
    // Opening the printed address sets a cookie that the page's own requests then carry.
    let resp = app
        .clone()
        .oneshot(Request::get("/?token=s3cret").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("tuneforge_token=s3cret;"), "{cookie}");
    assert!(cookie.contains("HttpOnly"));
    let with_cookie = Request::get("/api/studies/seeded")
        .header(header::COOKIE, "other=1; tuneforge_token=s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call_with(app, with_cookie).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let f = fixture(1, None);
    for (uri, kind, needle) in [
        ("/", "text/html", "assets/app.js"),
        ("/assets/app.js", "text/javascript", "drawHistory"),
        ("/assets/app.css", "text/css", ".card"),
    ] {
        let resp = f
            .app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with(kind), "{uri}: {ct}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(needle), "{uri}");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{uri} loads nothing from elsewhere"
        );
    }
}

async fn storage_errors(app: &axum::Router) {
    for uri in ["/api/studies", "/api/studies/seeded/history", "/api/health"] {
        let (status, v) = call(app, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("the storage cannot be read"),
            "{v}"
        );
    }
    // The page itself is still served.
    let (status, _) = call(app, "/assets/app.css").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_database_file_overwritten_under_the_server_gives_a_clear_error() {
    let f = fixture(6, None);
    let app = &f.app;
    ok(app, "/api/studies/seeded/history").await;
    // The file (and its write-ahead log) now hold something that is not a database.
    for p in [
        f.path.clone(),
        f.path.with_extension("db-wal"),
        f.path.with_extension("db-shm"),
    ] {
        if p.exists() {
            std::fs::write(&p, vec![0x55u8; 8192]).unwrap();
        }
    }
    storage_errors(app).await;
}

/// How long the dashboard retries an unreachable database server before saying so.
const RETRY: std::time::Duration = tuneforge_dashboard::STORAGE_RETRY;

/// A plain test: the PostgreSQL client blocks, so the seeding runs outside the runtime that
/// drives the requests.
#[test]
fn a_database_server_that_goes_away_gives_a_clear_error_until_it_is_back() {
    let server = match tuneforge::testing::postgres::PgServer::start() {
        Ok(s) => s,
        Err(e) if tuneforge::testing::postgres::required() => {
            panic!("PostgreSQL is required under CI=true: {e}")
        }
        Err(e) => {
            eprintln!("skipping a PostgreSQL test: {e}");
            return;
        }
    };
    let url = server.create_database().unwrap();
    let storage = tuneforge::storage::open_with_retry(&url, Some(RETRY)).unwrap();
    seed(storage.clone(), "seeded", 6);
    let app = router(AppState::new(storage, None));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = rt.block_on(ok(&app, "/api/studies/seeded/history"));
    server.stop().unwrap();
    rt.block_on(storage_errors(&app));
    server.resume().unwrap();
    let mut after = None;
    for _ in 0..50 {
        let (status, v) = rt.block_on(call(&app, "/api/studies/seeded/history"));
        if status == StatusCode::OK {
            after = Some(v);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        after,
        Some(before),
        "the same answers once the server is back"
    );
}

#[tokio::test]
async fn new_trials_show_up_on_the_next_request() {
    let f = fixture(9, None);
    let app = &f.app;
    let before = ok(app, "/api/studies/seeded/version").await;
    let h = ok(app, "/api/studies/seeded/history").await;
    assert_eq!(h["trials"], 9);
    // A worker goes on (another handle on the same file, as another process would be).
    let other: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&f.path).unwrap());
    let study = Study::builder("seeded")
        .storage(other)
        .load_if_exists(true)
        .build()
        .unwrap();
    let mut t = study.ask().unwrap();
    t.suggest_float("x", 1e-3, 1.0).log().get().unwrap();
    t.report(1, &[("loss", 0.001)][..]).unwrap();
    let running = ok(app, "/api/studies/seeded/trials/9").await;
    assert_eq!(running["state"], "running");
    assert_eq!(running["intermediate"]["loss"][0][1], 0.001);
    study.tell(t, Outcome::Complete(vec![-1.0])).unwrap();
    let after = ok(app, "/api/studies/seeded/version").await;
    assert!(after["seq"].as_u64() > before["seq"].as_u64());
    assert_eq!(after["trials"], 10);
    let h = ok(app, "/api/studies/seeded/history").await;
    assert_eq!(
        h["best"].as_array().unwrap().last().unwrap(),
        &json!([9, -1.0])
    );
    assert_eq!(
        ok(app, "/api/studies/seeded/trials/9").await["state"],
        "complete"
    );
}

#[tokio::test]
async fn large_studies_are_answered_in_bounded_size() {
    let f = fixture(3000, None);
    let app = &f.app;
    let h = ok(app, "/api/studies/seeded/history?points=200").await;
    assert_eq!(h["complete"], 2000);
    assert!(h["points"].as_array().unwrap().len() <= 200);
    // The best-so-far line is exact, whatever the downsampling.
    let trials = f.storage.all_trials(1).unwrap();
    let mut best = f64::INFINITY;
    let mut expected = Vec::new();
    for t in &trials {
        if let Some(v) = t
            .value()
            .filter(|_| t.state == tuneforge::TrialState::Complete)
            && v < best
        {
            best = v;
            expected.push(json!([t.number, v]));
        }
    }
    assert_eq!(h["best"], Value::Array(expected));
    let c = ok(app, "/api/studies/seeded/curves?curves=50").await;
    assert_eq!(c["curves"].as_array().unwrap().len(), 50);
    assert_eq!(c["trials_with_curves"], 3000);
    let p = ok(app, "/api/studies/seeded/params?rows=300").await;
    assert_eq!(p["rows"].as_array().unwrap().len(), 300);
    // The best tenth of the rows are the best trials.
    let best_number = h["best"].as_array().unwrap().last().unwrap()[0].clone();
    assert!(
        p["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[0] == best_number)
    );
    let page = ok(app, "/api/studies/seeded/trials?limit=100000").await;
    assert_eq!(
        page["rows"].as_array().unwrap().len(),
        1000,
        "pages are capped"
    );
}
