//! The scheduler on an injected clock: configs fire at their cron times (and not outside their
//! start and end dates, nor while disabled), each scheduled time is claimed once among nodes
//! sharing one database, and a run whose node stopped is taken over once its lease expires.
//! Two nodes are two `Keyward`s built by the server's own `build_with_clock` on one SQLite
//! file, each on a clock of its own; no time passes for real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use keyward_api::scheduler::JobConfigCreate;
use keyward_core::Keyward;
use keyward_core::audit::Caller;
use keyward_core::ports::Clock;
use keyward_server::Settings;
use keyward_server::app::build_with_clock;
use serde_json::json;

struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn at(t: &str) -> Arc<Self> {
        Arc::new(Self(Mutex::new(time(t))))
    }

    fn set(&self, t: &str) {
        *self.0.lock().unwrap() = time(t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn time(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
}

/// A node on the data directory `dir`.
async fn node(dir: &std::path::Path, clock: Arc<ManualClock>) -> Arc<Keyward> {
    let settings = Settings {
        data_dir: dir.display().to_string(),
        scheduler_lease_secs: 60,
        ..Settings::default()
    };
    let (state, _store) = build_with_clock(&settings, clock).await.unwrap();
    state.keyward
}

async fn config(k: &Keyward, body: serde_json::Value) -> String {
    let req: JobConfigCreate = serde_json::from_value(body).unwrap();
    k.create_job_config(&Caller::system(), req)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn each_scheduled_time_fires_once_across_nodes_within_its_dates() {
    let dir = tempfile::tempdir().unwrap();
    // Friday 2026-11-27, noon.
    let clock_a = ManualClock::at("2026-11-27T12:00:00Z");
    let clock_b = ManualClock::at("2026-11-27T12:00:00Z");
    let a = node(dir.path(), clock_a.clone()).await;
    let b = node(dir.path(), clock_b.clone()).await;
    let weekly = config(
        &a,
        json!({"name": "weekly", "operation": "cckm_key_rotation", "run_at": "0 9 * * sat",
               "start_date": "2026-11-01T00:00:00Z", "end_date": "2026-12-10T00:00:00Z"}),
    )
    .await;
    config(
        &a,
        json!({"name": "off", "operation": "cckm_key_rotation", "run_at": "* * * * *", "disabled": true}),
    )
    .await;

    // Not yet Saturday 09:00.
    clock_a.set("2026-11-28T08:59:59Z");
    assert!(a.scheduler_tick().await.unwrap().is_empty());

    // Saturday 09:00:30: one node claims the run, the other finds it claimed.
    clock_a.set("2026-11-28T09:00:30Z");
    clock_b.set("2026-11-28T09:00:31Z");
    let claimed = a.scheduler_tick().await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(b.scheduler_tick().await.unwrap().is_empty());
    assert!(a.scheduler_tick().await.unwrap().is_empty());
    let run = a.execute_job_run(&claimed[0]).await.unwrap();
    assert_eq!(run.job_config_id, weekly);
    assert_eq!(run.trigger.as_str(), "schedule");
    assert_eq!(run.scheduled_for, Some(time("2026-11-28T09:00:00Z")));
    assert_eq!(run.status.as_str(), "completed", "{run:?}");
    assert_eq!(run.results, vec![]);
    assert_eq!(run.finished_at, Some(time("2026-11-28T09:00:30Z")));

    // Later that Saturday and during the week: nothing.
    clock_b.set("2026-12-04T23:00:00Z");
    assert!(b.scheduler_tick().await.unwrap().is_empty());
    // The next Saturday, node B claims it.
    clock_b.set("2026-12-05T09:00:10Z");
    let claimed_b = b.scheduler_tick().await.unwrap();
    assert_eq!(claimed_b.len(), 1);
    let run_b = b.execute_job_run(&claimed_b[0]).await.unwrap();
    assert_eq!(run_b.scheduled_for, Some(time("2026-12-05T09:00:00Z")));
    clock_a.set("2026-12-05T09:00:20Z");
    assert!(a.scheduler_tick().await.unwrap().is_empty());
    // After end_date: nothing more, though Saturdays come.
    clock_a.set("2026-12-12T09:00:00Z");
    assert!(a.scheduler_tick().await.unwrap().is_empty());
    clock_a.set("2027-01-02T09:30:00Z");
    assert!(a.scheduler_tick().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_run_whose_node_stopped_is_taken_over_after_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let clock_a = ManualClock::at("2026-11-27T12:00:00Z");
    let clock_b = ManualClock::at("2026-11-27T12:00:00Z");
    let a = node(dir.path(), clock_a.clone()).await;
    let b = node(dir.path(), clock_b.clone()).await;
    config(
        &a,
        json!({"name": "hourly", "operation": "cckm_key_rotation", "run_at": "0 * * * *"}),
    )
    .await;
    clock_a.set("2026-11-27T13:00:05Z");
    let claimed = a.scheduler_tick().await.unwrap();
    assert_eq!(claimed.len(), 1);
    // Node A stops before running it. Within the lease (60 s), B leaves it alone.
    clock_b.set("2026-11-27T13:00:50Z");
    assert!(b.scheduler_tick().await.unwrap().is_empty());
    // Once the lease has expired, B takes it over and runs it; A can no longer save it.
    clock_b.set("2026-11-27T13:01:30Z");
    assert_eq!(b.scheduler_tick().await.unwrap(), claimed);
    let run = b.execute_job_run(&claimed[0]).await.unwrap();
    assert_eq!(run.status.as_str(), "completed");
    assert!(a.execute_job_run(&claimed[0]).await.is_err());
    let stored = b.get_job_run(&Caller::system(), &claimed[0]).await.unwrap();
    assert_eq!(stored.status.as_str(), "completed");
    assert_eq!(stored.finished_at, Some(time("2026-11-27T13:01:30Z")));
}
