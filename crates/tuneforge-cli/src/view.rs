//! Looking at studies: `dashboard` (a live web UI), `report` (one self-contained HTML file)
//! and `plot` (a PNG or SVG figure).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use tuneforge::{Error, Result};
use tuneforge_dashboard::plot::{self, Kind};
use tuneforge_dashboard::snapshot::Snapshots;

use crate::resolve;

/// `tuneforge dashboard`: serves the storage's studies until Ctrl-C.
pub fn dashboard(
    host: &str,
    port: u16,
    token: Option<String>,
    storage_flag: Option<&str>,
) -> Result<u8> {
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(resolve::default_url);
    // The dashboard's own handle gives up quickly on an unreachable database server.
    resolve::require_existing(&url)?;
    let storage = tuneforge_dashboard::open_storage(&url)?;
    let ip: IpAddr = match host {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        other => other.parse().map_err(|_| {
            Error::invalid(format!(
                "--host '{other}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)"
            ))
        })?,
    };
    let config = tuneforge_dashboard::Config {
        addr: SocketAddr::new(ip, port),
        token,
    };
    let shown = tuneforge::storage::redact(&url);
    tuneforge_dashboard::serve(storage, config, |addr, open| {
        // Whoever started the server may stop reading its output; it serves on regardless.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "tuneforge dashboard of {shown}");
        if !addr.ip().is_loopback() {
            let _ = writeln!(
                out,
                "listening on {addr} (beyond this machine: the token is required)"
            );
        }
        let _ = writeln!(out, "open {open}");
        let _ = writeln!(out, "(Ctrl-C stops it)");
        let _ = out.flush();
    })?;
    Ok(0)
}

/// `tuneforge report`: the study as one HTML file.
pub fn report(study: &str, output: &Path, storage_flag: Option<&str>) -> Result<u8> {
    let r = resolve::existing(study, storage_flag)?;
    let html = tuneforge_dashboard::report::render(r.storage, &r.name)?;
    std::fs::write(output, &html).map_err(|e| Error::io(output, e))?;
    println!(
        "wrote {} ({} KB): study '{}', open it in any browser",
        output.display(),
        html.len().div_ceil(1024),
        r.name
    );
    Ok(0)
}

/// `tuneforge plot`: one figure as PNG or SVG.
pub fn plot(study: &str, kind: &str, output: &Path, storage_flag: Option<&str>) -> Result<u8> {
    let k = Kind::parse(kind).ok_or_else(|| {
        Error::invalid(format!(
            "--kind '{kind}' is not known: use history, importance, parallel or pareto"
        ))
    })?;
    let r = resolve::existing(study, storage_flag)?;
    let snaps = Snapshots::default();
    let snap = snaps.get(&*r.storage, &r.name)?;
    let mut guard = snap.lock().unwrap_or_else(|p| p.into_inner());
    plot::plot(&mut guard, k, output)?;
    println!("wrote {}", output.display());
    Ok(0)
}
