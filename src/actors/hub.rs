//! The hub: finds the actor of a conversation, reviving it from the store when it is
//! not running, and lets idle ones stop.
//!
//! A revived actor reads its last seq back from the store, never from memory. An idle
//! actor asks to stop with the number of commands it handled; the hub agrees only if
//! that equals the number it forwarded, so no command is ever lost in a stopping mailbox.

use std::{collections::HashMap, sync::Arc};

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message};

use super::conversation::{Command, ConvCommand, Conversation, Idle, Stop};
use super::registry::Registry;
use crate::config::Settings;
use crate::error::Error;
use crate::store::Store;

struct Entry {
    addr: Addr<Conversation>,
    forwarded: u64,
}

/// Routes conversation commands.
pub struct Hub {
    store: Arc<Store>,
    registry: Addr<Registry>,
    settings: Arc<Settings>,
    convs: HashMap<u64, Entry>,
}

impl Hub {
    /// A hub with no running conversations.
    pub fn new(store: Arc<Store>, registry: Addr<Registry>, settings: Arc<Settings>) -> Self {
        Hub {
            store,
            registry,
            settings,
            convs: HashMap::new(),
        }
    }

    fn revive(&mut self, conv: u64, hub: Addr<Hub>) -> Result<&mut Entry, Error> {
        if !self.convs.contains_key(&conv) {
            let record = self
                .store
                .conversation(conv)?
                .ok_or(Error::NoSuchConversation)?;
            let last_seq = self.store.last_seq(conv)?;
            let actor = Conversation::new(
                conv,
                record,
                last_seq,
                self.store.clone(),
                self.registry.clone(),
                hub.recipient(),
                self.settings.clone(),
            );
            self.convs.insert(
                conv,
                Entry {
                    addr: actor.start(),
                    forwarded: 0,
                },
            );
        }
        self.convs
            .get_mut(&conv)
            .ok_or_else(|| Error::Internal("conversation entry vanished".into()))
    }
}

impl Actor for Hub {
    type Context = Context<Self>;
}

impl Handler<ConvCommand> for Hub {
    type Result = ();

    fn handle(&mut self, msg: ConvCommand, ctx: &mut Context<Self>) {
        match self.revive(msg.conv, ctx.address()) {
            Ok(entry) => {
                entry.forwarded += 1;
                entry.addr.do_send(msg);
            }
            Err(e) => msg.cmd.fail(e),
        }
    }
}

impl Handler<Idle> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Idle, _: &mut Context<Self>) {
        if let Some(entry) = self.convs.get(&msg.conv) {
            if entry.forwarded == msg.handled {
                entry.addr.do_send(Stop);
                self.convs.remove(&msg.conv);
            }
        }
    }
}

/// How many conversation actors run (for /metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ActiveCount;

impl Handler<ActiveCount> for Hub {
    type Result = usize;

    fn handle(&mut self, _: ActiveCount, _: &mut Context<Self>) -> usize {
        self.convs.len()
    }
}

impl Command {
    /// Answers the command's origin with `err` without running it.
    pub fn fail(self, err: Error) {
        match self {
            Command::ChangeMembers { reply, .. }
            | Command::Rename { reply, .. }
            | Command::SetAdmins { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Command::Post { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Command::Settle { session, token } => session.push(super::Push::Settled(token)),
            other => {
                if let Some((session, reference)) = other.origin() {
                    session.frame(
                        crate::protocol::ServerFrame::error(&err, Some(reference))
                            .to_json()
                            .into(),
                    );
                }
            }
        }
    }
}
