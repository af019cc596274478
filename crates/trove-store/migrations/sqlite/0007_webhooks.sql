-- GitHub webhook deliveries that reached dispatch, keyed by `X-GitHub-Delivery`: a redelivery
-- reuses the id, so the primary key is what makes a replay or a manual redelivery do no new work.
-- Rows are pruned once older than the retention (at least 7 days: GitHub lets a delivery be
-- redelivered for 3 days on github.com and 7 on GHES), so the table does not grow forever.
CREATE TABLE webhook_deliveries (
    delivery_id      TEXT PRIMARY KEY,
    event            TEXT NOT NULL,
    action           TEXT,
    installation_id  BIGINT,
    repository_id    BIGINT,
    -- `queued` (reconciles enqueued), `applied` (a lifecycle change) or `ignored` (see reason);
    -- `received` only inside the transaction that records it and acts on it.
    outcome          TEXT NOT NULL CHECK (outcome IN ('received', 'queued', 'applied', 'ignored')),
    reason           TEXT,
    received_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);
