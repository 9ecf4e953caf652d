//! `tuneforge plot`: figures for papers (PNG or SVG, by the file's extension), drawn with
//! plotters from the same views the dashboard shows: optimisation history, parameter
//! importance, parallel coordinates, Pareto front.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde_json::Value;
use tuneforge::{Error, Result};

use crate::assets::FONT;
use crate::snapshot::Snapshot;
use crate::views;

/// Which figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Objective by trial with the best-so-far line.
    History,
    /// Importance of each parameter (fANOVA).
    Importance,
    /// Parallel coordinates of parameters and objective.
    Parallel,
    /// Pareto front of the first two objectives.
    Pareto,
}

impl Kind {
    /// Parses a kind's name.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "history" => Kind::History,
            "importance" => Kind::Importance,
            "parallel" => Kind::Parallel,
            "pareto" => Kind::Pareto,
            _ => return None,
        })
    }
}

const SIZE: (u32, u32) = (960, 600);
const FONT_NAME: &str = "sans-serif";

fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("the embedded font could not be loaded"))
    }
}

type Draw<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn pairs(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi <= lo {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.04;
    (lo - pad, hi + pad)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The box naming the labelled series.
fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>) -> Draw<DB> {
    chart
        .configure_series_labels()
        .label_font((FONT_NAME, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn history<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Snapshot) -> Draw<DB> {
    let h = views::history::history(s, 0, 5000);
    let points = pairs(&h["points"]);
    let best = pairs(&h["best"]);
    let last = s.trials.last().map_or(1.0, |t| t.number as f64 + 1.0);
    let (lo, hi) = span(points.iter().map(|p| p.1));
    let name = h["objective"].as_str().unwrap_or("value").to_string();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: optimisation history", s.record.name),
            (FONT_NAME, 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..last, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("trial")
        .y_desc(name.as_str())
        .label_style((FONT_NAME, 14))
        .draw()?;
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Circle::new(*p, 2, BLUE.mix(0.45).filled())),
        )?
        .label("complete trial")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, BLUE.filled()));
    // The best-so-far line as steps, carried to the last trial.
    let mut steps = Vec::new();
    for (i, p) in best.iter().enumerate() {
        if i > 0 {
            steps.push((p.0, best[i - 1].1));
        }
        steps.push(*p);
    }
    if let Some(b) = best.last() {
        steps.push((last, b.1));
    }
    chart
        .draw_series(LineSeries::new(steps, RED.stroke_width(2)))?
        .label("best so far")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    legend(&mut chart)
}

fn importance<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &mut Snapshot,
) -> std::result::Result<Draw<DB>, Error> {
    let v = views::importance::importance(s, 0);
    let params: Vec<(String, f64)> = v["params"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p["param"].as_str()?.to_string(), p["importance"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    if params.is_empty() {
        return Err(Error::invalid(format!(
            "no importance to plot: {}",
            v["message"].as_str().unwrap_or("no parameter")
        )));
    }
    let n = params.len();
    let draw = || -> Draw<DB> {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{}: parameter importance (fANOVA)", s.record.name),
                (FONT_NAME, 22),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(160)
            .build_cartesian_2d(0f64..1f64, 0f64..n as f64)?;
        let label = |y: &f64| {
            let i = y.floor() as usize;
            if (y - y.floor() - 0.5).abs() < 1e-9 {
                params
                    .get(n - 1 - i)
                    .map(|p| p.0.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(2 * n + 1)
            .y_label_formatter(&label)
            .x_desc("share of the variance explained")
            .label_style((FONT_NAME, 14))
            .draw()?;
        chart.draw_series(params.iter().enumerate().map(|(i, (_, w))| {
            let y = (n - 1 - i) as f64;
            Rectangle::new([(0.0, y + 0.15), (*w, y + 0.85)], BLUE.mix(0.7).filled())
        }))?;
        Ok(())
    };
    Ok(draw())
}

fn parallel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Snapshot,
) -> std::result::Result<Draw<DB>, Error> {
    let v = views::params::rows(s, 0, views::params::DEFAULT_ROWS);
    let axes = v["axes"].as_array().cloned().unwrap_or_default();
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    if axes.is_empty() || rows.is_empty() {
        return Err(Error::invalid("no complete trial with parameters to plot"));
    }
    let objective = v["objective"].as_str().unwrap_or("value").to_string();
    let maximize = v["direction"] == "maximize";
    let k = axes.len() + 1;
    let (lo, hi) = span(rows.iter().filter_map(|r| r[1].as_f64()));
    let unit = |a: &Value, x: f64| -> f64 {
        if let Some(c) = a["choices"].as_array() {
            // A category sits in the middle of its cell, as on the dashboard.
            return (x + 0.5) / c.len().max(1) as f64;
        }
        let (l, h) = (
            a["low"].as_f64().unwrap_or(0.0),
            a["high"].as_f64().unwrap_or(1.0),
        );
        let (l, h, x) = if a["log"].as_bool() == Some(true) && l > 0.0 && x > 0.0 {
            (l.ln(), h.ln(), x.ln())
        } else {
            (l, h, x)
        };
        if h > l { (x - l) / (h - l) } else { 0.5 }
    };
    let mut names: Vec<String> = axes
        .iter()
        .map(|a| a["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.push(objective);
    let draw = || -> Draw<DB> {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{}: parallel coordinates", s.record.name),
                (FONT_NAME, 22),
            )
            .margin(24)
            .margin_right(60)
            .x_label_area_size(40)
            .y_label_area_size(20)
            .build_cartesian_2d(-0.05f64..(k as f64 - 0.95), 0f64..1f64)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k)
            .x_label_formatter(&label)
            .y_labels(0)
            .label_style((FONT_NAME, 14))
            .draw()?;
        // Worst first, so the best lines are drawn on top.
        let mut order: Vec<&Value> = rows.iter().collect();
        order.sort_by(|a, b| {
            let (x, y) = (a[1].as_f64().unwrap_or(0.0), b[1].as_f64().unwrap_or(0.0));
            if maximize {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            }
        });
        for r in order {
            let Some(value) = r[1].as_f64() else { continue };
            let mut q = if hi > lo {
                (value - lo) / (hi - lo)
            } else {
                0.5
            };
            if !maximize {
                q = 1.0 - q;
            }
            let mut line: Vec<(f64, f64)> = Vec::new();
            for (i, a) in axes.iter().enumerate() {
                if let Some(x) = r[i + 2].as_f64() {
                    line.push((i as f64, unit(a, x).clamp(0.0, 1.0)));
                }
            }
            line.push((
                (k - 1) as f64,
                if hi > lo {
                    (value - lo) / (hi - lo)
                } else {
                    0.5
                },
            ));
            let colour = RGBColor(
                (230.0 - 200.0 * q) as u8,
                (120.0 + 40.0 * q) as u8,
                (80.0 + 170.0 * q) as u8,
            );
            chart.draw_series(LineSeries::new(line, colour.mix(0.35 + 0.5 * q)))?;
        }
        for i in 0..k {
            chart.draw_series(LineSeries::new(
                vec![(i as f64, 0.0), (i as f64, 1.0)],
                BLACK.stroke_width(2),
            ))?;
        }
        Ok(())
    };
    Ok(draw())
}

fn pareto<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Snapshot,
) -> std::result::Result<Draw<DB>, Error> {
    let v = views::pareto::pareto(s, 0, 1).map_err(Error::invalid)?;
    let row = |r: &Value| Some((r[1].as_f64()?, r[2].as_f64()?));
    let front: Vec<(f64, f64)> = v["front"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(row)
        .collect();
    let others: Vec<(f64, f64)> = v["dominated"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(row)
        .collect();
    let (x0, x1) = span(front.iter().chain(&others).map(|p| p.0));
    let (y0, y1) = span(front.iter().chain(&others).map(|p| p.1));
    let (xn, yn) = (
        v["x"].as_str().unwrap_or("objective 0").to_string(),
        v["y"].as_str().unwrap_or("objective 1").to_string(),
    );
    let draw = || -> Draw<DB> {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: Pareto front", s.record.name), (FONT_NAME, 22))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(xn.as_str())
            .y_desc(yn.as_str())
            .label_style((FONT_NAME, 14))
            .draw()?;
        chart
            .draw_series(
                others
                    .iter()
                    .map(|p| Circle::new(*p, 2, BLACK.mix(0.3).filled())),
            )?
            .label("dominated")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, BLACK.mix(0.3).filled()));
        chart.draw_series(LineSeries::new(front.clone(), RED.stroke_width(2)))?;
        chart
            .draw_series(front.iter().map(|p| Circle::new(*p, 4, RED.filled())))?
            .label("Pareto front")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, RED.filled()));
        legend(&mut chart)
    };
    Ok(draw())
}

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    s: &mut Snapshot,
    kind: Kind,
) -> Result<()> {
    let fail = |e: String| Error::invalid(format!("cannot draw the plot: {e}"));
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let drawn = match kind {
        Kind::History => history(&root, s),
        Kind::Importance => importance(&root, s)?,
        Kind::Parallel => parallel(&root, s)?,
        Kind::Pareto => pareto(&root, s)?,
    };
    drawn.map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

/// Draws figure `kind` of the study in `s` into `out` (`.png` or `.svg`).
pub fn plot(s: &mut Snapshot, kind: Kind, out: &Path) -> Result<()> {
    register_font()?;
    if s.complete_values(0).is_empty() {
        return Err(Error::invalid(format!(
            "study '{}' has no complete trial to plot",
            s.record.name
        )));
    }
    match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => draw_on(BitMapBackend::new(out, SIZE).into_drawing_area(), s, kind),
        Some("svg") => draw_on(SVGBackend::new(out, SIZE).into_drawing_area(), s, kind),
        _ => Err(Error::invalid(format!(
            "cannot tell the format of '{}': name the file .png or .svg",
            out.display()
        ))),
    }
}

/// One line of [`curves_svg`]: its name, its points, and how it is drawn.
pub struct Curve {
    /// The legend's name.
    pub name: String,
    /// (x, y) points, x > 0.
    pub points: Vec<(f64, f64)>,
    /// Drawn thicker (the lines a figure is about).
    pub bold: bool,
    /// Drawn dashed (e.g. other tools' methods).
    pub dashed: bool,
}

/// Line colours (the Tableau 10 palette), distinct and readable on white.
const LINE_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A line chart of `curves` against a logarithmic x axis from `x_range.0` to `x_range.1`, as SVG
/// text (960 x 600, the legend at the right); x ticks are shown with `x_label`. The benchmark
/// reports draw their anytime curves with it.
pub fn curves_svg(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_range: (f64, f64),
    x_label: fn(f64) -> String,
    curves: &[Curve],
) -> Result<String> {
    register_font()?;
    if !(x_range.0 > 0.0 && x_range.1 > x_range.0) {
        return Err(Error::invalid(format!(
            "a logarithmic axis needs 0 < low < high, not {x_range:?}"
        )));
    }
    let (lo, hi) = span(curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)));
    let style = |i: usize, c: &Curve| {
        LINE_COLORS[i % LINE_COLORS.len()].stroke_width(if c.bold { 3 } else { 1 })
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let draw = || -> Draw<SVGBackend> {
            root.fill(&WHITE)?;
            let (left, right) = root.split_horizontally(SIZE.0 - 200);
            // Slightly wider than the data, so the ticks at the ends are drawn.
            let x_axis = (x_range.0 * 0.97)..(x_range.1 * 1.03);
            let mut chart = ChartBuilder::on(&left)
                .caption(title, (FONT_NAME, 22))
                .margin(16)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x_axis.log_scale(), lo..hi)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|x: &f64| x_label(*x))
                .label_style((FONT_NAME, 14))
                .draw()?;
            for (i, c) in curves.iter().enumerate() {
                let points = c.points.iter().copied();
                if c.dashed {
                    chart.draw_series(DashedLineSeries::new(points, 6, 4, style(i, c)))?;
                } else {
                    chart.draw_series(LineSeries::new(points, style(i, c)))?;
                }
            }
            // The legend: one row per curve, in the right-hand margin.
            for (i, c) in curves.iter().enumerate() {
                let y = 70 + 22 * i as i32;
                let line = vec![(8, y), (40, y)];
                if c.dashed {
                    right.draw(&plotters::element::DashedPathElement::new(
                        line,
                        6,
                        4,
                        style(i, c),
                    ))?;
                } else {
                    right.draw(&PathElement::new(line, style(i, c)))?;
                }
                right.draw(&Text::new(
                    c.name.clone(),
                    (48, y - 7),
                    (FONT_NAME, 13).into_font(),
                ))?;
            }
            root.present()
        };
        draw().map_err(|e| Error::invalid(format!("cannot draw the plot: {e}")))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(name: &str, dashed: bool) -> Curve {
        Curve {
            name: name.into(),
            points: vec![(0.01, 3.0), (0.1, 2.0), (1.0, 1.5)],
            bold: !dashed,
            dashed,
        }
    }

    #[test]
    fn curves_are_drawn_with_their_legend_and_a_bad_axis_is_refused() {
        let svg = curves_svg(
            "t",
            "x",
            "y",
            (0.01, 1.0),
            |x| format!("{x}"),
            &[curve("ours", false), curve("theirs", true)],
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains(">\nours\n<") && svg.contains(">\ntheirs\n<"),
            "{svg}"
        );
        // The dashed line is drawn in pieces; the solid one in one polyline.
        assert!(svg.matches("<polyline").count() > 3, "{svg}");
        for bad in [(0.0, 1.0), (1.0, 0.5), (f64::NAN, 1.0)] {
            let e = curves_svg("t", "x", "y", bad, |x| format!("{x}"), &[]).unwrap_err();
            assert!(e.to_string().contains("logarithmic axis"), "{e}");
        }
    }
}
