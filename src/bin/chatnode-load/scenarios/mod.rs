//! One module per scenario; each returns rows for the report.

pub mod ceilings;
pub mod connect;
pub mod drain;
pub mod fanout;
pub mod history;
pub mod pairs;
pub mod soak;

use std::future::Future;

use futures_util::{stream, StreamExt};

use crate::users::User;
use crate::ws::{Target, Ws};
use crate::Res;

/// Runs `f` over `items` with at most `concurrency` at once; results in order.
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, concurrency: usize, f: F) -> Res<Vec<R>>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Res<R>>,
{
    let results: Vec<Res<R>> = stream::iter(items)
        .map(f)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Opens one authenticated socket per user (64 handshakes at once).
pub async fn connect_all(target: &Target, users: &[User]) -> Res<Vec<Ws>> {
    let sockets = bounded(users.to_vec(), 64, |u| async move {
        target.open_authed(&u.token).await.map(|(ws, _, _)| ws)
    })
    .await?;
    Ok(sockets)
}
