use std::sync::Arc;

use keyward_core::Keyward;
use metrics_exporter_prometheus::PrometheusHandle;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub keyward: Arc<Keyward>,
    pub metrics: PrometheusHandle,
    pub max_body_bytes: usize,
}
