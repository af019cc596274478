-- PostgreSQL's 0011 makes inserting jobs wake the workers that LISTEN for them. SQLite has no
-- notifications (its workers poll), so there is nothing to change here; the version is kept so
-- both engines number their migrations alike.
SELECT 1;
