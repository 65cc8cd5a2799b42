import { MigrationInterface, QueryRunner } from 'typeorm';

/** How many chains ("lanes") an app's audit trail may have; a record's lane is 0 to this - 1. */
export const AUDIT_CHAIN_LANES = 8;

/**
 * Several chains per app ("lanes"): up to AUDIT_CHAIN_LANES hash chains per app instead of one,
 * so that writers of one app do not all wait for one lock (one app's single changes ran at about
 * 0.77x of their unchained rate with one chain, all of it the wait for the chain lock, held to
 * each writer's commit; the same load over 8 apps ran at parity).
 *
 * - consent_audit.chain_lane (0 for every existing record: the existing chain is lane 0, its
 *   records, hashes and published checkpoints stay as they are). The positions (chain_seq) count
 *   1, 2, 3, ... in each lane; a fork stays impossible by the unique index, now per lane.
 * - The trigger takes, at the transaction's first record of an app, the first free lane's lock
 *   (pg_try_advisory_xact_lock, lanes in order, so that a quiet app writes lane 0 only; a lock
 *   the transaction already holds is free to it), and waits for one only when every lane is
 *   taken. A transaction thus never waits for a lane of an app while holding one of the same app:
 *   lanes add no deadlock. Lane 0's lock is the lock the app's chain had.
 * - The canonical encoding is unchanged: a record's lane is bound by its links (its prev_hash is
 *   its lane's previous record's hash, its successor's prev_hash is its hash) and by the signed
 *   checkpoint, which signs every lane's head.
 * - audit_checkpoints.lanes: the heads of the lanes other than 0 (null: the app has only lane 0,
 *   and the checkpoint's signed text is the v1 text it had).
 */
export class AuditChainLanes1765200000000 implements MigrationInterface {
  name = 'AuditChainLanes1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE consent_audit
        ADD COLUMN chain_lane smallint NOT NULL DEFAULT 0,
        ADD CONSTRAINT consent_audit_chain_lane_check
          CHECK (chain_lane >= 0 AND chain_lane < ${AUDIT_CHAIN_LANES})`);
    await q.query(`DROP INDEX consent_audit_chain_idx`);
    await q.query(`
      CREATE UNIQUE INDEX consent_audit_chain_idx
        ON consent_audit (project_id, app_id, chain_lane, chain_seq)`);
    await q.query(`ALTER TABLE audit_checkpoints ADD COLUMN lanes jsonb NULL`);
    await q.query(laneKey);
    await q.query(laneTrigger);
    await q.query(`
      CREATE FUNCTION consent_audit_chain_lock_all(p text, a text) RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
          FOR l IN 0..${AUDIT_CHAIN_LANES - 1} LOOP
            PERFORM pg_advisory_xact_lock(hashtext('consent_audit_chain'),
                                          hashtext(consent_audit_lane_key(p || '/' || a, l)));
          END LOOP;
        END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    const { fastChainTrigger } = await import('./1765100000000-audit-chain-trigger-per-row.js');
    await q.query(fastChainTrigger);
    await q.query(`DROP FUNCTION consent_audit_chain_lock_all(text, text)`);
    await q.query(`DROP FUNCTION consent_audit_lane_key(text, integer)`);
    await q.query(`ALTER TABLE audit_checkpoints DROP COLUMN lanes`);
    await q.query(`DROP INDEX consent_audit_chain_idx`);
    await q.query(`
      ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_chain_lane_check,
        DROP COLUMN chain_lane`);
    await q.query(`
      CREATE UNIQUE INDEX consent_audit_chain_idx ON consent_audit (project_id, app_id, chain_seq)`);
  }
}

/** The advisory lock key of an app's lane (lane 0's is the key the app's one chain had). */
const laneKey = `
      CREATE FUNCTION consent_audit_lane_key(app text, lane integer) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
          SELECT CASE WHEN lane = 0 THEN app ELSE app || '#' || lane END
        $$`;

/**
 * The chain trigger of migration 1765100000000 with lanes (each lane's lock key written out as
 * consent_audit_lane_key makes it: a plain expression, no function call per record). The head
 * setting now holds `app seq hash-hex has-erasures lane`; the lane's head and the app's erasures
 * are read in one query, and the identity key's pads are kept for the session instead of the
 * transaction (one query less per transaction: 8 writers inserting one record a transaction
 * into one app, pgbench, ran about 20 % faster with it).
 */
const laneTrigger = `
      CREATE OR REPLACE FUNCTION consent_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          app text := NEW.project_id || '/' || NEW.app_id;
          head text[] := string_to_array(current_setting('consent_gate.audit_chain_head', true), ' ');
          pads text := current_setting('consent_gate.identity_key_pads', true);
          kept text;
          lane integer;
        BEGIN
          IF head[1] IS DISTINCT FROM app THEN
            lane := NULL;
            FOR l IN 0..${AUDIT_CHAIN_LANES - 1} LOOP
              IF pg_try_advisory_xact_lock(hashtext('consent_audit_chain'),
                                           hashtext(CASE WHEN l = 0 THEN app ELSE app || '#' || l END)) THEN
                lane := l;
                EXIT;
              END IF;
            END LOOP;
            IF lane IS NULL THEN
              -- Every lane is taken: wait for one, spread by backend.
              lane := pg_backend_pid() % ${AUDIT_CHAIN_LANES};
              PERFORM pg_advisory_xact_lock(hashtext('consent_audit_chain'),
                                            hashtext(CASE WHEN lane = 0 THEN app ELSE app || '#' || lane END));
            END IF;
            -- The lane's head and whether the app has erasures, in one query. Read with a
            -- snapshot taken now, under the lane's lock: an erasure of this app committed before
            -- this record's writer took the lock is seen (an erasure takes every lane's lock).
            SELECT ARRAY[app, coalesce(h.seq::text, '0'), coalesce(encode(h.hash, 'hex'), repeat('00', 32)),
                         (EXISTS (SELECT 1 FROM identity_erasures e
                                   WHERE e.project_id = NEW.project_id AND e.app_id = NEW.app_id))::text,
                         lane::text]
              INTO head
              FROM (SELECT 1) one
              LEFT JOIN LATERAL (
                SELECT c.chain_seq AS seq, c.hash FROM consent_audit c
                 WHERE c.project_id = NEW.project_id AND c.app_id = NEW.app_id AND c.chain_lane = lane
                 ORDER BY c.chain_seq DESC LIMIT 1) h ON true;
          END IF;
          IF pads IS NULL OR pads = '' THEN
            SELECT value INTO pads FROM service_secrets WHERE name = 'audit_identity_key_pads';
            IF pads IS NULL THEN RAISE EXCEPTION 'service secret audit_identity_key_pads is missing'; END IF;
            -- Kept for the session (the key never changes): one query a connection, not one a
            -- transaction (undone with the transaction if it aborts).
            kept := set_config('consent_gate.identity_key_pads', pads, false);
          END IF;
          NEW.identity_key := CASE
            WHEN NEW.identity IS NULL THEN NULL
            WHEN starts_with(NEW.identity, 'erased:') THEN decode(substr(NEW.identity, 8), 'hex')
            ELSE sha256(substring(decode(pads, 'hex') FROM 65 FOR 64)
                        || sha256(substring(decode(pads, 'hex') FOR 64)
                                  || convert_to(NEW.identity, 'UTF8')))
          END;
          IF head[4] = 'true' AND NEW.identity_key IS NOT NULL
             AND NOT starts_with(NEW.identity, 'erased:') THEN
            IF EXISTS (
                 SELECT 1 FROM identity_erasures e
                  WHERE e.project_id = NEW.project_id AND e.app_id = NEW.app_id
                    AND e.identity_key = NEW.identity_key) THEN
              RAISE EXCEPTION 'the identity of this record was erased meanwhile: plan it again'
                USING ERRCODE = '40001', HINT = 'consent-gate: erased identity';
            END IF;
          END IF;
          NEW.chain_lane := head[5]::smallint;
          NEW.chain_seq := head[2]::bigint + 1;
          NEW.prev_hash := decode(head[3], 'hex');
          NEW.hash := sha256(NEW.prev_hash || convert_to(consent_audit_canonical(NEW), 'UTF8'));
          head[2] := NEW.chain_seq::text;
          head[3] := encode(NEW.hash, 'hex');
          kept := set_config('consent_gate.audit_chain_head', array_to_string(head, ' '), true);
          RETURN NEW;
        END $$`;
