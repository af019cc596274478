-- Events are looked up by their job: the reconcile handler finds the events its job runs, and a
-- webhook push that coalesces into a queued job joins that job's event. Without an index each
-- lookup read every sync event ever recorded.
CREATE INDEX sync_events_job_idx ON sync_events (job_id);
