-- Why a config object version was made (the `reason` given by whoever wrote it), kept apart from
-- `source_revision`, which only ever holds the source commit of an imported version.
ALTER TABLE config_object_versions ADD COLUMN reason TEXT;
