//! When a job config is due: the latest time its cron expression matches that is after the
//! last time it fired and not after now, within its start and end dates. A schedule missed
//! while no node ran (for example over a restart) fires once, for its latest missed time.

use chrono::{DateTime, Utc};

use super::JobConfig;
use crate::error::CoreResult;

/// The scheduled time at which `config` should fire now, if any. `fired_after`: the time
/// after which it has not fired yet (its last scheduled run, or when it was last changed).
pub fn due_at(
    config: &JobConfig,
    fired_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CoreResult<Option<DateTime<Utc>>> {
    if config.disabled {
        return Ok(None);
    }
    let cron = super::cron("run_at", &config.run_at)?;
    let upper = match config.end_date {
        Some(end) if end < now => end,
        _ => now,
    };
    let Ok(at) = cron.find_previous_occurrence(&upper, true) else {
        return Ok(None);
    };
    if at <= fired_after {
        return Ok(None);
    }
    if let Some(start) = config.start_date
        && at < start
    {
        return Ok(None);
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{JobOperation, RotationParams};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn config(run_at: &str) -> JobConfig {
        JobConfig {
            id: "c".into(),
            name: "c".into(),
            description: String::new(),
            operation: JobOperation::KeyRotation,
            run_at: run_at.into(),
            run_on: "any".into(),
            disabled: false,
            start_date: None,
            end_date: None,
            rotation: Some(RotationParams::default()),
            sync: None,
            created_at: t("2026-01-01T00:00:00Z"),
            updated_at: t("2026-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn fires_once_at_the_latest_matching_time() {
        let c = config("0 9 * * sat");
        // Saturday 2026-11-28 09:00 UTC.
        let base = t("2026-11-27T00:00:00Z");
        assert_eq!(due_at(&c, base, t("2026-11-28T08:59:59Z")).unwrap(), None);
        assert_eq!(
            due_at(&c, base, t("2026-11-28T09:00:00Z")).unwrap(),
            Some(t("2026-11-28T09:00:00Z"))
        );
        assert_eq!(
            due_at(&c, base, t("2026-11-28T17:30:00Z")).unwrap(),
            Some(t("2026-11-28T09:00:00Z"))
        );
        // Once fired, not again until the next Saturday.
        let fired = t("2026-11-28T09:00:00Z");
        assert_eq!(due_at(&c, fired, t("2026-12-04T23:00:00Z")).unwrap(), None);
        assert_eq!(
            due_at(&c, fired, t("2026-12-05T09:00:10Z")).unwrap(),
            Some(t("2026-12-05T09:00:00Z"))
        );
        // Missed for three weeks: fires once, for the latest.
        assert_eq!(
            due_at(&c, fired, t("2026-12-20T00:00:00Z")).unwrap(),
            Some(t("2026-12-19T09:00:00Z"))
        );
    }

    #[test]
    fn honours_start_end_and_disabled() {
        let mut c = config("*/5 * * * *");
        let base = t("2026-11-27T10:00:00Z");
        let now = t("2026-11-27T10:07:00Z");
        assert_eq!(
            due_at(&c, base, now).unwrap(),
            Some(t("2026-11-27T10:05:00Z"))
        );
        c.start_date = Some(t("2026-11-27T10:06:00Z"));
        assert_eq!(due_at(&c, base, now).unwrap(), None);
        assert_eq!(
            due_at(&c, base, t("2026-11-27T10:10:01Z")).unwrap(),
            Some(t("2026-11-27T10:10:00Z"))
        );
        c.start_date = None;
        c.end_date = Some(t("2026-11-27T10:03:00Z"));
        assert_eq!(due_at(&c, base, now).unwrap(), None);
        c.end_date = Some(t("2026-11-27T10:06:00Z"));
        assert_eq!(
            due_at(&c, base, t("2026-11-27T11:00:00Z")).unwrap(),
            Some(t("2026-11-27T10:05:00Z"))
        );
        c.end_date = None;
        c.disabled = true;
        assert_eq!(due_at(&c, base, now).unwrap(), None);
    }
}
