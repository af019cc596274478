-- The git object ids a binding's content was read from, digested: a later reconcile that computes
-- the same digest from the new commit's listing knows the component is unchanged without reading
-- or re-hashing its files. NULL (bindings written before this column, or sources without object
-- ids) means "unknown": the files are read and compared by content hash as before.
ALTER TABLE source_bindings ADD COLUMN source_digest TEXT;
