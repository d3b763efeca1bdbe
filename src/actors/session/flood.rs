//! Rate limits past their budget: `rate_limited` answers, strikes, and the flood close
//! (4008) once every conversation the socket sent to has answered what it sent.

use std::time::Duration;

use actix::AsyncContext;

use super::{Ctx, Session};
use crate::actors::conversation::{Command, ConvCommand};
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
    /// it sent to has answered (see [`Push::Settled`](crate::actors::Push::Settled)), or
    /// after [`FLOOD_GRACE`].
    fn close_for_flooding(&mut self, ctx: &mut Ctx) {
        if self.closing {
            return;
        }
        self.closing = true;
        let session = self.me(ctx);
        let asked = std::mem::take(&mut self.asked);
        if let Some(user) = self.user().map(str::to_owned) {
            self.unsettled = asked.len();
            for conv in asked {
                let session = session.clone();
                let cmd = Command::Settle { session };
                self.env.hub.do_send(ConvCommand {
                    conv,
                    user: user.clone(),
                    cmd,
                });
            }
        }
        if self.unsettled == 0 {
            return self.close(ctx, 4008, "rate limited");
        }
        ctx.run_later(FLOOD_GRACE, |act, ctx| act.close(ctx, 4008, "rate limited"));
    }

    /// One conversation answered everything this socket had sent it.
    pub(super) fn settled(&mut self, ctx: &mut Ctx) {
        self.unsettled = self.unsettled.saturating_sub(1);
        if self.closing && self.unsettled == 0 {
            self.close(ctx, 4008, "rate limited");
        }
    }
}
