-- Every statement that inserts jobs wakes the workers listening on `trove_jobs` when its
-- transaction commits, whichever code path enqueued them: an enqueue costs no extra round trip
-- to notify. A statement whose rows all coalesced into queued twins wakes them for nothing, which
-- costs one empty claim.
CREATE FUNCTION trove_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('trove_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION trove_jobs_notify();
