-- Each row records which version of its event type's schema wrote its datum (1-based, in the
-- order of schemas/avro/<topic>/<Event>.v<N>.avsc), so that the relay frames it with that
-- schema's registry id. During a rolling upgrade that adds a version, replicas of both builds
-- write rows and any of them may be the relay: a v1 datum must never go out under v2's id.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS schema_version INT;

-- Replicas older than this column wrote the newest schema of their build, which for rows
-- written until now is: OrderPlaced v2, every other event v1. The relay reads a missing version
-- through this function, so rows of such replicas need no trigger on the insert path.
CREATE OR REPLACE FUNCTION outbox_legacy_schema_version(event_type TEXT) RETURNS INT
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE event_type WHEN 'orderflow.orders.OrderPlaced' THEN 2 ELSE 1 END
$$;
