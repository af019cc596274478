//! PostgreSQL `LISTEN trove_jobs`: wakes an idle worker as soon as a job is enqueued.
//!
//! Only an optimisation: notifications are lost while the connection is down, and workers poll
//! anyway, so every failure here is logged and retried rather than reported.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::NOTIFY_CHANNEL;

/// How long to wait before listening again after the connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// Listens until `stop` is cancelled, calling `wake.notify_one()` for every notification.
pub(crate) async fn listen(pool: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        match connect(&pool).await {
            Ok(mut listener) => loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    received = listener.try_recv() => match received {
                        Ok(Some(_)) => wake.notify_one(),
                        // The connection dropped; notifications sent meanwhile are lost, so poll once.
                        Ok(None) => wake.notify_one(),
                        Err(error) => {
                            tracing::warn!(%error, "job listener failed; relying on polling until it reconnects");
                            break;
                        }
                    },
                }
            },
            Err(error) => {
                tracing::warn!(%error, "cannot listen for job notifications; relying on polling");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    Ok(listener)
}
