//! tuneforge's dashboard: a web server showing the studies of a storage live (read-only),
//! self-contained HTML reports of one study, and plots for papers (PNG or SVG).
//!
//! The server keeps each study it shows in memory ([`snapshot`]) and brings it up to date
//! from the storage's change counter, so a refresh reads only the trials that changed; every
//! view ([`views`]) is computed on the server and bounded in size (downsampled series,
//! sampled rows, binned grids, table pages), which keeps the page fast at 100,000 trials.

pub mod assets;
pub mod plot;
pub mod report;
pub mod server;
pub mod snapshot;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use tuneforge::storage::Storage;
use tuneforge::{Error, Result};

/// How long the dashboard retries a database server it cannot reach before answering that
/// the storage cannot be read (workers retry for minutes; a page should say so at once).
pub const STORAGE_RETRY: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens a storage for the dashboard (database servers retried for [`STORAGE_RETRY`]).
pub fn open_storage(url: &str) -> Result<Arc<dyn Storage>> {
    tuneforge::storage::open_with_retry(url, Some(STORAGE_RETRY))
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Access token; required (and generated when absent) unless `addr` is a loopback address.
    pub token: Option<String>,
}

/// A random token (from the operating system's random source).
pub fn new_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Serves the dashboard until Ctrl-C; `ready` gets the address listened on and the address
/// to open (with the token) once the socket is bound.
pub fn serve(
    storage: Arc<dyn Storage>,
    config: Config,
    ready: impl FnOnce(SocketAddr, String),
) -> Result<()> {
    let token = match (config.token, config.addr.ip().is_loopback()) {
        (Some(t), _) if t.trim().is_empty() => {
            return Err(Error::invalid("the access token is empty"));
        }
        (Some(t), _) => Some(t),
        (None, true) => None,
        (None, false) => Some(new_token()?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::invalid(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| Error::invalid(format!("cannot listen on {}: {e}", config.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::invalid(format!("cannot read the listening address: {e}")))?;
        let shown = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let url = match &token {
            Some(t) => format!("http://{shown}/?token={t}"),
            None => format!("http://{shown}/"),
        };
        ready(addr, url);
        let app = server::router(server::AppState::new(storage, token));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::invalid(format!("the server stopped: {e}")))
    })
}
