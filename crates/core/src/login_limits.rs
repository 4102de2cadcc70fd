//! The rules that limit password guessing, as pure functions over stored counters. The store
//! applies them atomically (the counters are read and written in one transaction that holds the
//! write lock), so concurrent attempts cannot overwrite each other's counts.
//!
//! Two limits, both counted *before* the password is checked:
//! - per user: after `slowdown_after` consecutive failures each attempt waits 1, 2, 4 … 60 s
//!   after the previous one; at `lock_after` the user is locked for `lock_secs`. Failures are
//!   forgotten `lock_secs` after the last one.
//! - per client address (the TCP peer): a budget of `source_burst` password checks that failed,
//!   refilled one every `source_interval_secs` (GCRA). With `source_burst < lock_after` and
//!   `source_interval_secs > lock_secs` one address alone can never lock a user: its failures
//!   are forgotten before it may try again.

use chrono::{DateTime, Duration, Utc};

use crate::error::CoreError;

/// The longest wait imposed between two failed attempts before the lock.
pub const MAX_SLOWDOWN_SECS: i64 = 60;

/// The failed-login counters of one user, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginCounters {
    pub failed_logins: i64,
    pub last_failed_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The failed-login budget of one client address: its theoretical arrival time (GCRA). The
/// budget is full when `tat` is absent or in the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceBudget {
    pub tat: Option<DateTime<Utc>>,
}

/// Why an attempt was refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// The client address used up its budget of failed logins.
    SourceLimit,
    /// Too many password checks are running or waiting on this server.
    Busy,
    /// The user must wait after recent failures.
    SlowDown,
    /// The user is locked.
    Locked,
}

impl LoginRefusal {
    pub const ALL: [LoginRefusal; 4] = [
        LoginRefusal::SourceLimit,
        LoginRefusal::Busy,
        LoginRefusal::SlowDown,
        LoginRefusal::Locked,
    ];

    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::SourceLimit => "source_limit",
            LoginRefusal::Busy => "busy",
            LoginRefusal::SlowDown => "slow_down",
            LoginRefusal::Locked => "locked",
        }
    }
}

/// An attempt refused: what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub refusal: LoginRefusal,
    pub retry_after_secs: u64,
    pub message: String,
}

impl From<Refused> for CoreError {
    fn from(r: Refused) -> Self {
        CoreError::TooManyAttempts {
            message: r.message,
            retry_after_secs: r.retry_after_secs,
        }
    }
}

/// The limits, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    pub slowdown_after: i64,
    pub lock_after: i64,
    pub lock_secs: i64,
    pub source_burst: i64,
    pub source_interval_secs: i64,
}

/// Whole seconds from `now` until `then`, at least 1.
fn secs_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    u64::try_from((then - now).num_seconds())
        .unwrap_or(0)
        .max(1)
}

fn add_secs(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    Duration::try_seconds(secs)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl LoginPolicy {
    /// Counts one attempt against a user before the password is checked. Returns the counters
    /// to store, or why the attempt may not be checked at all (nothing is counted then).
    pub fn admit_user(
        &self,
        username: &str,
        stored: LoginCounters,
        now: DateTime<Utc>,
    ) -> Result<LoginCounters, Refused> {
        if let Some(until) = stored.locked_until
            && until > now
        {
            let secs = secs_until(now, until);
            return Err(Refused {
                refusal: LoginRefusal::Locked,
                retry_after_secs: secs,
                message: format!(
                    "user {username} is locked after {} failed logins; try again in {secs} s or ask an admin to reset the password",
                    stored.failed_logins
                ),
            });
        }
        // Failures are forgotten lock_secs after the last one (and so once a lock has ended).
        let mut failed = stored.failed_logins.max(0);
        let last = stored.last_failed_at;
        if let Some(last) = last
            && add_secs(last, self.lock_secs.max(0)) <= now
        {
            failed = 0;
        }
        if failed > 0
            && let Some(last) = last
        {
            let over = failed.saturating_sub(self.slowdown_after.max(0));
            if failed >= self.slowdown_after.max(0) {
                let wait = (1i64 << over.clamp(0, 6)).min(MAX_SLOWDOWN_SECS);
                let ready = add_secs(last, wait);
                if ready > now {
                    let secs = secs_until(now, ready);
                    return Err(Refused {
                        refusal: LoginRefusal::SlowDown,
                        retry_after_secs: secs,
                        message: format!(
                            "too many failed logins for user {username}; try again in {secs} s"
                        ),
                    });
                }
            }
        }
        let failed = failed.saturating_add(1);
        let locked_until = if failed >= self.lock_after.max(1) {
            Some(add_secs(now, self.lock_secs.max(0)))
        } else {
            None
        };
        Ok(LoginCounters {
            failed_logins: failed,
            last_failed_at: Some(now),
            locked_until,
        })
    }

    fn source_interval(&self) -> i64 {
        self.source_interval_secs.max(0)
    }

    /// Takes one failed-login token from a client address's budget.
    pub fn admit_source(
        &self,
        stored: SourceBudget,
        now: DateTime<Utc>,
    ) -> Result<SourceBudget, Refused> {
        let tat = stored.tat.filter(|t| *t > now).unwrap_or(now);
        // The budget allows `burst` tokens: refuse when tat is more than (burst-1) intervals
        // ahead of now.
        let tolerance = self
            .source_interval()
            .saturating_mul(self.source_burst.max(1).saturating_sub(1));
        let earliest = add_secs(tat, tolerance.saturating_neg());
        if earliest > now {
            let secs = secs_until(now, earliest);
            return Err(Refused {
                refusal: LoginRefusal::SourceLimit,
                retry_after_secs: secs,
                message: format!("too many failed logins from this address; try again in {secs} s"),
            });
        }
        Ok(SourceBudget {
            tat: Some(add_secs(tat, self.source_interval())),
        })
    }

    /// Gives a token back (the attempt succeeded, or was not checked after all).
    pub fn refund_source(&self, stored: SourceBudget, now: DateTime<Utc>) -> SourceBudget {
        match stored.tat {
            Some(t) if t > now => {
                let back = add_secs(t, self.source_interval().saturating_neg());
                SourceBudget {
                    tat: (back > now).then_some(back),
                }
            }
            _ => SourceBudget { tat: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> LoginPolicy {
        LoginPolicy {
            slowdown_after: 3,
            lock_after: 10,
            lock_secs: 900,
            source_burst: 5,
            source_interval_secs: 1200,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn attempts_before_the_slowdown_pass_at_once_then_each_waits() {
        let p = policy();
        let mut c = LoginCounters::default();
        for i in 1..=3 {
            c = p.admit_user("u", c, t0()).unwrap();
            assert_eq!(c.failed_logins, i);
        }
        // The fourth at the same instant must wait 1 s.
        let r = p.admit_user("u", c, t0()).unwrap_err();
        assert_eq!(r.refusal, LoginRefusal::SlowDown);
        assert_eq!(r.retry_after_secs, 1);
        let c = p.admit_user("u", c, t0() + Duration::seconds(1)).unwrap();
        assert_eq!(c.failed_logins, 4);
        // Then 2 s.
        let r = p
            .admit_user("u", c, t0() + Duration::seconds(2))
            .unwrap_err();
        assert_eq!(r.retry_after_secs, 1);
        assert!(p.admit_user("u", c, t0() + Duration::seconds(3)).is_ok());
    }

    #[test]
    fn the_lock_is_set_when_the_last_allowed_attempt_is_counted() {
        let p = policy();
        let mut c = LoginCounters::default();
        let mut now = t0();
        for _ in 0..10 {
            now += Duration::seconds(61);
            c = p.admit_user("u", c, now).unwrap();
        }
        assert_eq!(c.failed_logins, 10);
        assert_eq!(c.locked_until, Some(now + Duration::seconds(900)));
        let r = p
            .admit_user("u", c, now + Duration::seconds(100))
            .unwrap_err();
        assert_eq!(r.refusal, LoginRefusal::Locked);
        assert_eq!(r.retry_after_secs, 800);
        // Once the lock ends, the failures are forgotten.
        let c = p.admit_user("u", c, now + Duration::seconds(900)).unwrap();
        assert_eq!(c.failed_logins, 1);
        assert_eq!(c.locked_until, None);
    }

    #[test]
    fn a_source_gets_its_burst_then_one_attempt_per_interval() {
        let p = policy();
        let mut b = SourceBudget::default();
        for _ in 0..5 {
            b = p.admit_source(b, t0()).unwrap();
        }
        let r = p.admit_source(b, t0()).unwrap_err();
        assert_eq!(r.refusal, LoginRefusal::SourceLimit);
        assert_eq!(r.retry_after_secs, 1200);
        assert!(p.admit_source(b, t0() + Duration::seconds(1199)).is_err());
        let b = p.admit_source(b, t0() + Duration::seconds(1200)).unwrap();
        assert!(p.admit_source(b, t0() + Duration::seconds(1200)).is_err());
    }

    #[test]
    fn a_refund_gives_the_token_back() {
        let p = policy();
        let mut b = SourceBudget::default();
        for _ in 0..5 {
            b = p.admit_source(b, t0()).unwrap();
            b = p.refund_source(b, t0());
        }
        assert_eq!(b, SourceBudget { tat: None });
        for _ in 0..5 {
            b = p.admit_source(b, t0()).unwrap();
        }
        b = p.refund_source(b, t0());
        assert!(p.admit_source(b, t0()).is_ok());
    }

    /// One address alone, trying as fast as its budget allows, never locks a user: its
    /// failures are forgotten before its budget lets it try again.
    #[test]
    fn one_source_alone_never_locks_a_user() {
        let p = policy();
        let mut user = LoginCounters::default();
        let mut source = SourceBudget::default();
        let mut now = t0();
        for _ in 0..2000 {
            if let Ok(b) = p.admit_source(source, now) {
                match p.admit_user("admin", user, now) {
                    Ok(c) => {
                        source = b;
                        user = c;
                    }
                    Err(r) => assert_ne!(r.refusal, LoginRefusal::Locked),
                }
            }
            assert!(user.failed_logins < p.lock_after, "{user:?}");
            now += Duration::seconds(7);
        }
    }

    #[test]
    fn extreme_settings_and_times_do_not_panic() {
        let p = LoginPolicy {
            slowdown_after: i64::MAX,
            lock_after: i64::MAX,
            lock_secs: i64::MAX,
            source_burst: i64::MAX,
            source_interval_secs: i64::MAX,
        };
        let far = DateTime::<Utc>::MAX_UTC;
        let c = LoginCounters {
            failed_logins: i64::MAX,
            last_failed_at: Some(far),
            locked_until: None,
        };
        let _ = p.admit_user("u", c, far);
        let _ = p.admit_user("u", c, DateTime::<Utc>::MIN_UTC);
        let _ = p.admit_source(SourceBudget { tat: Some(far) }, t0());
        let _ = p.refund_source(SourceBudget { tat: Some(far) }, t0());
        let zero = LoginPolicy {
            slowdown_after: 0,
            lock_after: 0,
            lock_secs: 0,
            source_burst: 0,
            source_interval_secs: 0,
        };
        assert!(zero.admit_user("u", LoginCounters::default(), t0()).is_ok());
        assert!(zero.admit_source(SourceBudget::default(), t0()).is_ok());
    }
}
