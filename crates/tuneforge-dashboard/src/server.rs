//! The HTTP server: the JSON API over a storage (read-only), the embedded page, and access
//! control (a token, required whenever the server listens beyond the loopback interface).
//!
//! Every API route answers JSON; errors are `{"error": "..."}` with 400 (a malformed query),
//! 401 (no or wrong token), 404 (no such study or trial) or 503 (the storage cannot be read).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tuneforge::storage::Storage;

use crate::assets;
use crate::snapshot::{Snapshot, Snapshots};
use crate::views::{self, ViewResult};

/// Shared by every request.
pub struct AppState {
    storage: Arc<dyn Storage>,
    snapshots: Snapshots,
    token: Option<String>,
}

impl AppState {
    /// A server over `storage`; with `token`, every request must carry it.
    pub fn new(storage: Arc<dyn Storage>, token: Option<String>) -> Arc<Self> {
        Arc::new(AppState {
            storage,
            snapshots: Snapshots::default(),
            token,
        })
    }
}

type Params = HashMap<String, String>;

/// Why a view did not answer: the status and the message.
type Refusal = (StatusCode, String);

fn bad(message: String) -> Refusal {
    (StatusCode::BAD_REQUEST, message)
}

fn answer(v: ViewResult) -> Result<Value, Refusal> {
    v.map_err(bad)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

fn storage_error(e: tuneforge::Error) -> Response {
    match e {
        tuneforge::Error::StudyNotFound(name) => {
            error(StatusCode::NOT_FOUND, format!("no study named '{name}'"))
        }
        other => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the storage cannot be read: {other}"),
        ),
    }
}

/// Runs storage work `f` on a blocking thread and answers with its JSON, its refusal, or
/// the storage's error.
async fn blocking<F>(f: F) -> Response
where
    F: FnOnce() -> Result<Result<Value, Refusal>, tuneforge::Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(Ok(v))) => axum::Json(v).into_response(),
        Ok(Ok(Err((status, message)))) => error(status, message),
        Ok(Err(e)) => storage_error(e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        ),
    }
}

/// Runs `f` on the study's refreshed snapshot on a blocking thread; while the study is
/// unchanged, the same request (`key`) gets the answer computed before.
async fn with_study<F>(st: Arc<AppState>, name: String, key: String, f: F) -> Response
where
    F: FnOnce(&mut Snapshot) -> Result<Value, Refusal> + Send + 'static,
{
    blocking(move || {
        let snap = st.snapshots.get(&*st.storage, &name)?;
        let mut guard = snap.lock().unwrap_or_else(|p| p.into_inner());
        Ok(guard.answer(&key, f))
    })
    .await
}

fn usize_param(p: &Params, key: &str, default: usize) -> Result<usize, Refusal> {
    match p.get(key).map(String::as_str).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| bad(format!("{key} must be a non-negative integer, not '{v}'"))),
    }
}

fn objective(s: &Snapshot, p: &Params, key: &str) -> Result<usize, Refusal> {
    s.objective_index(p.get(key).map(String::as_str))
        .map_err(bad)
}

async fn studies(State(st): State<Arc<AppState>>) -> Response {
    blocking(move || {
        let mut list = Vec::new();
        for r in st.storage.list_studies()? {
            let snap = st.snapshots.get(&*st.storage, &r.name)?;
            let guard = snap.lock().unwrap_or_else(|p| p.into_inner());
            list.push(views::summary::list_entry(&guard));
        }
        Ok(Ok(json!({"studies": list})))
    })
    .await
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    blocking(move || {
        let n = st.storage.list_studies()?.len();
        Ok(Ok(json!({"ok": true, "studies": n})))
    })
    .await
}

async fn summary(State(st): State<Arc<AppState>>, uri: Uri, Path(name): Path<String>) -> Response {
    with_study(st, name, uri.to_string(), |s| {
        Ok(views::summary::summary(s))
    })
    .await
}

/// The views of one study, by the last part of their address.
async fn view(
    State(st): State<Arc<AppState>>,
    uri: Uri,
    Path((name, view)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Response {
    type View = Box<dyn FnOnce(&mut Snapshot) -> Result<Value, Refusal> + Send>;
    let f: View = match view.as_str() {
        "version" => Box::new(|s| Ok(views::summary::version(s))),
        "history" => Box::new(move |s| {
            let o = objective(s, &p, "objective")?;
            let points =
                usize_param(&p, "points", views::history::DEFAULT_POINTS)?.clamp(10, 20_000);
            Ok(views::history::history(s, o, points))
        }),
        "curves" => Box::new(move |s| {
            let n = usize_param(&p, "curves", views::curves::DEFAULT_CURVES)?.clamp(1, 2000);
            answer(views::curves::curves(
                s,
                p.get("metric").map(String::as_str),
                n,
            ))
        }),
        "params" => Box::new(move |s| {
            let o = objective(s, &p, "objective")?;
            let rows = usize_param(&p, "rows", views::params::DEFAULT_ROWS)?.clamp(10, 20_000);
            Ok(views::params::rows(s, o, rows))
        }),
        "contour" => Box::new(move |s| {
            let o = objective(s, &p, "objective")?;
            let bins = usize_param(&p, "bins", views::params::DEFAULT_BINS)?;
            let axis = |k: &str| p.get(k).map(String::as_str);
            answer(views::params::contour(s, o, axis("x"), axis("y"), bins))
        }),
        "importance" => Box::new(move |s| {
            let o = objective(s, &p, "objective")?;
            Ok(views::importance::importance(s, o))
        }),
        "pareto" => Box::new(move |s| {
            let x = objective(s, &p, "x")?;
            let y = match p.get("y").filter(|v| !v.is_empty()) {
                Some(_) => objective(s, &p, "y")?,
                None => usize::from(x == 0),
            };
            answer(views::pareto::pareto(s, x, y))
        }),
        "rungs" => Box::new(|s| Ok(views::rungs::rungs(s))),
        "trials" => Box::new(move |s| {
            let q = views::table::Query {
                offset: usize_param(&p, "offset", 0)?,
                limit: usize_param(&p, "limit", 50)?,
                sort: p.get("sort").cloned(),
                desc: matches!(p.get("desc").map(String::as_str), Some("1" | "true")),
                state: p.get("state").cloned(),
                filter: p.get("filter").cloned(),
            };
            answer(views::table::page(s, &q))
        }),
        _ => return unknown_api().await,
    };
    with_study(st, name, uri.to_string(), f).await
}

async fn trial(
    State(st): State<Arc<AppState>>,
    uri: Uri,
    Path((name, number)): Path<(String, String)>,
) -> Response {
    let Ok(number) = number.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("trial number must be a non-negative integer, not '{number}'"),
        );
    };
    with_study(st, name, uri.to_string(), move |s| {
        let study = s.record.name.clone();
        views::trial::trial(s, number).ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("study '{study}' has no trial {number}"),
            )
        })
    })
    .await
}

async fn unknown_api() -> Response {
    error(StatusCode::NOT_FOUND, "no such API route")
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", &assets::INDEX_LIVE)
}
async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", assets::APP_JS)
}
async fn app_css() -> Response {
    asset("text/css; charset=utf-8", assets::APP_CSS)
}

const COOKIE: &str = "tuneforge_token";

/// Constant-time comparison, so the token cannot be guessed from response times.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn presented(headers: &HeaderMap, query: Option<&str>) -> (Option<String>, bool) {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return (Some(v.trim().to_string()), false);
    }
    for c in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
    {
        if let Some(v) = c.trim().strip_prefix(&format!("{COOKIE}=")) {
            return (Some(v.to_string()), false);
        }
    }
    let from_query = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_string)
    });
    let via_query = from_query.is_some();
    (from_query, via_query)
}

async fn guard(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(token) = st.token.clone() else {
        return next.run(req).await;
    };
    let (given, via_query) = presented(req.headers(), req.uri().query());
    match given {
        Some(g) if same(&g, &token) => {
            let mut resp = next.run(req).await;
            if via_query
                && let Ok(v) = HeaderValue::from_str(&format!(
                    "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
                ))
            {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        _ => error(
            StatusCode::UNAUTHORIZED,
            "this dashboard needs its access token: open the address printed at its start (…/?token=…) or send 'Authorization: Bearer TOKEN'",
        ),
    }
}

/// The application: API routes, the page and its assets, behind the token check.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/studies", get(studies))
        .route("/studies/{name}", get(summary))
        .route("/studies/{name}/{view}", get(view))
        .route("/studies/{name}/trials/{number}", get(trial))
        .fallback(unknown_api);
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(app_js))
        .route("/assets/app.css", get(app_css))
        .nest("/api", api)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}
