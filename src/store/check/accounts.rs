//! Accounts and tokens: every record decodes and every token belongs to an account.

use std::collections::HashSet;

use super::CheckReport;
use crate::error::Result;
use crate::store::{Store, TokenRecord, UserRecord};

impl Store {
    /// Checks users and tokens; answers the usernames.
    pub(super) fn check_accounts(&self, r: &mut CheckReport) -> Result<HashSet<String>> {
        let mut users = HashSet::new();
        for kv in self.users.iter() {
            let (k, v) = kv?;
            if r.decoded::<UserRecord>("username_user", &k, &v).is_some() {
                users.insert(String::from_utf8_lossy(&k).into_owned());
            }
        }
        r.stats.users = users.len() as u64;
        for kv in self.tokens.iter() {
            let (k, v) = kv?;
            if let Some(t) = r.decoded::<TokenRecord>("tokenhash_token", &k, &v) {
                if !users.contains(&t.user) {
                    r.problem(
                        "token",
                        format!("a token of {:?}, who has no account", t.user),
                    );
                }
            }
        }
        Ok(users)
    }
}
