//! Signed checkpoints of the audit chain's head, kept where the database cannot rewrite them:
//! the server log (at start, every `audit_checkpoint_secs` when the trail has grown, and at
//! shutdown) and, when `audit_checkpoint_file` is set, one line each appended to that file.
//! `keyward admin verify-audit --expect-head <checkpoint>` then finds a trail that was cut
//! below a checkpoint or rewritten, even if the rewrite left a self-consistent chain.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyward_core::CoreError;
use keyward_core::audit::{Checkpoint, SignedCheckpoint};
use keyward_core::ports::Clock;
use keyward_crypto::CheckpointSigner;
use keyward_store::SqliteStore;
use tokio::sync::Mutex;

/// The current head of `store`'s chain, signed (None while the trail is empty).
pub async fn current(
    store: &SqliteStore,
    signer: &CheckpointSigner,
    clock: &dyn Clock,
) -> Result<Option<SignedCheckpoint>, CoreError> {
    Ok(store.audit_head().await?.map(|(seq, head)| {
        signer.sign(Checkpoint {
            seq,
            head,
            at: clock.now().timestamp(),
        })
    }))
}

pub struct Checkpointer {
    store: Arc<SqliteStore>,
    signer: CheckpointSigner,
    clock: Arc<dyn Clock>,
    file: Option<PathBuf>,
    /// The head of the last checkpoint written.
    last: Mutex<Option<i64>>,
}

impl Checkpointer {
    pub fn new(
        store: Arc<SqliteStore>,
        signer: CheckpointSigner,
        clock: Arc<dyn Clock>,
        file: Option<PathBuf>,
    ) -> Self {
        Self {
            store,
            signer,
            clock,
            file,
            last: Mutex::new(None),
        }
    }

    pub fn public_key_hex(&self) -> String {
        self.signer.public_key_hex()
    }

    /// Writes a checkpoint of the current head (`reason`: start, periodic, shutdown); with
    /// `only_if_grown`, only when the trail has grown since the last one. Failures are logged:
    /// a checkpoint that cannot be written must not stop the server.
    pub async fn write(&self, reason: &str, only_if_grown: bool) {
        let mut last = self.last.lock().await;
        let cp = match current(&self.store, &self.signer, self.clock.as_ref()).await {
            Ok(Some(cp)) => cp,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, reason, "could not read the audit head for a checkpoint");
                return;
            }
        };
        if only_if_grown && *last == Some(cp.checkpoint.seq) {
            return;
        }
        let token = cp.to_token();
        tracing::info!(
            target: "keyward::audit_checkpoint",
            checkpoint = %token,
            seq = cp.checkpoint.seq,
            reason,
            "audit checkpoint"
        );
        if let Some(path) = &self.file {
            let line = format!("{token}\n");
            let path = path.clone();
            let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o640)
                    .open(&path)?;
                f.write_all(line.as_bytes())?;
                f.sync_all()
            })
            .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, file = ?self.file, "could not append the audit checkpoint to audit_checkpoint_file")
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit checkpoint file task failed")
                }
            }
        }
        *last = Some(cp.checkpoint.seq);
    }

    /// Every `every`, a checkpoint if the trail has grown.
    pub fn spawn_periodic(self: &Arc<Self>, every: Duration) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                me.write("periodic", true).await;
            }
        });
    }
}
