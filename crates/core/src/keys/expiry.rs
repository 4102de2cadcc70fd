//! The expiry watch: how many keys hold imported material that expires soon (for the
//! `keyward_byok_keys_expiring` metric; the list filter `expiring_within` shows them).

use chrono::Duration;

use super::KeyFilter;
use crate::error::CoreResult;
use crate::paging::ListQuery;
use crate::service::Keyward;

impl Keyward {
    /// The number of key records AWS still has whose imported material expires (or expired)
    /// within `window` from now: the same keys as `GET /cckm/aws/keys?expiring_within=..&gone=false`.
    /// One COUNT query; no key record is read.
    pub async fn count_keys_expiring_within(&self, window: Duration) -> CoreResult<i64> {
        let filter = KeyFilter {
            expiring_before: Some(crate::validate::add("expiring_within", self.now(), window)?),
            gone: Some(false),
            ..KeyFilter::default()
        };
        let query = ListQuery {
            skip: 0,
            limit: Some(0),
            sort: Vec::new(),
        };
        Ok(self.ports.store.list_keys(&filter, &query).await?.total)
    }
}
