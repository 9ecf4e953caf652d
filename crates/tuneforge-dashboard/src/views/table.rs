//! The trial table: one page of rows, sorted by any column and filtered by state and by
//! conditions on parameters and objectives (`lr<0.01, optimizer=adam`), all on the server.

use std::cmp::Ordering;

use serde_json::{Value, json};
use tuneforge::{FrozenTrial, ParamValue, TrialState};

use super::{ViewResult, num, param_names};
use crate::snapshot::Snapshot;

/// Most rows in one page.
pub const MAX_PAGE: usize = 1000;

/// A table request.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// First row.
    pub offset: usize,
    /// Rows in the page.
    pub limit: usize,
    /// Column to sort by: `number`, `state`, `duration`, an objective or a parameter name.
    pub sort: Option<String>,
    /// Sort descending.
    pub desc: bool,
    /// States to keep (comma-separated), empty for all.
    pub state: Option<String>,
    /// Conditions, comma-separated: `NAME OP VALUE` with OP one of `< <= > >= = !=`.
    pub filter: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Clone, Debug)]
struct Condition {
    column: Column,
    op: Op,
    value: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Column {
    Number,
    State,
    Duration,
    Objective(usize),
    Param(String),
}

/// A cell's value for sorting and filtering.
#[derive(Clone, Debug)]
enum Cell {
    Missing,
    Num(f64),
    Text(String),
}

impl Cell {
    fn cmp(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Missing, Cell::Missing) => Ordering::Equal,
            // Missing values sort last whatever the order.
            (Cell::Missing, _) => Ordering::Greater,
            (_, Cell::Missing) => Ordering::Less,
            (Cell::Num(a), Cell::Num(b)) => a.total_cmp(b),
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            (Cell::Num(_), Cell::Text(_)) => Ordering::Less,
            (Cell::Text(_), Cell::Num(_)) => Ordering::Greater,
        }
    }
}

fn column(s: &Snapshot, params: &[String], name: &str) -> Result<Column, String> {
    Ok(match name {
        "number" => Column::Number,
        "state" => Column::State,
        "duration" => Column::Duration,
        _ => {
            if let Some(i) = s.objectives.iter().position(|o| o == name) {
                Column::Objective(i)
            } else if params.iter().any(|p| p == name) {
                Column::Param(name.to_string())
            } else {
                return Err(format!(
                    "column '{name}' is not one of: number, state, duration, {}{}{}",
                    s.objectives.join(", "),
                    if params.is_empty() { "" } else { ", " },
                    params.join(", ")
                ));
            }
        }
    })
}

fn cell(t: &FrozenTrial, c: &Column) -> Cell {
    match c {
        Column::Number => Cell::Num(t.number as f64),
        Column::State => Cell::Text(t.state.as_str().to_string()),
        Column::Duration => t.duration_s().map_or(Cell::Missing, Cell::Num),
        Column::Objective(i) => t
            .values
            .as_ref()
            .and_then(|v| v.get(*i))
            .filter(|v| !v.is_nan())
            .map_or(Cell::Missing, |v| Cell::Num(*v)),
        Column::Param(p) => match t.params.get(p) {
            None => Cell::Missing,
            Some(ParamValue::Str(s)) => Cell::Text(s.clone()),
            Some(ParamValue::Bool(b)) => Cell::Text(b.to_string()),
            Some(v) => v.as_f64().map_or(Cell::Missing, Cell::Num),
        },
    }
}

fn parse_filter(s: &Snapshot, params: &[String], text: &str) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ];
        let found = ops
            .iter()
            .filter_map(|(sym, op)| part.find(sym).map(|at| (at, *sym, *op)))
            .min_by_key(|(at, sym, _)| (*at, std::cmp::Reverse(sym.len())));
        let Some((at, sym, op)) = found else {
            return Err(format!(
                "filter '{part}' has no comparison: write NAME<VALUE, NAME>=VALUE, NAME=VALUE, ..."
            ));
        };
        let name = part[..at].trim();
        let value = part[at + sym.len()..].trim();
        if name.is_empty() || value.is_empty() {
            return Err(format!("filter '{part}' needs a name and a value"));
        }
        out.push(Condition {
            column: column(s, params, name)?,
            op,
            value: value.to_string(),
        });
    }
    Ok(out)
}

fn holds(c: &Condition, t: &FrozenTrial) -> bool {
    let ord = match cell(t, &c.column) {
        Cell::Missing => return c.op == Op::Ne,
        Cell::Num(x) => match c.value.parse::<f64>() {
            Ok(v) => x.total_cmp(&v),
            Err(_) => return c.op == Op::Ne,
        },
        Cell::Text(x) => x.as_str().cmp(c.value.as_str()),
    };
    match c.op {
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
    }
}

/// One trial as a table row.
pub fn row(t: &FrozenTrial, objectives: usize) -> Value {
    let values: Vec<Value> = (0..objectives)
        .map(|i| {
            t.values
                .as_ref()
                .and_then(|v| v.get(i))
                .map(|v| num(*v))
                .unwrap_or(Value::Null)
        })
        .collect();
    json!({
        "number": t.number,
        "state": t.state.as_str(),
        "values": values,
        "params": t.params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<serde_json::Map<_, _>>(),
        "duration_s": t.duration_s().map(num),
        "last_step": t.intermediate.keys().next_back(),
        "message": t.message,
    })
}

/// One page of the table.
pub fn page(s: &Snapshot, q: &Query) -> ViewResult {
    let params = param_names(s);
    let states: Vec<TrialState> = match q.state.as_deref().filter(|x| !x.is_empty()) {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(|x| {
                TrialState::parse(x.trim()).ok_or_else(|| {
                    format!(
                        "state '{}' is not one of: waiting, running, complete, pruned, failed",
                        x.trim()
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let conditions = match q.filter.as_deref() {
        Some(f) => parse_filter(s, &params, f)?,
        None => Vec::new(),
    };
    let sort = match q.sort.as_deref().filter(|x| !x.is_empty()) {
        Some(c) => column(s, &params, c)?,
        None => Column::Number,
    };
    let mut rows: Vec<&FrozenTrial> = s
        .trials
        .iter()
        .filter(|t| states.is_empty() || states.contains(&t.state))
        .filter(|t| conditions.iter().all(|c| holds(c, t)))
        .collect();
    if sort != Column::Number {
        let mut keyed: Vec<(Cell, &FrozenTrial)> =
            rows.iter().map(|t| (cell(t, &sort), *t)).collect();
        keyed.sort_by(|a, b| {
            let o = match (&a.0, &b.0) {
                (Cell::Missing, _) | (_, Cell::Missing) => a.0.cmp(&b.0),
                _ if q.desc => b.0.cmp(&a.0),
                _ => a.0.cmp(&b.0),
            };
            o.then(a.1.number.cmp(&b.1.number))
        });
        rows = keyed.into_iter().map(|(_, t)| t).collect();
    } else if q.desc {
        rows.reverse();
    }
    let total = rows.len();
    let limit = q.limit.clamp(1, MAX_PAGE);
    let page: Vec<Value> = rows
        .iter()
        .skip(q.offset)
        .take(limit)
        .map(|t| row(t, s.objectives.len()))
        .collect();
    Ok(json!({
        "total": total,
        "offset": q.offset,
        "limit": limit,
        "objectives": s.objectives,
        "params": params,
        "rows": page,
    }))
}
