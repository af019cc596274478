-- GitHub App install states (`install/start`): the nonce of every signed state, so a state
-- completes an installation once. Completing sets `used_at` in one conditional UPDATE (unused and
-- unexpired), so two concurrent completions of one state cannot both pass. Rows are pruned a while
-- after they expire.
CREATE TABLE github_install_states (
    nonce       TEXT PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX github_install_states_expires_idx ON github_install_states (expires_at);
