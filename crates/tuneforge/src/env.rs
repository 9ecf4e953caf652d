//! Facts about the machine a worker runs on.

/// The host name (from the kernel), or `localhost` when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// True when a process with this id exists on this machine.
pub fn process_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission; it sends nothing.
    let r = unsafe { libc::kill(pid as i32, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn run_capture(program: &str, args: &[&str], cwd: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // Some tools (old Pythons) print their version on stderr.
    let mut s = String::from_utf8_lossy(&out.stdout).to_string();
    if s.trim().is_empty() {
        s = String::from_utf8_lossy(&out.stderr).to_string();
    }
    Some(s)
}

fn proc_field(path: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The environment a trial runs in: tuneforge's version, the machine (host, OS, CPU, memory,
/// GPUs from `nvidia-smi`), the git state of `cwd` (commit, dirty, a hash of the diff), and for
/// a Python command (`argv[0]` a Python or a `.py` file) the interpreter's version and a hash
/// of `pip freeze`. Fields that cannot be found are left out.
pub fn capture(
    argv: &[String],
    cwd: &std::path::Path,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let mut m = serde_json::Map::new();
    m.insert("tuneforge_version".into(), json!(env!("CARGO_PKG_VERSION")));
    m.insert("hostname".into(), json!(hostname()));
    // /etc/os-release is KEY=value, with optional quotes.
    if let Some(os) = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
    {
        m.insert("os".into(), json!(os));
    }
    if let Ok(k) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        m.insert("kernel".into(), json!(k.trim()));
    }
    m.insert("arch".into(), json!(std::env::consts::ARCH));
    if let Some(cpu) = proc_field("/proc/cpuinfo", "model name") {
        m.insert("cpu_model".into(), json!(cpu));
    }
    m.insert(
        "cpu_cores".into(),
        json!(std::thread::available_parallelism().map_or(1, |p| p.get())),
    );
    if let Some(kb) = proc_field("/proc/meminfo", "MemTotal").and_then(|v| {
        v.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
    }) {
        m.insert("memory_bytes".into(), json!(kb * 1024));
    }
    if let Some(g) = run_capture(
        "nvidia-smi",
        &[
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader",
        ],
        cwd,
    ) {
        let gpus: Vec<&str> = g.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        m.insert("gpus".into(), json!(gpus));
    }
    if let Some(commit) = run_capture("git", &["rev-parse", "HEAD"], cwd) {
        m.insert("git_commit".into(), json!(commit.trim()));
        let status = run_capture("git", &["status", "--porcelain"], cwd).unwrap_or_default();
        let dirty = !status.trim().is_empty();
        m.insert("git_dirty".into(), json!(dirty));
        if dirty {
            let diff = run_capture("git", &["diff", "HEAD"], cwd).unwrap_or_default();
            m.insert(
                "git_diff_sha256".into(),
                json!(sha256_hex(format!("{diff}{status}").as_bytes())),
            );
        }
    }
    if let Some(program) = argv.first() {
        m.insert("command_program".into(), json!(program));
        let base = std::path::Path::new(program)
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("");
        let python = if base.starts_with("python") {
            Some(program.clone())
        } else if base.ends_with(".py") {
            Some("python3".to_string())
        } else {
            None
        };
        if let Some(py) = python {
            if let Some(v) = run_capture(&py, &["--version"], cwd) {
                m.insert("python_version".into(), json!(v.trim()));
            }
            if let Some(f) = run_capture(&py, &["-m", "pip", "freeze"], cwd) {
                m.insert("pip_freeze_sha256".into(), json!(sha256_hex(f.as_bytes())));
                m.insert("pip_packages".into(), json!(f.lines().count()));
            }
        }
    }
    m
}

/// Records the environment of a trial of `study` as the study attribute `env:<id>` (once per
/// study handle, program and directory; the capture itself once per process) and returns the
/// id for the trial.
pub fn record(
    study: &crate::Study,
    argv: &[String],
    cwd: &std::path::Path,
) -> crate::Result<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (String, std::path::PathBuf);
    // Capturing runs git, pip and nvidia-smi: once per program and directory per process.
    static CAPTURED: OnceLock<Mutex<HashMap<Key, serde_json::Map<String, serde_json::Value>>>> =
        OnceLock::new();
    // Recorded once per study handle, program and directory.
    static RECORDED: OnceLock<Mutex<HashMap<(u64, Key), String>>> = OnceLock::new();
    let key: Key = (argv.first().cloned().unwrap_or_default(), cwd.to_path_buf());
    let recorded = RECORDED.get_or_init(|| Mutex::new(HashMap::new()));
    let handle = (study.instance(), key.clone());
    if let Some(id) = recorded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&handle)
    {
        return Ok(id.clone());
    }
    let captured = CAPTURED.get_or_init(|| Mutex::new(HashMap::new()));
    let cached = captured
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    let mut env = match cached {
        Some(e) => e,
        None => {
            let e = capture(argv, cwd);
            captured
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, e.clone());
            e
        }
    };
    if let Some(text) = study
        .record()
        .attrs
        .get(crate::attrs::STUDY_FILE)
        .and_then(|v| v.as_str())
    {
        env.insert(
            "study_file_sha256".into(),
            sha256_hex(text.as_bytes()).into(),
        );
    }
    let id = env_id(&env);
    study.storage().set_study_attr(
        study.record().id,
        &attr_key(&id),
        &serde_json::Value::Object(env),
    )?;
    recorded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(handle, id.clone());
    Ok(id)
}

/// A short identifier of an environment (the start of its SHA-256).
pub fn env_id(env: &serde_json::Map<String, serde_json::Value>) -> String {
    let text = serde_json::Value::Object(env.clone()).to_string();
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// The fields in which two environments differ: (field, first, second).
pub fn differences(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(String, String, String)> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| match v {
        None => "(absent)".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(o) => o.to_string(),
    };
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), show(a.get(k)), show(b.get(k))))
        .collect()
}

/// The study attribute that holds environment `id`.
pub fn attr_key(id: &str) -> String {
    format!("{}{id}", crate::attrs::ENV_PREFIX)
}

/// The environment trial `t` ran in, as recorded with its study.
pub fn of_trial<'a>(
    record: &'a crate::record::StudyRecord,
    t: &crate::record::FrozenTrial,
) -> Option<&'a serde_json::Value> {
    let id = t.system_attrs.get(crate::attrs::ENV)?.as_str()?;
    record.attrs.get(&attr_key(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_describes_this_machine() {
        let dir = std::path::PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        );
        let e = capture(&["python3".into(), "x.py".into()], &dir);
        assert_eq!(e["tuneforge_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(e["hostname"], hostname());
        assert_eq!(e["arch"], std::env::consts::ARCH);
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(e["cpu_cores"], cores);
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(e["memory_bytes"].as_u64().unwrap() > 1 << 26);
            assert!(!e["cpu_model"].as_str().unwrap().is_empty());
        }
        // This source tree is a git checkout when tests run from the repository.
        if let Some(head) = run_capture("git", &["rev-parse", "HEAD"], &dir) {
            assert_eq!(e["git_commit"], head.trim());
            assert!(e["git_dirty"].is_boolean());
        }
        if let Some(v) = run_capture("python3", &["--version"], &dir) {
            assert_eq!(e["python_version"], v.trim());
        }
        assert_eq!(env_id(&e), env_id(&e.clone()));
        let mut other = e.clone();
        other.insert("hostname".into(), "elsewhere".into());
        let d = differences(&e, &other);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "hostname");
        assert_ne!(env_id(&e), env_id(&other));
    }
}
