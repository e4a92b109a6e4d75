-- The Orleans silo that holds each lease (its SiloAddress in parsable form), so that when the cluster declares a worker
-- silo dead its shards are requeued at once instead of waiting for the lease to run out. NULL for leases taken by a
-- worker before this version (they still expire as before).
ALTER TABLE shards ADD COLUMN lease_silo text;
CREATE INDEX shards_lease_silo ON shards (lease_silo) WHERE state = 'leased';
