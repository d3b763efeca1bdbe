//! Rate limits past their budget: `rate_limited` answers, strikes, and the flood close
//! (4008) once every conversation the socket sent to has answered what it sent.

use std::time::Duration;

use actix::AsyncContext;

use super::{Ctx, Session};
use crate::error::Error;
use crate::metrics::inc;

/// Longest a flooding socket is kept, reading nothing more, before its 4008 close. It
/// closes as soon as every conversation it sent to has answered what it sent (so a
/// client that counts acks against the history finds every stored message acked);
/// this bounds the wait if a commit stalls.
const FLOOD_GRACE: Duration = Duration::from_secs(5);

impl Session {
    /// Answers `rate_limited` for the frame with `reference`; past twice the message
    /// rate (at least 20) of those in a second, the socket is closed for flooding.
    pub(super) fn rate_limited(&mut self, ctx: &mut Ctx, reference: String) {
        inc(&self.env.metrics.rate_limited);
        self.error(ctx, &Error::RateLimited, Some(reference));
        let now = crate::clock::mono_ms();
        if now.saturating_sub(self.strike_window) > 1000 {
            self.strike_window = now;
            self.strikes = 0;
        }
        self.strikes += 1;
        if self.strikes
            > self
                .env
                .settings
                .limits
                .messages_per_sec
                .saturating_mul(2)
                .max(20)
        {
            self.close_for_flooding(ctx);
        }
    }

    /// Stops reading the socket's frames and closes it with 4008 once every conversation
    /// it sent to has answered (a settle barrier), or after [`FLOOD_GRACE`].
    fn close_for_flooding(&mut self, ctx: &mut Ctx) {
        if self.closing {
            return;
        }
        self.closing = true;
        let token = self.settle(ctx);
        self.flood_barrier = Some(token);
        if self.barriers.done(token) {
            return self.close(ctx, 4008, "rate limited");
        }
        ctx.run_later(FLOOD_GRACE, |act, ctx| act.close(ctx, 4008, "rate limited"));
    }

    /// A barrier was answered: closes a flooding socket once its barrier is.
    pub(super) fn flood_settled(&mut self, ctx: &mut Ctx) {
        if let Some(token) = self.flood_barrier {
            if self.closing && self.barriers.done(token) {
                self.flood_barrier = None;
                self.close(ctx, 4008, "rate limited");
            }
        }
    }
}
