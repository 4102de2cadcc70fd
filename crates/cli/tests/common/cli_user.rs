//! A user of the `keyward` command-line client: a config directory of its own, logged in to a
//! test server (or not at all), and what the tests read from the client's tables.

use std::path::PathBuf;

use serde_json::Value;

use super::{ADMIN_PASSWORD, Aws, SECRET_ACCESS_KEY, Server, cli, kms_endpoint};

pub struct Cli {
    config: tempfile::TempDir,
    /// A secret the client must never print (checked on every command).
    secret: Option<&'static str>,
}

impl Cli {
    /// A client that never logged in: whatever needs the server stops at "not logged in".
    pub fn new() -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
            secret: None,
        }
    }

    /// A client logged in to `server` as admin, trusting its certificate (`--ca-cert`).
    pub fn login(server: &Server) -> Self {
        Self::new().logged_in_to(server)
    }

    /// From now on, every command's stdout and stderr are checked not to hold `secret` (in
    /// any case).
    pub fn never_printing(mut self, secret: &'static str) -> Self {
        self.secret = Some(secret);
        self
    }

    /// `keyward login` to `server` as admin, trusting its certificate (`--ca-cert`).
    pub fn logged_in_to(self, server: &Server) -> Self {
        let cert = ca_cert(server);
        self.ok_env(
            &[
                "login",
                "--url",
                &server.url,
                "--user",
                "admin",
                "--ca-cert",
                &cert,
            ],
            &[("KEYWARD_PASSWORD", ADMIN_PASSWORD)],
        );
        self
    }

    pub fn config_dir(&self) -> &str {
        self.config.path().to_str().unwrap()
    }

    /// Where the client keeps its credentials.
    pub fn credentials(&self) -> PathBuf {
        self.config.path().join("credentials.json")
    }

    /// Runs `keyward ARGS` with this config directory; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
        let mut all = vec![("KEYWARD_CONFIG_DIR", self.config_dir())];
        all.extend_from_slice(envs);
        let (ok, out, err) = cli(args, &all);
        if let Some(secret) = self.secret {
            assert!(
                !out.to_ascii_lowercase().contains(secret)
                    && !err.to_ascii_lowercase().contains(secret),
                "keyward {args:?} printed the secret:\nstdout: {out}\nstderr: {err}"
            );
        }
        (ok, out, err)
    }

    /// Runs a command that must succeed, with more environment; returns its stdout.
    pub fn ok_env(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let (ok, out, err) = self.run(args, envs);
        assert!(ok, "keyward {args:?} failed:\nstdout: {out}\nstderr: {err}");
        out
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_env(args, &[])
    }

    /// Runs a command that must fail, with more environment; returns its stderr.
    pub fn fails_env(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let (ok, out, err) = self.run(args, envs);
        assert!(!ok, "keyward {args:?} succeeded:\n{out}");
        err
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_env(args, &[])
    }

    /// Runs a command with --json; returns the parsed output.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(&[&["--json"], args].concat());
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("keyward {args:?} --json is not JSON ({e}):\n{out}"))
    }

    /// `keyward aws keys ARGS`.
    pub fn keys(&self, args: &[&str]) -> String {
        self.ok(&[&["aws", "keys"], args].concat())
    }

    pub fn keys_json(&self, args: &[&str]) -> Value {
        self.json(&[&["aws", "keys"], args].concat())
    }

    pub fn keys_fail(&self, args: &[&str]) -> String {
        self.fails(&[&["aws", "keys"], args].concat())
    }

    /// `keyward vault keys ARGS`.
    pub fn vault(&self, args: &[&str]) -> String {
        self.ok(&[&["vault", "keys"], args].concat())
    }

    pub fn vault_json(&self, args: &[&str]) -> Value {
        self.json(&[&["vault", "keys"], args].concat())
    }

    pub fn vault_fail(&self, args: &[&str]) -> String {
        self.fails(&[&["vault", "keys"], args].concat())
    }

    /// `keyward scheduler ARGS`.
    pub fn sched(&self, args: &[&str]) -> String {
        self.ok(&[&["scheduler"], args].concat())
    }

    pub fn sched_json(&self, args: &[&str]) -> Value {
        self.json(&[&["scheduler"], args].concat())
    }

    pub fn sched_fail(&self, args: &[&str]) -> String {
        self.fails(&[&["scheduler"], args].concat())
    }

    /// A LocalStack connection `localstack` as `aws`'s account and the KMS container `kms` in
    /// ap-south-1 on it, made with the client.
    pub fn localstack_kms(&self, aws: &Aws) {
        self.ok_env(
            &[
                "aws",
                "connections",
                "create",
                "localstack",
                "--access-key-id",
                &aws.access_key,
                "--region",
                "ap-south-1",
                "--endpoint-url",
                &kms_endpoint(),
            ],
            &[("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)],
        );
        self.ok(&[
            "aws",
            "kms",
            "create",
            "kms",
            "--account-id",
            &aws.account,
            "--connection",
            "localstack",
            "--region",
            "ap-south-1",
        ]);
    }
}

/// The path of the server's certificate (what `--ca-cert` takes).
pub fn ca_cert(server: &Server) -> String {
    server
        .data_dir()
        .join("tls")
        .join("cert.pem")
        .to_str()
        .unwrap()
        .to_string()
}

/// The value in a two-column table's row `label`.
pub fn row<'a>(table: &'a str, label: &str) -> &'a str {
    table
        .lines()
        .find_map(|l| {
            let cells: Vec<&str> = l.split(['│', '┆']).map(str::trim).collect();
            (cells.len() >= 3 && cells[1] == label).then(|| cells[2])
        })
        .unwrap_or_else(|| panic!("no row {label:?} in\n{table}"))
}

/// The cells of a list table's row whose first cell is `first`.
pub fn table_row(table: &str, first: &str) -> Vec<String> {
    table
        .lines()
        .find_map(|l| {
            let cells: Vec<String> = l.split(['│', '┆']).map(|c| c.trim().to_string()).collect();
            (cells.len() >= 3 && cells[1] == first).then(|| cells[1..cells.len() - 1].to_vec())
        })
        .unwrap_or_else(|| panic!("no row starting with {first:?} in\n{table}"))
}

/// A key record's aliases (`aws_param.Alias`).
pub fn aliases(k: &Value) -> Vec<String> {
    k["aws_param"]["Alias"]
        .as_array()
        .unwrap_or_else(|| panic!("no aws_param.Alias in {k}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}
