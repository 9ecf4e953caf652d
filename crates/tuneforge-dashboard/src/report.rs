//! `tuneforge report`: one self-contained HTML file showing a study as the dashboard does,
//! for sharing. The page, its stylesheet and script are inlined, and the API answers the page
//! asks for are computed now and embedded, keyed by their address; the script reads them
//! instead of asking a server. The trial table holds every row (sorted and filtered in the
//! page), and the best trials' pages are included.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tuneforge::Result;
use tuneforge::storage::Storage;

use crate::assets;
use crate::snapshot::{Snapshot, Snapshots};
use crate::views;

/// Most rows of the trial table embedded.
pub const MAX_ROWS: usize = 20_000;
/// Trial pages embedded (the best ones, then the latest).
pub const TRIAL_PAGES: usize = 50;

/// Percent-encodes like JavaScript's `encodeURIComponent`, so keys built here and in the page
/// agree.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn put(data: &mut BTreeMap<String, Value>, key: String, v: std::result::Result<Value, String>) {
    if let Ok(v) = v {
        data.insert(key, v);
    }
}

/// The embedded answers for study `s`.
fn answers(s: &mut Snapshot) -> BTreeMap<String, Value> {
    let mut data = BTreeMap::new();
    let base = format!("/api/studies/{}", encode(&s.record.name));
    data.insert(
        "/api/studies".to_string(),
        json!({"studies": [views::summary::list_entry(s)]}),
    );
    data.insert(base.clone(), views::summary::summary(s));
    data.insert(format!("{base}/version"), views::summary::version(s));
    for o in 0..s.objectives.len() {
        let q = if o == 0 {
            String::new()
        } else {
            format!("?objective={o}")
        };
        data.insert(
            format!("{base}/history{q}"),
            views::history::history(s, o, views::history::DEFAULT_POINTS),
        );
        data.insert(
            format!("{base}/params{q}"),
            views::params::rows(s, o, views::params::DEFAULT_ROWS),
        );
        data.insert(
            format!("{base}/importance{q}"),
            views::importance::importance(s, o),
        );
        put(
            &mut data,
            format!("{base}/contour{q}"),
            views::params::contour(s, o, None, None, views::params::DEFAULT_BINS),
        );
    }
    put(
        &mut data,
        format!("{base}/curves"),
        views::curves::curves(s, None, views::curves::DEFAULT_CURVES),
    );
    for m in views::metric_names(s) {
        put(
            &mut data,
            format!("{base}/curves?metric={}", encode(&m)),
            views::curves::curves(s, Some(&m), views::curves::DEFAULT_CURVES),
        );
    }
    if s.objectives.len() > 1 {
        put(
            &mut data,
            format!("{base}/pareto"),
            views::pareto::pareto(s, 0, 1),
        );
    }
    data.insert(format!("{base}/rungs"), views::rungs::rungs(s));
    let rows: Vec<Value> = s
        .trials
        .iter()
        .take(MAX_ROWS)
        .map(|t| views::table::row(t, s.objectives.len()))
        .collect();
    data.insert(
        format!("{base}/trials?all=1"),
        json!({
            "total": s.trials.len(),
            "objectives": s.objectives,
            "params": views::param_names(s),
            "rows": rows,
        }),
    );
    // The best trials' pages, then the latest ones.
    let dir = s.direction(0);
    let mut best = s.complete_values(0);
    best.sort_by(|a, b| dir.order(a.1, b.1));
    let mut numbers: Vec<u64> = best
        .iter()
        .take(TRIAL_PAGES / 2)
        .map(|(t, _)| t.number)
        .collect();
    numbers.extend(
        s.trials
            .iter()
            .rev()
            .take(TRIAL_PAGES / 2)
            .map(|t| t.number),
    );
    numbers.sort_unstable();
    numbers.dedup();
    for n in numbers {
        if let Some(v) = views::trial::trial(s, n) {
            data.insert(format!("{base}/trials/{n}"), v);
        }
    }
    data
}

/// The report of study `name` as one HTML document.
pub fn render(storage: Arc<dyn Storage>, name: &str) -> Result<String> {
    let snaps = Snapshots::default();
    let snap = snaps.get(&*storage, name)?;
    let mut guard = snap.lock().unwrap_or_else(|p| p.into_inner());
    let data = answers(&mut guard);
    let doc = json!({
        "study": name,
        "generated_ms": tuneforge::record::now_ms(),
        "answers": data,
    });
    // Inside <script>, "</" would end the element.
    let embedded = serde_json::to_string(&doc)
        .map_err(|e| tuneforge::Error::invalid(format!("cannot encode the report: {e}")))?
        .replace("</", "<\\/");
    Ok(assets::INDEX
        .replace("{{HEAD}}", &format!("<style>{}</style>", assets::APP_CSS))
        .replace(
            "{{SCRIPT}}",
            &format!(
                "<script id=\"tuneforge-report\" type=\"application/json\">{embedded}</script>\n<script>{}</script>",
                assets::APP_JS.replace("</script", "<\\/script")
            ),
        ))
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encoding_matches_encode_uri_component() {
        assert_eq!(encode("val loss/α"), "val%20loss%2F%CE%B1");
        assert_eq!(encode("a-b_c.d!~*'()"), "a-b_c.d!~*'()");
    }
}
