//! Helpers for black-box tests: run the real binary in a temp folder, against real sockets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::process::Command;

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `emr-harness ARGS` in `dir`, without colour and (unless `env` sets it) without CI mode.
pub fn harness(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emr-harness"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .env_remove("EMR_HARNESS_TARGET")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run emr-harness");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temp folder holding `files` (path → content).
pub fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    dir
}

/// Copies a folder of the repository (e.g. `scenarios`) into `dest`.
pub fn copy_dir(from: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = dest.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The address of a third-party target from the environment, or `None` with the reason printed
/// (so `cargo test` on a bare laptop still passes; `.ci/run` always sets these).
pub fn target_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!("SKIPPED: {var} is not set (bash .ci/targets.sh start sets it)");
            None
        }
    }
}

/// Every `*.snap` file under `dir`, sorted, with contents.
pub fn snaps(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "snap" || e == "new"))
                .map(|p| {
                    (
                        p.file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned(),
                        std::fs::read_to_string(&p).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A standalone `emr-harness sandbox` process on free ports; its banner says where it listens.
pub struct SandboxProcess {
    pub child: std::process::Child,
    pub base: String,
    pub mllp: String,
    /// Kept open so the sandbox can keep writing to stdout.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

pub fn spawn_sandbox() -> SandboxProcess {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_emr-harness"))
        .args([
            "sandbox",
            "--bind",
            "127.0.0.1:0",
            "--mllp-bind",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sandbox");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    let mut second = String::new();
    lines.read_line(&mut first).expect("read banner");
    lines.read_line(&mut second).expect("read banner");
    let base = first.trim().rsplit(' ').next().expect("url").to_string();
    let mllp = second.trim().rsplit(' ').next().expect("addr").to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/fhir"),
        "{first}"
    );
    assert!(second.contains("HL7 v2 MLLP on 127.0.0.1:"), "{second}");
    SandboxProcess {
        child,
        base,
        mllp,
        _stdout: lines,
    }
}

/// A JSON file written by a run, parsed into `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Certificates made for a test (rcgen): a CA, a server certificate for 127.0.0.1 and localhost,
/// a client certificate, all signed by the CA; and a second, unrelated CA.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, pem: String| std::fs::write(dir.path().join(name), pem).expect("write");
        let ca = |cn: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.self_signed(&key).expect("ca");
            (cert, key)
        };
        let (ca_cert, ca_key) = ca("emr-harness test CA");
        let (other_ca, _) = ca("someone else's CA");
        write("ca.pem", ca_cert.pem());
        write("other-ca.pem", other_ca.pem());
        for (name, sans) in [
            (
                "server",
                vec!["127.0.0.1".to_string(), "localhost".to_string()],
            ),
            ("client", vec!["emr-harness-client".to_string()]),
        ] {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(sans).expect("params");
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &ca_cert, &ca_key).expect("sign");
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// SEKMET is one server shared by every test that uses it, and one of them resets it: they take
/// turns (the tests of one binary run in parallel).
pub fn sekmet() -> Option<(String, std::sync::MutexGuard<'static, ()>)> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let url = target_env("EMR_HARNESS_SEKMET_URL")?;
    Some((url, TURN.lock().unwrap_or_else(|p| p.into_inner())))
}
