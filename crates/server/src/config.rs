//! Settings: defaults, then a TOML file (`--config`), then `KEYWARD_<NAME>` environment
//! variables, then command-line flags. `keyward serve --print-default-config` prints them all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keyward_aws::AwsSettings;
use keyward_core::KeywardSettings;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest time, in seconds, any setting takes: ten years.
pub const MAX_SETTING_SECS: i64 = 10 * 366 * 86_400;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address and port to serve HTTPS on (port 0 picks a free one).
    pub listen: String,
    /// Where the database, the root key and the generated certificate live.
    pub data_dir: String,
    /// PEM certificate chain to serve; empty: a self-signed one made in data_dir/tls.
    pub tls_cert: String,
    /// PEM private key for tls_cert.
    pub tls_key: String,
    /// The root key file; empty: data_dir/root.key, created (mode 0600) on first start.
    pub root_key_file: String,
    /// Lifetime of an access token (JWT), seconds.
    pub token_ttl_secs: i64,
    /// Lifetime of a refresh token, seconds.
    pub refresh_token_ttl_secs: i64,
    /// Failed logins in a row after which each further attempt must wait (1 s, 2 s, 4 s, ...).
    pub login_slowdown_after: i64,
    /// Failed logins in a row after which the user is locked.
    pub login_lock_after: i64,
    /// How long a lock lasts, seconds; failures are forgotten this long after the last one.
    pub login_lock_secs: i64,
    /// Failed logins one client address may make at once. Keep it below login_lock_after (and
    /// login_source_interval_secs above login_lock_secs) so that one address alone can never
    /// lock a user out.
    pub login_source_burst: i64,
    /// After its budget is spent, an address may fail one more login per this many seconds.
    pub login_source_interval_secs: i64,
    /// Password checks (argon2id, 19 MiB each) run at once; 0: half the CPU cores, at least 1.
    pub password_checks_parallel: i64,
    /// Password checks that may wait for a free place; beyond them a login gets 429 at once.
    pub password_checks_queued: i64,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: i64,
    /// Attempts per AWS call, the first included; throttling is retried with backoff.
    pub aws_max_attempts: i64,
    pub aws_connect_timeout_secs: i64,
    pub aws_attempt_timeout_secs: i64,
    /// Bound on one AWS call, retries included.
    pub aws_operation_timeout_secs: i64,
    /// How long in-flight requests may take to finish after SIGTERM, seconds.
    pub shutdown_grace_secs: i64,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `keyward_server=debug,info`.
    pub log_level: String,
    /// Requests per second Keyward allows itself per AWS operation, per connection and Region.
    /// Defaults to AWS's documented quotas; lower them to leave room for other AWS clients.
    /// In the environment: `KEYWARD_AWS_RATE_LIMITS="CreateKey=2,DescribeKey=100"`.
    pub aws_rate_limits: BTreeMap<String, f64>,
    /// The PKCS#11 library of the HSM key source (e.g. /usr/lib/softhsm/libsofthsm2.so);
    /// empty: no HSM (`source_key_tier: hsm-luna` is then refused).
    pub pkcs11_module: String,
    /// The label of the HSM token Keyward works in.
    pub pkcs11_token: String,
    /// The token's user PIN. Never logged; prefer the environment (KEYWARD_PKCS11_PIN) to a file.
    pub pkcs11_pin: ConfigSecret,
    /// How often the scheduler looks for job configs that are due, seconds; 0 turns the
    /// scheduler off on this node (runs can still be started by hand, and other nodes fire them).
    pub scheduler_tick_secs: i64,
    /// How long a node holds a run or a rotation without renewing it before another node (or
    /// this one, restarted) takes it over, seconds.
    pub scheduler_lease_secs: i64,
    /// How often a signed checkpoint of the audit chain's head is written to the log (and to
    /// audit_checkpoint_file), seconds, when the trail has grown since the last one; 0: only at
    /// start and at shutdown.
    pub audit_checkpoint_secs: i64,
    /// A file, outside data_dir, that each signed audit checkpoint is appended to (one line
    /// each); empty: checkpoints go to the log only.
    pub audit_checkpoint_file: String,
}

impl Default for Settings {
    fn default() -> Self {
        let core = KeywardSettings::default();
        let aws = AwsSettings::default();
        Self {
            listen: "127.0.0.1:8443".into(),
            data_dir: "./keyward-data".into(),
            tls_cert: String::new(),
            tls_key: String::new(),
            root_key_file: String::new(),
            token_ttl_secs: core.token_ttl_secs,
            refresh_token_ttl_secs: core.refresh_token_ttl_secs,
            login_slowdown_after: core.login_slowdown_after,
            login_lock_after: core.login_lock_after,
            login_lock_secs: core.login_lock_secs,
            login_source_burst: core.login_source_burst,
            login_source_interval_secs: core.login_source_interval_secs,
            password_checks_parallel: 0,
            password_checks_queued: 32,
            max_body_bytes: 1024 * 1024,
            aws_max_attempts: aws.max_attempts as i64,
            aws_connect_timeout_secs: aws.connect_timeout.as_secs() as i64,
            aws_attempt_timeout_secs: aws.attempt_timeout.as_secs() as i64,
            aws_operation_timeout_secs: aws.operation_timeout.as_secs() as i64,
            shutdown_grace_secs: 30,
            log_format: "text".into(),
            log_level: "info".into(),
            aws_rate_limits: keyward_aws::default_quotas().into_iter().collect(),
            pkcs11_module: String::new(),
            pkcs11_token: String::new(),
            pkcs11_pin: ConfigSecret::default(),
            scheduler_tick_secs: 15,
            scheduler_lease_secs: core.scheduler_lease_secs,
            audit_checkpoint_secs: 300,
            audit_checkpoint_file: String::new(),
        }
    }
}

/// A secret setting (the HSM PIN): read like any string setting, never shown by `Debug`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct ConfigSecret(pub String);

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("setting {0}")]
    Invalid(String),
}

impl Settings {
    /// The defaults as TOML, every setting with its comment-free default.
    pub fn default_toml() -> String {
        toml::to_string(&Settings::default()).unwrap_or_default()
    }

    /// Defaults, overlaid with the file (if any) and then the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let defaults = toml::Table::try_from(Settings::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut merged = defaults.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            for (k, v) in table {
                if !defaults.contains_key(&k) {
                    return Err(ConfigError::File {
                        path: path.display().to_string(),
                        message: format!("unknown setting '{k}'"),
                    });
                }
                // A table (aws_rate_limits) is merged key by key into its defaults.
                match (merged.get_mut(&k), v) {
                    (Some(toml::Value::Table(base)), toml::Value::Table(given)) => {
                        base.extend(given);
                    }
                    (_, v) => {
                        merged.insert(k, v);
                    }
                }
            }
        }
        for (key, default) in &defaults {
            let name = format!("KEYWARD_{}", key.to_uppercase());
            if let Some(raw) = env(&name) {
                let value = match default {
                    toml::Value::Integer(_) => raw
                        .trim()
                        .parse::<i64>()
                        .map(toml::Value::Integer)
                        .map_err(|_| ConfigError::Env {
                            name: name.clone(),
                            message: format!("'{raw}' is not a whole number"),
                        })?,
                    toml::Value::Boolean(_) => raw
                        .trim()
                        .parse::<bool>()
                        .map(toml::Value::Boolean)
                        .map_err(|_| ConfigError::Env {
                            name: name.clone(),
                            message: format!("'{raw}' is not true or false"),
                        })?,
                    toml::Value::Table(defaults_table) => {
                        let mut table = match merged.get(key) {
                            Some(toml::Value::Table(t)) => t.clone(),
                            _ => defaults_table.clone(),
                        };
                        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                            let (k, v) = pair.split_once('=').ok_or_else(|| ConfigError::Env {
                                name: name.clone(),
                                message: format!("'{pair}' is not NAME=VALUE"),
                            })?;
                            let v: f64 = v.trim().parse().map_err(|_| ConfigError::Env {
                                name: name.clone(),
                                message: format!("'{v}' is not a number"),
                            })?;
                            table.insert(k.trim().to_string(), toml::Value::Float(v));
                        }
                        toml::Value::Table(table)
                    }
                    _ => toml::Value::String(raw),
                };
                merged.insert(key.clone(), value);
            }
        }
        let settings: Settings = merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        let positive = [
            ("token_ttl_secs", self.token_ttl_secs),
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
            ("login_slowdown_after", self.login_slowdown_after),
            ("login_lock_after", self.login_lock_after),
            ("login_lock_secs", self.login_lock_secs),
            ("login_source_burst", self.login_source_burst),
            (
                "login_source_interval_secs",
                self.login_source_interval_secs,
            ),
            ("max_body_bytes", self.max_body_bytes),
            ("aws_max_attempts", self.aws_max_attempts),
            ("aws_connect_timeout_secs", self.aws_connect_timeout_secs),
            ("aws_attempt_timeout_secs", self.aws_attempt_timeout_secs),
            (
                "aws_operation_timeout_secs",
                self.aws_operation_timeout_secs,
            ),
        ];
        for (name, v) in positive {
            if v <= 0 {
                return Err(ConfigError::Invalid(format!("{name}: must be more than 0")));
            }
        }
        // Times in seconds become chrono durations added to the clock (`Duration::seconds`
        // panics past about 292 million years, and the sum can overflow long before): at
        // most ten years.
        let seconds = [
            ("token_ttl_secs", self.token_ttl_secs),
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
            ("login_lock_secs", self.login_lock_secs),
            ("scheduler_lease_secs", self.scheduler_lease_secs),
            ("scheduler_tick_secs", self.scheduler_tick_secs),
            ("shutdown_grace_secs", self.shutdown_grace_secs),
            ("aws_connect_timeout_secs", self.aws_connect_timeout_secs),
            ("aws_attempt_timeout_secs", self.aws_attempt_timeout_secs),
            (
                "aws_operation_timeout_secs",
                self.aws_operation_timeout_secs,
            ),
        ];
        for (name, v) in seconds {
            if v > MAX_SETTING_SECS {
                return Err(ConfigError::Invalid(format!(
                    "{name}: must be at most {MAX_SETTING_SECS} seconds (ten years)"
                )));
            }
        }
        if self.tls_cert.is_empty() != self.tls_key.is_empty() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key: give both or neither".into(),
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(
                "log_format: must be text or json".into(),
            ));
        }
        let known = keyward_aws::default_quotas();
        for (op, rate) in &self.aws_rate_limits {
            if !known.contains_key(op) {
                return Err(ConfigError::Invalid(format!(
                    "aws_rate_limits: '{op}' is not an AWS KMS operation Keyward calls"
                )));
            }
            if !rate.is_finite() || *rate <= 0.0 {
                return Err(ConfigError::Invalid(format!(
                    "aws_rate_limits: {op} must be more than 0 requests per second"
                )));
            }
        }
        let hsm = [
            ("pkcs11_module", &self.pkcs11_module),
            ("pkcs11_token", &self.pkcs11_token),
            ("pkcs11_pin", &self.pkcs11_pin.0),
        ];
        if !self.pkcs11_module.is_empty() {
            for (name, value) in hsm {
                if value.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "{name}: required with pkcs11_module (the HSM key source)"
                    )));
                }
            }
        } else if let Some((name, _)) = hsm.iter().find(|(_, v)| !v.is_empty()) {
            return Err(ConfigError::Invalid(format!(
                "{name}: set without pkcs11_module (the HSM's PKCS#11 library)"
            )));
        }
        if self.scheduler_tick_secs < 0 {
            return Err(ConfigError::Invalid(
                "scheduler_tick_secs: must be 0 (off) or more".into(),
            ));
        }
        if self.scheduler_lease_secs < 1 {
            return Err(ConfigError::Invalid(
                "scheduler_lease_secs: must be at least 1".into(),
            ));
        }
        if self.password_checks_parallel < 0 || self.password_checks_queued < 0 {
            return Err(ConfigError::Invalid(
                "password_checks_parallel, password_checks_queued: must not be negative".into(),
            ));
        }
        if self.audit_checkpoint_secs < 0 {
            return Err(ConfigError::Invalid(
                "audit_checkpoint_secs: must be 0 (start and shutdown only) or more".into(),
            ));
        }
        if self.data_dir.is_empty() {
            return Err(ConfigError::Invalid("data_dir: must not be empty".into()));
        }
        Ok(())
    }

    /// Password checks run at once: the setting, or half the CPU cores (at least 1), so that
    /// logins never take every core from the other requests.
    pub fn password_checks_parallel(&self) -> usize {
        match usize::try_from(self.password_checks_parallel) {
            Ok(n) if n > 0 => n,
            _ => std::thread::available_parallelism()
                .map(|n| (n.get() / 2).max(1))
                .unwrap_or(1),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.data_dir)
    }

    pub fn core(&self) -> KeywardSettings {
        KeywardSettings {
            token_ttl_secs: self.token_ttl_secs,
            refresh_token_ttl_secs: self.refresh_token_ttl_secs,
            login_slowdown_after: self.login_slowdown_after,
            login_lock_after: self.login_lock_after,
            login_lock_secs: self.login_lock_secs,
            login_source_burst: self.login_source_burst,
            login_source_interval_secs: self.login_source_interval_secs,
            scheduler_lease_secs: self.scheduler_lease_secs,
        }
    }

    /// The HSM key source's settings: (module, token, PIN), or None when no HSM is configured.
    pub fn pkcs11(&self) -> Option<(String, String, keyward_core::secret::SecretString)> {
        (!self.pkcs11_module.is_empty()).then(|| {
            (
                self.pkcs11_module.clone(),
                self.pkcs11_token.clone(),
                keyward_core::secret::SecretString::new(self.pkcs11_pin.0.clone()),
            )
        })
    }

    pub fn aws(&self) -> AwsSettings {
        let secs = |v: i64| Duration::from_secs(v.max(1) as u64);
        AwsSettings {
            max_attempts: self.aws_max_attempts.clamp(1, 20) as u32,
            connect_timeout: secs(self.aws_connect_timeout_secs),
            attempt_timeout: secs(self.aws_attempt_timeout_secs),
            operation_timeout: secs(self.aws_operation_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\ntoken_ttl_secs = 60\n[aws_rate_limits]\nCreateKey = 1.5\n",
        )
        .unwrap();
        let env: HashMap<&str, &str> = [
            ("KEYWARD_TOKEN_TTL_SECS", "120"),
            ("KEYWARD_DATA_DIR", "/tmp/x"),
        ]
        .into();
        let s = Settings::load(Some(&path), |k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000");
        assert_eq!(s.token_ttl_secs, 120);
        assert_eq!(s.data_dir, "/tmp/x");
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert_eq!(s.aws_rate_limits["CreateKey"], 1.5);
        assert_eq!(s.aws_rate_limits["DescribeKey"], 2000.0);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Settings::load(None, |k| {
            (k == "KEYWARD_TOKEN_TTL_SECS").then(|| "soon".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("KEYWARD_TOKEN_TTL_SECS"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = Settings::load(Some(&path), |_| None).unwrap_err();
        assert!(err.to_string().contains("unknown setting 'lisen'"), "{err}");
    }

    #[test]
    fn the_hsm_pin_never_shows_in_debug_output() {
        let s = Settings::load(None, |k| match k {
            "KEYWARD_PKCS11_MODULE" => Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            "KEYWARD_PKCS11_TOKEN" => Some("t".into()),
            "KEYWARD_PKCS11_PIN" => Some("pin-4711-secret".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.pkcs11_pin.0, "pin-4711-secret");
        assert!(!format!("{s:?}").contains("4711"));
    }

    /// `login_lock_secs = 9223372036854775807` panicked at the first failed login
    /// (chrono's `Duration::seconds`); every time setting is bounded.
    #[test]
    fn time_settings_are_bounded() {
        for name in [
            "KEYWARD_LOGIN_LOCK_SECS",
            "KEYWARD_TOKEN_TTL_SECS",
            "KEYWARD_REFRESH_TOKEN_TTL_SECS",
            "KEYWARD_SCHEDULER_LEASE_SECS",
        ] {
            let err = Settings::load(None, |k| (k == name).then(|| i64::MAX.to_string()))
                .unwrap_err()
                .to_string();
            let field = name.trim_start_matches("KEYWARD_").to_lowercase();
            assert!(err.contains(&field) && err.contains("at most"), "{err}");
        }
        let ok = Settings::load(None, |k| {
            (k == "KEYWARD_LOGIN_LOCK_SECS").then(|| MAX_SETTING_SECS.to_string())
        });
        assert!(ok.is_ok());
    }

    #[test]
    fn rate_limits_come_from_the_environment() {
        let s = Settings::load(None, |k| {
            (k == "KEYWARD_AWS_RATE_LIMITS").then(|| "CreateKey=2, DescribeKey=100".to_string())
        })
        .unwrap();
        assert_eq!(s.aws_rate_limits["CreateKey"], 2.0);
        assert_eq!(s.aws_rate_limits["DescribeKey"], 100.0);
        assert_eq!(s.aws_rate_limits["ListKeys"], 500.0);
        let err = Settings::load(None, |k| {
            (k == "KEYWARD_AWS_RATE_LIMITS").then(|| "Frobnicate=2".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("Frobnicate"), "{err}");
        let err = Settings::load(None, |k| {
            (k == "KEYWARD_AWS_RATE_LIMITS").then(|| "CreateKey=0".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("CreateKey"), "{err}");
    }

    #[test]
    fn pkcs11_settings_go_together_and_the_pin_is_not_shown() {
        let env: HashMap<&str, &str> = [
            ("KEYWARD_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so"),
            ("KEYWARD_PKCS11_TOKEN", "tok"),
            ("KEYWARD_PKCS11_PIN", "pin-1234-secret"),
        ]
        .into();
        let s = Settings::load(None, |k| env.get(k).map(|v| v.to_string())).unwrap();
        let (module, token, pin) = s.pkcs11().unwrap();
        assert_eq!(module, "/usr/lib/softhsm/libsofthsm2.so");
        assert_eq!(token, "tok");
        assert_eq!(pin.expose(), "pin-1234-secret");
        assert!(!format!("{pin:?}").contains("pin-1234"));
        assert!(Settings::default().pkcs11().is_none());
        let err = Settings::load(None, |k| {
            (k == "KEYWARD_PKCS11_MODULE").then(|| "/x.so".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("pkcs11_token"), "{err}");
        let err = Settings::load(None, |k| {
            (k == "KEYWARD_PKCS11_PIN").then(|| "pin-1234-secret".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("pkcs11_pin"), "{err}");
        assert!(!err.to_string().contains("pin-1234"), "{err}");
    }

    #[test]
    fn default_toml_lists_every_setting() {
        let text = Settings::default_toml();
        for key in [
            "listen",
            "data_dir",
            "tls_cert",
            "token_ttl_secs",
            "max_body_bytes",
            "aws_max_attempts",
        ] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
        let back: Settings = toml::from_str(&text).unwrap();
        assert_eq!(back, Settings::default());
    }
}
