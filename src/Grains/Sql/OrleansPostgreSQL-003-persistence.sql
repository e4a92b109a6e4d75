-- Orleans ADO.NET providers, part 3 of 4: grain state (AddAdoNetGrainStorage, e.g. the "jobs" storage).
-- A grain's state is one row, found by its hashes first (the provider computes grain_id_hash and grain_type_hash)
-- and then by the exact key. version is the state's ETag: a write or clear succeeds only when the caller holds the
-- current version, and answers the new one; a stale caller gets NULL or no row, which the provider turns into an
-- InconsistentStateException, so two activations of one grain cannot overwrite each other.
-- grain_id_extension is NULL for keys without an extension; the unique index compares it through md5 so long
-- string keys still fit a btree entry.
CREATE TABLE IF NOT EXISTS orleans_storage (
    service_id          text NOT NULL,
    grain_type_hash     integer NOT NULL,
    grain_type          text NOT NULL,
    grain_id_hash       integer NOT NULL,
    grain_id_n0         bigint NOT NULL,
    grain_id_n1         bigint NOT NULL,
    grain_id_extension  text,
    payload_binary      bytea,
    modified_on         timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orleans_storage_key ON orleans_storage
    (grain_id_hash, grain_type_hash, service_id, grain_type, grain_id_n0, grain_id_n1, (coalesce(md5(grain_id_extension), 'none')));

INSERT INTO orleansquery (querykey, querytext) VALUES
('ReadFromStorageKey', $q$
SELECT payload_binary AS PayloadBinary, version AS Version
FROM orleans_storage
WHERE grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash AND service_id = @ServiceId
  AND grain_type = @GrainTypeString AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
  AND coalesce(md5(grain_id_extension), 'none') = coalesce(md5(@GrainIdExtensionString::text), 'none')
  AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString::text
$q$),
-- No version: the first write, which inserts version 1 unless a row exists already (then NULL: a stale caller).
-- A version: an update of exactly that version.
('WriteToStorageKey', $q$
WITH updated AS (
    UPDATE orleans_storage
    SET payload_binary = @PayloadBinary, version = version + 1, modified_on = now()
    WHERE @GrainStateVersion::integer IS NOT NULL AND version = @GrainStateVersion::integer
      AND grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash AND service_id = @ServiceId
      AND grain_type = @GrainTypeString AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
      AND coalesce(md5(grain_id_extension), 'none') = coalesce(md5(@GrainIdExtensionString::text), 'none')
      AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString::text
    RETURNING version
), inserted AS (
    INSERT INTO orleans_storage (service_id, grain_type_hash, grain_type, grain_id_hash, grain_id_n0, grain_id_n1, grain_id_extension, payload_binary, version)
    SELECT @ServiceId, @GrainTypeHash, @GrainTypeString, @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainIdExtensionString::text, @PayloadBinary, 1
    WHERE @GrainStateVersion::integer IS NULL
    ON CONFLICT DO NOTHING
    RETURNING version
)
SELECT coalesce((SELECT version FROM updated), (SELECT version FROM inserted)) AS NewGrainStateVersion
$q$),
-- Clearing keeps the row (payload NULL) so the version keeps counting and a stale writer stays stale.
('ClearStorageKey', $q$
UPDATE orleans_storage
SET payload_binary = NULL, version = version + 1, modified_on = now()
WHERE version = @GrainStateVersion::integer
  AND grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash AND service_id = @ServiceId
  AND grain_type = @GrainTypeString AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
  AND coalesce(md5(grain_id_extension), 'none') = coalesce(md5(@GrainIdExtensionString::text), 'none')
  AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString::text
RETURNING version
$q$),
-- Only with DeleteStateOnClear: removes the row and answers version + 1, as the provider expects.
('DeleteStorageKey', $q$
DELETE FROM orleans_storage
WHERE version = @GrainStateVersion::integer
  AND grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash AND service_id = @ServiceId
  AND grain_type = @GrainTypeString AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
  AND coalesce(md5(grain_id_extension), 'none') = coalesce(md5(@GrainIdExtensionString::text), 'none')
  AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString::text
RETURNING version + 1
$q$)
ON CONFLICT (querykey) DO UPDATE SET querytext = EXCLUDED.querytext;
