//! Start-up and shutdown: open the store, unseal the vault, make the first admin, build the
//! router, serve HTTPS until SIGTERM or Ctrl-C, then let in-flight requests finish.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use keyward_aws::AwsKms;
use keyward_core::ports::{Clock, Random, SystemClock};
use keyward_core::secret::SecretString;
use keyward_core::service::{Ports, load_system_secret};
use keyward_core::users::AdminBootstrap;
use keyward_core::{CoreError, Keyward};
use keyward_crypto::{
    Argon2Passwords, AuditKeys, CheckpointSigner, JwtTokens, RootKey, SealingVault, SystemRng,
};
use keyward_store::SqliteStore;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::state::AppState;
use crate::{request_id, routes, telemetry, tls};

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("data directory {path}: {message}")]
    DataDir { path: String, message: String },
    #[error(transparent)]
    RootKey(#[from] keyward_crypto::root_key::RootKeyError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Core(#[from] CoreError),
    #[error("listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    /// A configured HSM that cannot be used: the start fails.
    #[error("{0}")]
    Hsm(#[from] keyward_crypto::pkcs11::HsmError),
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keyward.db")
}

fn prepare_data_dir(dir: &Path) -> Result<(), ServeError> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| ServeError::DataDir {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
    }
    Ok(())
}

/// Opens the store of a data directory (for admin commands that run beside the server), with
/// the audit keys derived from its root key (`root_key_file`, or data_dir/root.key; never
/// created here): the chain's MAC key goes to the store, the checkpoint signer is returned.
pub async fn open_store(
    data_dir: &Path,
    root_key_file: Option<&Path>,
) -> Result<(SqliteStore, CheckpointSigner), ServeError> {
    let path = root_key_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join("root.key"));
    let root = RootKey::load_or_create(&path, false, &SystemRng)?;
    let keys = AuditKeys::derive(&root)?;
    drop(root);
    let store = SqliteStore::open(&database_path(data_dir), Arc::new(keys.mac)).await?;
    Ok((store, keys.signer))
}

/// Builds the application from the settings: everything but the listener.
pub async fn build(settings: &Settings) -> Result<(AppState, Arc<SqliteStore>), ServeError> {
    build_with_clock(settings, Arc::new(SystemClock)).await
}

/// [`build`] on a given clock (tests drive schedules and expiry with their own).
pub async fn build_with_clock(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<(AppState, Arc<SqliteStore>), ServeError> {
    let (state, store, _signer) = build_parts(settings, clock).await?;
    Ok((state, store))
}

/// [`build_with_clock`], also returning the audit checkpoint signer.
async fn build_parts(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<(AppState, Arc<SqliteStore>, CheckpointSigner), ServeError> {
    let data_dir = settings.data_dir();
    prepare_data_dir(&data_dir)?;
    let rng = SystemRng;
    let (root_path, create) = if settings.root_key_file.is_empty() {
        (data_dir.join("root.key"), true)
    } else {
        (PathBuf::from(&settings.root_key_file), false)
    };
    let root = RootKey::load_or_create(&root_path, create, &rng)?;
    let vault = SealingVault::new(&root)?;
    let audit_keys = AuditKeys::derive(&root)?;
    drop(root);
    let store =
        Arc::new(SqliteStore::open(&database_path(&data_dir), Arc::new(audit_keys.mac)).await?);
    // A trail written before the chain was keyed is re-keyed once, here (migration 0012).
    if let Some(rekey) = store.rekey_unkeyed_chain(clock.now()).await? {
        if rekey.problems.is_empty() {
            tracing::warn!(
                records = rekey.records,
                "re-keyed the audit chain (HMAC-SHA256 under a key derived from the root key); the old SHA-256 chain was intact"
            );
        } else {
            tracing::error!(
                records = rekey.records,
                problems = %rekey.problems.join("; "),
                "re-keyed the audit chain, but the old SHA-256 chain was NOT intact; the audit.rekey record names the problems"
            );
        }
    }
    let active_kek = keyward_core::keks::load_keks(store.as_ref(), &vault).await?;
    tracing::info!(active_kek, "vault unsealed");
    let signing_key =
        load_system_secret(store.as_ref(), &vault, &rng, "token-signing-key", 32).await?;
    let tokens = JwtTokens::new(&signing_key)?;
    drop(signing_key);
    let random: Arc<dyn Random> = Arc::new(rng);
    let aws = Arc::new(AwsKms::new(
        settings.aws(),
        settings.aws_rate_limits.clone().into_iter().collect(),
    ));
    let hsm: Option<Arc<dyn keyward_core::ports::HsmKeys>> = match settings.pkcs11() {
        None => None,
        Some((module, token, pin)) => {
            let hsm = tokio::task::spawn_blocking(move || {
                keyward_crypto::Pkcs11Hsm::connect(&module, &token, pin)
            })
            .await
            .map_err(|e| CoreError::internal(format!("HSM start-up task: {e}")))??;
            Some(Arc::new(hsm))
        }
    };
    let ports = Ports {
        store: store.clone(),
        cloud: aws.clone(),
        keys: aws,
        vault: Arc::new(vault),
        wrapper: Arc::new(keyward_crypto::OaepWrapper),
        hsm,
        passwords: Arc::new(Argon2Passwords::new(
            settings.password_checks_parallel(),
            usize::try_from(settings.password_checks_queued).unwrap_or(0),
        )),
        tokens: Arc::new(tokens),
        clock,
        random,
        background: Arc::new(crate::background::TokioBackground),
    };
    let keyward = Arc::new(Keyward::new(ports, settings.core()));
    let admin_password = std::env::var("KEYWARD_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .map(SecretString::new);
    match keyward.bootstrap_admin(admin_password).await? {
        AdminBootstrap::Existing => {}
        AdminBootstrap::Created => {
            tracing::info!("created user admin with the password from KEYWARD_ADMIN_PASSWORD")
        }
        AdminBootstrap::CreatedWithGeneratedPassword(pw) => {
            // Shown once, on stderr, outside the logs.
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "\nKeyward created user 'admin' with password: {}\nIt is shown only this once; change it with `keyward users passwd admin`.\n",
                pw.expose()
            );
        }
    }
    // Creates a stop interrupted (the create journal): finished, or their key scheduled for
    // deletion, or closed when AWS never made the key. Before imports: an upload-key's import
    // needs its key's record.
    match keyward.reconcile_creates().await {
        Ok(r) if r == Default::default() => {}
        Ok(r) => tracing::warn!(
            finished = r.finished,
            abandoned = r.abandoned,
            closed = r.closed,
            pending = r.pending,
            "recovered key creations interrupted by the last shutdown"
        ),
        Err(e) => tracing::error!(error = %e, "could not recover interrupted key creations"),
    }
    if let Err(e) = keyward.purge_idempotency().await {
        tracing::warn!(error = %e, "could not purge expired Idempotency-Key entries");
    }
    match keyward.reconcile_imports().await {
        Ok((0, 0)) => {}
        Ok((finished, dropped)) => {
            tracing::warn!(
                finished,
                dropped,
                "reconciled imports interrupted by the last shutdown"
            )
        }
        Err(e) => tracing::error!(error = %e, "could not reconcile interrupted imports"),
    }
    // Rotations whose lease has expired already (a long stop); fresher ones are taken over by
    // the scheduler's tick once their lease runs out.
    match keyward.reconcile_rotations().await {
        Ok((0, 0)) => {}
        Ok((done, failed)) => {
            tracing::warn!(
                done,
                failed,
                "took over rotations interrupted by the last shutdown"
            )
        }
        Err(e) => tracing::error!(error = %e, "could not take over interrupted rotations"),
    }
    let interrupted = keyward.fail_interrupted_sync_jobs().await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "marked synchronization jobs interrupted by the last shutdown as failed"
        );
    }
    let state = AppState {
        keyward,
        metrics: telemetry::install_metrics(),
        max_body_bytes: settings.max_body_bytes as usize,
    };
    Ok((state, store, audit_keys.signer))
}

pub fn router(state: AppState) -> axum::Router {
    let limit = state.max_body_bytes;
    let app = crate::guard::harden(
        routes::router()
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::idempotency::layer,
            ))
            .layer(DefaultBodyLimit::max(limit)),
    )
    .layer(middleware::from_fn(telemetry::track))
    .layer(middleware::from_fn(request_id::assign))
    .with_state(state);
    // Outside the router, so that the path is trimmed before it is routed.
    axum::Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn(trim_trailing_slash))
}

/// `/api/v1/<path>/` is routed as `/api/v1/<path>` (the query kept): Go clients of CipherTrust
/// (Thales' Terraform provider) list with `.../connections/?skip=0&limit=256`. Only API paths:
/// the Swagger UI lives at `/api/docs/`.
async fn trim_trailing_slash(
    mut req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    if path.len() > "/api/v1/".len() && path.starts_with("/api/v1/") && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    next.run(req).await
}

/// The scheduler: every `every`, claims the job runs that are due (and those a stopped node
/// left) and runs them in the background.
fn spawn_scheduler(keyward: Arc<Keyward>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = keyward.scheduler_tick_and_run().await {
                tracing::error!(error = %e, "scheduler pass failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings) -> Result<(), ServeError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    crate::guard::install_panic_hook();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (state, store, signer) = build_parts(&settings, Arc::clone(&clock)).await?;
    let checkpoints = Arc::new(crate::audit_checkpoints::Checkpointer::new(
        Arc::clone(&store),
        signer,
        clock,
        (!settings.audit_checkpoint_file.is_empty())
            .then(|| PathBuf::from(&settings.audit_checkpoint_file)),
    ));
    if !settings.audit_checkpoint_file.is_empty()
        && Path::new(&settings.audit_checkpoint_file).starts_with(settings.data_dir())
    {
        tracing::warn!(
            file = %settings.audit_checkpoint_file,
            "audit_checkpoint_file is inside data_dir: whoever can rewrite the database can rewrite it too"
        );
    }
    tracing::info!(
        public_key = %checkpoints.public_key_hex(),
        "audit checkpoints are signed with this Ed25519 key (derived from the root key)"
    );
    checkpoints.write("start", false).await;
    if settings.audit_checkpoint_secs > 0 {
        checkpoints.spawn_periodic(Duration::from_secs(settings.audit_checkpoint_secs as u64));
    }
    let state_keyward = Arc::clone(&state.keyward);
    let (cert, key) = if settings.tls_cert.is_empty() {
        tls::ensure_self_signed(&settings.data_dir())?
    } else {
        (
            PathBuf::from(&settings.tls_cert),
            PathBuf::from(&settings.tls_key),
        )
    };
    let tls_config = tls::server_config(&cert, &key)?;
    let tcp = TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| ServeError::Listen {
            addr: settings.listen.clone(),
            message: e.to_string(),
        })?;
    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let stop_accepting = async move {
        let _ = stopping_rx.wait_for(|s| *s).await;
    };
    let listener =
        tls::TlsListener::new(tcp, tls_config, stop_accepting).map_err(|e| ServeError::Listen {
            addr: settings.listen.clone(),
            message: e.to_string(),
        })?;
    let addr = axum::serve::Listener::local_addr(&listener).map_err(|e| ServeError::Listen {
        addr: settings.listen.clone(),
        message: e.to_string(),
    })?;
    tracing::info!(%addr, cert = %cert.display(), "keyward is serving HTTPS");
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "keyward listening on https://{addr}");
        let _ = out.flush();
    }
    if settings.scheduler_tick_secs > 0 {
        spawn_scheduler(
            state_keyward,
            Duration::from_secs(settings.scheduler_tick_secs as u64),
        );
    }
    let grace = Duration::from_secs(settings.shutdown_grace_secs.max(0) as u64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state).into_make_service_with_connect_info::<tls::Peer>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(true);
        let _ = stop_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    // Wait for the server; after a shutdown signal, give in-flight requests `grace` to finish.
    let mut server = server;
    tokio::select! {
        r = &mut server => { let _ = r; }
        _ = async {
            let _ = stop_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("in-flight requests did not finish within shutdown_grace_secs; stopping");
            server.abort();
        }
    }
    checkpoints.write("shutdown", false).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
