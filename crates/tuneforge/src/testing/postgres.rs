//! Throwaway PostgreSQL servers for tests: `initdb` into a temporary directory, a free port on
//! 127.0.0.1, stopped (and the directory removed) when the test process ends, however it ends.
//!
//! `TUNEFORGE_TEST_POSTGRES=postgres://user@host:port/db` uses an existing server instead (the
//! user needs the right to create databases). Without either, tests that need PostgreSQL skip
//! with a message, except under `CI=true`, where they fail: CI installs the server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A PostgreSQL server the tests may create databases on.
pub struct PgServer {
    /// `postgres://user@127.0.0.1:port/` without a database name.
    base: String,
    port: u16,
    local: Option<Local>,
}

struct Local {
    dir: PathBuf,
    bin: PathBuf,
    user: Option<String>,
}

static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// Whether tests must not skip (the `CI` environment variable is `true`).
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server shared by the tests of this process, started on first use. `None` (with the
/// reason printed) when PostgreSQL is not available; panics instead under `CI=true`.
pub fn shared() -> Option<&'static PgServer> {
    let s = SHARED.get_or_init(|| match std::env::var("TUNEFORGE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => PgServer::external(&url),
        _ => PgServer::start(),
    });
    match s {
        Ok(s) => Some(s),
        Err(e) if required() => panic!("PostgreSQL is required under CI=true: {e}"),
        Err(e) => {
            eprintln!("skipping a PostgreSQL test: {e}");
            None
        }
    }
}

/// A fresh, empty database on the shared server, as a storage URL.
pub fn fresh_database() -> Option<String> {
    shared().map(|s| s.create_database().unwrap_or_else(|e| panic!("{e}")))
}

fn find_bin(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return Some(dir);
        }
    }
    // Debian keeps the server programs out of PATH.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join(name).is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl PgServer {
    fn external(url: &str) -> Result<PgServer, String> {
        let base = match url.rfind('/') {
            Some(i) if i > "postgres://".len() => url[..=i].to_string(),
            _ => format!("{url}/"),
        };
        Ok(PgServer {
            base,
            port: 0,
            local: None,
        })
    }

    /// Starts a new server of its own (stopped when dropped or when the process ends).
    pub fn start() -> Result<PgServer, String> {
        let bin = find_bin("initdb").ok_or(
            "initdb was not found (install the Debian package `postgresql`; .ci/run does)",
        )?;
        let root = unsafe { libc::geteuid() } == 0;
        // The server refuses to run as root: run it as an unprivileged user.
        let user = if root {
            let pick = ["postgres", "nobody"].into_iter().find(|u| {
                Command::new("id")
                    .arg(u)
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
            Some(pick.ok_or("running as root and no unprivileged user (postgres, nobody) exists")?)
        } else {
            None
        };
        let dir = tempfile_dir()?;
        if let Some(u) = user {
            let status = Command::new("chown")
                .args(["-R", u, &dir.to_string_lossy()])
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!("could not give {} to user {u}", dir.display()));
            }
        }
        let local = Local {
            dir: dir.clone(),
            bin,
            user: user.map(str::to_string),
        };
        let data = dir.join("data");
        let out = local
            .command("initdb")
            .args(["-D", &data.to_string_lossy()])
            .args(["-U", "tuneforge", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let port = free_port()?;
        local.watchdog();
        let server = PgServer {
            base: format!("postgres://tuneforge@127.0.0.1:{port}/"),
            port,
            local: Some(local),
        };
        server.pg_ctl(&["start"])?;
        Ok(server)
    }

    /// The server's port on 127.0.0.1 (0 for an external server).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self) -> Result<String, String> {
        let name = format!(
            "tf_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let admin = format!("{}postgres", self.base);
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .map_err(|e| format!("cannot connect to the test server {admin}: {e}"))?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        Ok(format!("{}{name}", self.base))
    }

    /// Restarts the server (fast shutdown: open connections are cut), for fault tests.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl(&["restart", "-m", "fast"])
    }

    /// Stops the server until [`PgServer::resume`].
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl(&["stop", "-m", "fast"])
    }

    /// Starts a stopped server again on the same port.
    pub fn resume(&self) -> Result<(), String> {
        self.pg_ctl(&["start"])
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let Some(local) = &self.local else {
            return Err("an external test server cannot be controlled".into());
        };
        let data = local.dir.join("data");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            local.dir.display()
        );
        let out = local
            .command("pg_ctl")
            .args(["-D", &data.to_string_lossy(), "-w", "-t", "60"])
            .args(["-l", &local.dir.join("server.log").to_string_lossy()])
            .args(["-o", &opts])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(local.dir.join("server.log")).unwrap_or_default();
            return Err(format!(
                "pg_ctl {} failed: {}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
            ));
        }
        Ok(())
    }
}

impl Local {
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    /// A detached shell that stops the server and removes its directory once this process is
    /// gone, even when it was killed.
    fn watchdog(&self) {
        let data = self.dir.join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match &self.user {
            Some(u) => format!("runuser -u {u} -- '{}'", pg_ctl.display()),
            None => format!("'{}'", pg_ctl.display()),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop} -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            data = data.display(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.local.is_some() {
            let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
            std::thread::sleep(Duration::from_millis(50));
            if let Some(l) = &self.local {
                let _ = std::fs::remove_dir_all(&l.dir);
            }
        }
    }
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for i in 0..1000 {
        let p = base.join(format!("tuneforge-pg-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => {
                set_mode(&p);
                return Ok(p);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", p.display())),
        }
    }
    Err("no free temporary directory name".into())
}

fn set_mode(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
}
