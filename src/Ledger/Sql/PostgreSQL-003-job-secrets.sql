-- The secret part of a job's addresses (the query of an http(s) source, output or model: a SAS token), kept apart
-- from the jobs row. jobs.source/output/model/spec hold the address with sig=REDACTED; the silo's background work and
-- workers join it with its secret here (PostgresLedger.GetJobForWorkAsync); the HTTP API and the dashboard never read
-- this table. field: source | output | model
CREATE TABLE job_secrets (
    job_id  text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    field   text NOT NULL CHECK (field IN ('source', 'output', 'model')),
    secret  text NOT NULL,
    PRIMARY KEY (job_id, field)
);

-- Jobs submitted before this migration: move their queries here and redact the rows, the same way AddressSecrets does.
INSERT INTO job_secrets (job_id, field, secret)
SELECT j.id, f.field, substr(f.address, strpos(f.address, '?') + 1)
FROM jobs j, LATERAL (VALUES ('source', j.source), ('output', j.output), ('model', j.model)) AS f(field, address)
WHERE f.address ~* '^https?://' AND strpos(f.address, '?') BETWEEN 1 AND length(f.address) - 1;

UPDATE jobs SET
    source = CASE WHEN source ~* '^https?://' AND strpos(source, '?') > 0
        THEN substr(source, 1, strpos(source, '?')) || regexp_replace(substr(source, strpos(source, '?') + 1), '(sig)=[^&;[:space:]''"\\]*', '\1=REDACTED', 'gi')
        ELSE source END,
    output = CASE WHEN output ~* '^https?://' AND strpos(output, '?') > 0
        THEN substr(output, 1, strpos(output, '?')) || regexp_replace(substr(output, strpos(output, '?') + 1), '(sig)=[^&;[:space:]''"\\]*', '\1=REDACTED', 'gi')
        ELSE output END,
    model = CASE WHEN model ~* '^https?://' AND strpos(model, '?') > 0
        THEN substr(model, 1, strpos(model, '?')) || regexp_replace(substr(model, strpos(model, '?') + 1), '(sig)=[^&;[:space:]''"\\]*', '\1=REDACTED', 'gi')
        ELSE model END,
    message = regexp_replace(message, '(sig)=[^&;[:space:]''"\\]*', '\1=REDACTED', 'gi');

UPDATE jobs SET spec = spec || jsonb_build_object('source', source, 'output', output, 'model', model);
