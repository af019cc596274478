-- The reconcile reads every plugin's `applied` fingerprint of a target on each run. The column sits
-- after the large `candidate` text, so reading it from the table means reading each candidate too;
-- this index answers the query on its own.
CREATE INDEX connector_plugin_discoveries_applied
    ON connector_plugin_discoveries (target_id, plugin_key, applied);
