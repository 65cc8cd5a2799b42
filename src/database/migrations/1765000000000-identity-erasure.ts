import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Erasure that keeps the suppression (README "Erasure"; the service side is src/erasure):
 * - identity_erasures: one row per erased identity of an app, by its keyed hash (the audit
 *   chain's identity_key: HMAC-SHA256 with the service's identity key), with the ERASURE audit
 *   record that did it. Append-only (reject_mutation).
 * - An erased identity is stored as `erased:<identity_key hex>` wherever it was stored in clear;
 *   consent_audit_identity_key() takes that form back to its key, so records written about it
 *   later (a STOP after the erasure) join the same keyed hash.
 * - consent_audit.reason_digest / evidence_digest: the SHA-256 of an erased record's reason and
 *   evidence, kept when the clear values are removed; the canonical encoding covers the digest
 *   (the stored one when there is one), so an erased record hashes to the same hash.
 * - The append-only guard of consent_audit now lets exactly one UPDATE through: an erasure of a
 *   record (identity replaced by its erased form, reason and evidence replaced by their digests,
 *   every other column unchanged; the evidence may stay, as the service's own structured evidence
 *   of an EVENT_TIME_REPAIRED record does). The same for send_attempts (identity only). DELETE and
 *   TRUNCATE stay refused.
 * - erased_identities(project, app, identities): which of these identities are erased in the app,
 *   with the form they are stored by; nothing (after one index probe) for an app with no
 *   erasure, so that the checks and changes of such an app pay nothing more. Every read and write
 *   by identity (checks, changes, lookups, send attempts) goes through it.
 * - The chain trigger refuses a record that names an erased identity in clear (SQLSTATE 40001,
 *   retried by the service): a change planned before an erasure committed and written after it
 *   (it takes the app's chain lock, which the erasure holds) is planned again by its erased form.
 */
/** consent_audit_identity_key(): with `erased`, an erased form is taken back to its key. */
const identityKey = (erased: boolean) => `
      CREATE OR REPLACE FUNCTION consent_audit_identity_key(identity text) RETURNS bytea
        LANGUAGE plpgsql AS $$
        DECLARE pads text := current_setting('consent_gate.identity_key_pads', true);
        BEGIN
          IF identity IS NULL THEN RETURN NULL; END IF;
          ${erased ? `IF left(identity, 7) = 'erased:' THEN RETURN decode(substr(identity, 8), 'hex'); END IF;` : ''}
          IF pads IS NULL OR pads = '' THEN
            SELECT value INTO pads FROM service_secrets WHERE name = 'audit_identity_key_pads';
            IF pads IS NULL THEN RAISE EXCEPTION 'service secret audit_identity_key_pads is missing'; END IF;
            PERFORM set_config('consent_gate.identity_key_pads', pads, true);
          END IF;
          RETURN sha256(decode(substr(pads, 129, 128), 'hex')
                        || sha256(decode(substr(pads, 1, 128), 'hex') || convert_to(identity, 'UTF8')));
        END $$`;

const canonical = (withDigests: boolean) => `
      CREATE OR REPLACE FUNCTION consent_audit_canonical(r consent_audit) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT json_build_array(
          'consent-gate-audit-v1', r.chain_seq::text, r.id::text, r.kind, r.project_id, r.app_id,
          encode(r.identity_key, 'hex'), r.list_type, r.origin, r.operation, r.outcome, r.actor,
          encode(${withDigests ? `coalesce(r.reason_digest, sha256(convert_to(r.reason, 'UTF8')))` : `sha256(convert_to(r.reason, 'UTF8'))`}, 'hex'),
          encode(${withDigests ? `coalesce(r.evidence_digest, sha256(convert_to(r.evidence::text, 'UTF8')))` : `sha256(convert_to(r.evidence::text, 'UTF8'))`}, 'hex'),
          r.batch_id,
          (extract(epoch FROM r.event_time) * 1000000)::bigint::text,
          (extract(epoch FROM r.recorded_at) * 1000000)::bigint::text,
          (extract(epoch FROM r.claimed_event_time) * 1000000)::bigint::text,
          r.import_id, r.source)::text
      $$`;

export const chainTrigger = (refuseErased: boolean) => `
      CREATE OR REPLACE FUNCTION consent_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          app text := NEW.project_id || '/' || NEW.app_id;
          head text := current_setting('consent_gate.audit_chain_head', true);
          prev_seq bigint;
          prev bytea;
        BEGIN
          IF head IS NOT NULL AND split_part(head, ' ', 1) = app THEN
            prev_seq := split_part(head, ' ', 2)::bigint;
            prev := decode(split_part(head, ' ', 3), 'hex');
          ELSE
            PERFORM pg_advisory_xact_lock(hashtext('consent_audit_chain'), hashtext(app));
            SELECT c.chain_seq, c.hash INTO prev_seq, prev FROM consent_audit c
             WHERE c.project_id = NEW.project_id AND c.app_id = NEW.app_id
             ORDER BY c.chain_seq DESC LIMIT 1;
            IF prev IS NULL THEN
              prev_seq := 0;
              prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
            END IF;
          END IF;
          NEW.identity_key := consent_audit_identity_key(NEW.identity);
          ${
            refuseErased
              ? `-- Read with a snapshot taken now, under the chain lock: an erasure of this app
          -- committed before this record's writer took the lock is seen.
          IF NEW.identity_key IS NOT NULL AND left(NEW.identity, 7) <> 'erased:' AND EXISTS (
               SELECT 1 FROM identity_erasures e
                WHERE e.project_id = NEW.project_id AND e.app_id = NEW.app_id
                  AND e.identity_key = NEW.identity_key) THEN
            RAISE EXCEPTION 'the identity of this record was erased meanwhile: plan it again'
              USING ERRCODE = '40001', HINT = 'consent-gate: erased identity';
          END IF;`
              : ''
          }
          NEW.chain_seq := prev_seq + 1;
          NEW.prev_hash := prev;
          NEW.hash := sha256(prev || convert_to(consent_audit_canonical(NEW), 'UTF8'));
          PERFORM set_config('consent_gate.audit_chain_head',
                             app || ' ' || NEW.chain_seq || ' ' || encode(NEW.hash, 'hex'), true);
          RETURN NEW;
        END $$`;

const AUDIT_KINDS_BEFORE = [
  'CONSENT_CHANGE',
  'DELIVERY_REFUSED',
  'REPLY_SENT',
  'REPLY_FAILED',
  'EVENT_TIME_REPAIRED',
  'REPLY_IN_DOUBT',
  'SETTINGS_CHANGE',
];

const kindCheck = (kinds: string[]) =>
  `ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_kind_check
     CHECK (kind IN (${kinds.map((k) => `'${k}'`).join(', ')}))`;

export class IdentityErasure1765000000000 implements MigrationInterface {
  name = 'IdentityErasure1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE identity_erasures (
        project_id      varchar(64) NOT NULL,
        app_id          varchar(64) NOT NULL,
        identity_key    bytea       NOT NULL,
        audit_record_id bigint      NOT NULL,
        erased_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT identity_erasures_pk PRIMARY KEY (project_id, app_id, identity_key)
      )`);
    await q.query(`
      CREATE TRIGGER identity_erasures_no_update_delete
        BEFORE UPDATE OR DELETE ON identity_erasures
        FOR EACH ROW EXECUTE FUNCTION reject_mutation()`);
    await q.query(`
      CREATE TRIGGER identity_erasures_no_truncate BEFORE TRUNCATE ON identity_erasures
        FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation()`);
    await q.query(`
      ALTER TABLE consent_audit
        ADD COLUMN reason_digest bytea NULL,
        ADD COLUMN evidence_digest bytea NULL`);
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(kindCheck([...AUDIT_KINDS_BEFORE, 'ERASURE']));
    await q.query(`
      CREATE FUNCTION erased_identities(p varchar, a varchar, identities varchar[])
        RETURNS TABLE (identity varchar, erased varchar) LANGUAGE plpgsql AS $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM identity_erasures e WHERE e.project_id = p AND e.app_id = a)
          THEN
            RETURN;
          END IF;
          RETURN QUERY
            SELECT k.identity, ('erased:' || encode(e.identity_key, 'hex'))::varchar
              FROM (SELECT u.identity, consent_audit_identity_key(u.identity) AS key
                      FROM (SELECT DISTINCT v AS identity FROM unnest(identities) v) u) k
              JOIN identity_erasures e
                ON e.project_id = p AND e.app_id = a AND e.identity_key = k.key;
        END $$`);
    await q.query(identityKey(true));
    await q.query(canonical(true));
    await q.query(chainTrigger(true));
    // The one UPDATE the trail allows: the erasure of a record (see the header).
    await q.query(`
      CREATE FUNCTION consent_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE'
             AND OLD.identity IS NOT NULL AND left(OLD.identity, 7) <> 'erased:'
             AND OLD.identity_key = consent_audit_identity_key(OLD.identity)
             AND NEW.identity = 'erased:' || encode(OLD.identity_key, 'hex')
             AND NEW.reason IS NULL
             AND NEW.reason_digest IS NOT DISTINCT FROM sha256(convert_to(OLD.reason, 'UTF8'))
             AND ((NEW.evidence IS NULL AND NEW.evidence_digest IS NOT DISTINCT FROM
                     sha256(convert_to(OLD.evidence::text, 'UTF8')))
                  OR (NEW.evidence IS NOT DISTINCT FROM OLD.evidence
                      AND NEW.evidence_digest IS NULL))
             AND to_jsonb(NEW) - 'identity' - 'reason' - 'evidence' - 'reason_digest'
                   - 'evidence_digest'
               = to_jsonb(OLD) - 'identity' - 'reason' - 'evidence' - 'reason_digest'
                   - 'evidence_digest'
          THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION '% is append-only: % is not allowed (only an erasure may replace an identity by its keyed hash)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$`);
    await q.query(`DROP TRIGGER consent_audit_no_update_delete ON consent_audit`);
    await q.query(`
      CREATE TRIGGER consent_audit_no_update_delete BEFORE UPDATE OR DELETE ON consent_audit
        FOR EACH ROW EXECUTE FUNCTION consent_audit_guard()`);
    await q.query(`
      CREATE FUNCTION send_attempts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE'
             AND left(OLD.identity, 7) <> 'erased:'
             AND NEW.identity = 'erased:' || encode(consent_audit_identity_key(OLD.identity), 'hex')
             AND to_jsonb(NEW) - 'identity' = to_jsonb(OLD) - 'identity'
          THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION '% is append-only: % is not allowed (only an erasure may replace an identity by its keyed hash)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$`);
    await q.query(`DROP TRIGGER send_attempts_no_update_delete ON send_attempts`);
    await q.query(`
      CREATE TRIGGER send_attempts_no_update_delete BEFORE UPDATE OR DELETE ON send_attempts
        FOR EACH ROW EXECUTE FUNCTION send_attempts_guard()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER send_attempts_no_update_delete ON send_attempts`);
    await q.query(`
      CREATE TRIGGER send_attempts_no_update_delete BEFORE UPDATE OR DELETE ON send_attempts
        FOR EACH ROW EXECUTE FUNCTION reject_mutation()`);
    await q.query(`DROP FUNCTION send_attempts_guard()`);
    await q.query(`DROP TRIGGER consent_audit_no_update_delete ON consent_audit`);
    await q.query(`
      CREATE TRIGGER consent_audit_no_update_delete BEFORE UPDATE OR DELETE ON consent_audit
        FOR EACH ROW EXECUTE FUNCTION reject_mutation()`);
    await q.query(`DROP FUNCTION consent_audit_guard()`);
    await q.query(chainTrigger(false));
    await q.query(canonical(false));
    await q.query(identityKey(false));
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(kindCheck(AUDIT_KINDS_BEFORE));
    await q.query(
      `ALTER TABLE consent_audit DROP COLUMN evidence_digest, DROP COLUMN reason_digest`,
    );
    await q.query(`DROP FUNCTION erased_identities(varchar, varchar, varchar[])`);
    await q.query(`DROP TABLE identity_erasures`);
  }
}
