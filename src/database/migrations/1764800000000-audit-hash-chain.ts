import { randomBytes } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';

/** service_secrets.name of the identity key's pads (read by SQL and by AuditChainKeys). */
const IDENTITY_KEY_SECRET = 'audit_identity_key_pads';

/**
 * The tamper-evident audit trail (see src/audit/domain/audit-chain.ts, the reference of the
 * encoding, and the README's "Proof" section):
 * - the service secret IDENTITY_KEY_SECRET: the key of the keyed identity hashes, generated here
 *   once (32 random bytes), stored as the hex of its two HMAC-SHA256 pads (key XOR 0x36..,
 *   key XOR 0x5c.., 64 bytes each) so that SQL computes HMAC-SHA256(key, identity) as
 *   sha256(opad || sha256(ipad || identity));
 * - consent_audit.identity_key: that keyed hash of the record's identity (NULL for a record about
 *   no identity), the value the chain covers instead of the clear identity, so that an erasure
 *   can remove the clear value and the chain still verifies;
 * - consent_audit.chain_seq, prev_hash, hash: the record's position in its app's chain (1, 2,
 *   ...), the previous record's hash (32 zero bytes for the first) and its own:
 *   SHA-256(prev_hash || UTF-8 of consent_audit_canonical(record)), a JSON array of texts;
 * - the BEFORE INSERT trigger consent_audit_chain, which fills them for every insert, whoever
 *   writes (the service's statements, a migration, psql): the one place a hash is made. It takes
 *   a transaction-scoped advisory lock on the app's chain before it reads the app's last record,
 *   so concurrent writers of one app are chained one after the other (the lock is held until
 *   commit; a writer that waits for it reads the head its predecessor committed), and the unique
 *   index (project_id, app_id, chain_seq) makes a fork (two records at one position) impossible
 *   even if the lock were bypassed. Within a transaction the head is kept in a transaction-local
 *   setting, so a bulk insert reads the index only once per app;
 * - the existing records are chained here, per app in id order (the trigger consent_audit_no_
 *   update_delete is suspended for that statement only, inside the migration's transaction).
 */
export class AuditHashChain1764800000000 implements MigrationInterface {
  name = 'AuditHashChain1764800000000';

  async up(q: QueryRunner): Promise<void> {
    const key = randomBytes(32);
    const pad = (byte: number) => {
      const p = Buffer.alloc(64, byte);
      for (let i = 0; i < key.length; i++) p[i] = key[i]! ^ byte;
      return p;
    };
    await q.query(
      `INSERT INTO service_secrets (name, value) VALUES ('${IDENTITY_KEY_SECRET}', $1)
       ON CONFLICT (name) DO NOTHING`,
      [pad(0x36).toString('hex') + pad(0x5c).toString('hex')],
    );
    await q.query(`
      ALTER TABLE consent_audit
        ADD COLUMN identity_key bytea NULL,
        ADD COLUMN chain_seq bigint NULL,
        ADD COLUMN prev_hash bytea NULL,
        ADD COLUMN hash bytea NULL`);
    // The canonical encoding (audit-chain.ts renders the same text in JS).
    await q.query(`
      CREATE FUNCTION consent_audit_canonical(r consent_audit) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT json_build_array(
          'consent-gate-audit-v1', r.chain_seq::text, r.id::text, r.kind, r.project_id, r.app_id,
          encode(r.identity_key, 'hex'), r.list_type, r.origin, r.operation, r.outcome, r.actor,
          encode(sha256(convert_to(r.reason, 'UTF8')), 'hex'),
          encode(sha256(convert_to(r.evidence::text, 'UTF8')), 'hex'),
          r.batch_id,
          (extract(epoch FROM r.event_time) * 1000000)::bigint::text,
          (extract(epoch FROM r.recorded_at) * 1000000)::bigint::text,
          (extract(epoch FROM r.claimed_event_time) * 1000000)::bigint::text,
          r.import_id, r.source)::text
      $$`);
    await q.query(`
      CREATE FUNCTION consent_audit_identity_key(identity text) RETURNS bytea
        LANGUAGE plpgsql AS $$
        DECLARE pads text := current_setting('consent_gate.identity_key_pads', true);
        BEGIN
          IF identity IS NULL THEN RETURN NULL; END IF;
          IF pads IS NULL OR pads = '' THEN
            SELECT value INTO pads FROM service_secrets WHERE name = '${IDENTITY_KEY_SECRET}';
            IF pads IS NULL THEN RAISE EXCEPTION 'service secret ${IDENTITY_KEY_SECRET} is missing'; END IF;
            PERFORM set_config('consent_gate.identity_key_pads', pads, true);
          END IF;
          RETURN sha256(decode(substr(pads, 129, 128), 'hex')
                        || sha256(decode(substr(pads, 1, 128), 'hex') || convert_to(identity, 'UTF8')));
        END $$`);
    await q.query(`
      CREATE FUNCTION consent_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
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
          NEW.chain_seq := prev_seq + 1;
          NEW.prev_hash := prev;
          NEW.hash := sha256(prev || convert_to(consent_audit_canonical(NEW), 'UTF8'));
          PERFORM set_config('consent_gate.audit_chain_head',
                             app || ' ' || NEW.chain_seq || ' ' || encode(NEW.hash, 'hex'), true);
          RETURN NEW;
        END $$`);
    // Chain what is there, per app in id order.
    await q.query(`ALTER TABLE consent_audit DISABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`
      DO $$
        DECLARE r consent_audit; app text := NULL; prev bytea; seq bigint;
        BEGIN
          FOR r IN SELECT * FROM consent_audit ORDER BY project_id, app_id, id LOOP
            IF app IS DISTINCT FROM r.project_id || '/' || r.app_id THEN
              app := r.project_id || '/' || r.app_id;
              prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
              seq := 0;
            END IF;
            seq := seq + 1;
            r.identity_key := consent_audit_identity_key(r.identity);
            r.chain_seq := seq;
            r.prev_hash := prev;
            r.hash := sha256(prev || convert_to(consent_audit_canonical(r), 'UTF8'));
            UPDATE consent_audit SET identity_key = r.identity_key, chain_seq = r.chain_seq,
                   prev_hash = r.prev_hash, hash = r.hash
             WHERE id = r.id;
            prev := r.hash;
          END LOOP;
        END $$`);
    await q.query(`ALTER TABLE consent_audit ENABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`
      ALTER TABLE consent_audit
        ALTER COLUMN chain_seq SET NOT NULL,
        ALTER COLUMN prev_hash SET NOT NULL,
        ALTER COLUMN hash SET NOT NULL,
        ADD CONSTRAINT consent_audit_identity_key_check
          CHECK (identity IS NULL OR identity_key IS NOT NULL)`);
    await q.query(`
      CREATE UNIQUE INDEX consent_audit_chain_idx ON consent_audit (project_id, app_id, chain_seq)`);
    await q.query(`
      CREATE TRIGGER consent_audit_chain BEFORE INSERT ON consent_audit
        FOR EACH ROW EXECUTE FUNCTION consent_audit_chain()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER consent_audit_chain ON consent_audit`);
    await q.query(`DROP FUNCTION consent_audit_chain()`);
    await q.query(`DROP FUNCTION consent_audit_identity_key(text)`);
    await q.query(`DROP FUNCTION consent_audit_canonical(consent_audit)`);
    await q.query(`DROP INDEX consent_audit_chain_idx`);
    await q.query(`
      ALTER TABLE consent_audit
        DROP CONSTRAINT consent_audit_identity_key_check,
        DROP COLUMN hash, DROP COLUMN prev_hash, DROP COLUMN chain_seq, DROP COLUMN identity_key`);
    await q.query(`DELETE FROM service_secrets WHERE name = '${IDENTITY_KEY_SECRET}'`);
  }
}
