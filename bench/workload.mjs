// The bench workload, shared by run.mjs: the seeded data set, the request bodies, and the
// decisions the service must answer for them (so that a fast but wrong answer cannot pass).

export const PROJECT_ID = 'bench-project';
export const APP_ID = 'bench-app';
export const IDENTITY_COUNT = 100_000;
export const BATCH_SIZE = 10_000;
/** Share of identities in a request that are not in the table at all. */
export const MISS_RATE = 0.1;
export const CONTENT_TYPE = 'CONTENT_MARKETING';

const LIST_TYPES = ['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'];

/** Seeded identity number g (1..IDENTITY_COUNT), digits only as the service stores phones. */
export const hitIdentity = (g) => `1555${String(g).padStart(7, '0')}`;
/** An identity that is never seeded (prefix 1556). */
export const missIdentity = (g) => `1556${String(g).padStart(7, '0')}`;

/**
 * Seeds the data set in one statement (a couple of seconds for 100k identities):
 * - identity g is on list (g % 3): OPT_OUT_ALL, OPT_OUT_MARKETING or OPT_OUT_NOTIFICATION;
 * - every 7th identity is also on list ((g + 1) % 3);
 * - every 10th identity has opted back in on its first list (row kept with opted_out = false,
 *   as the service does), so not every row found is an opt-out.
 * About 114k rows. `since` is spread over the last day. $1 = project_id, $2 = app_id, $3 = count.
 * Keep expectedLists() below in step with this.
 */
export const SEED_SQL = `
  INSERT INTO consent_state
    (project_id, app_id, identity, list_type, opted_out, since, origin, last_event_time, updated_at)
  SELECT $1, $2, '1555' || lpad(s.g::text, 7, '0'),
         (ARRAY['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'])[s.list + 1],
         s.opted_out, s.ts, 'ORIGIN_API', s.ts, s.ts
    FROM (
      SELECT g, g % 3 AS list, g % 10 <> 0 AS opted_out,
             now() - (g % 86400) * interval '1 second' AS ts
        FROM generate_series(1, $3::int) AS g
      UNION ALL
      SELECT g, (g + 1) % 3, true, now() - (g % 3600) * interval '1 second'
        FROM generate_series(7, $3::int, 7) AS g
    ) AS s`;

/** The opt-out lists (opted_out = true) that the seed puts identity number g on. */
export function seededOptOuts(g) {
  const lists = [];
  if (g % 10 !== 0) lists.push(LIST_TYPES[g % 3]);
  if (g % 7 === 0) lists.push(LIST_TYPES[(g + 1) % 3]);
  return lists;
}

/** The lists the service must report for a CONTENT_MARKETING check of `identity`, sorted. */
export function expectedLists(identity) {
  if (!identity.startsWith('1555')) return [];
  return seededOptOuts(Number(identity.slice(4)))
    .filter((l) => l === 'OPT_OUT_ALL' || l === 'OPT_OUT_MARKETING')
    .sort();
}

/** A random identity for a single check: a seeded one, or (MISS_RATE of the time) a miss. */
export function randomIdentity() {
  const g = 1 + Math.floor(Math.random() * IDENTITY_COUNT);
  return Math.random() < MISS_RATE ? missIdentity(g) : hitIdentity(g);
}

export const checkBody = (identities) =>
  JSON.stringify({ identities, message_content_type: CONTENT_TYPE });

/**
 * `size` distinct identities: (1 - MISS_RATE) drawn without replacement from the seeded ones
 * (partial Fisher-Yates over a shared index array), the rest misses, shuffled together.
 */
export function randomBatch(size = BATCH_SIZE) {
  const hits = Math.round(size * (1 - MISS_RATE));
  const pool = Array.from({ length: IDENTITY_COUNT }, (_, i) => i + 1);
  const out = [];
  for (let i = 0; i < hits; i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
    out.push(hitIdentity(pool[i]));
  }
  for (let i = 0; i < size - hits; i++) out.push(missIdentity(pool[i]));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Checks a response body of the service (or of the baseline, which answers in the same shape)
 * against the seed. Returns null when right, else a description of the first difference.
 */
export function verifyCheckResponse(identities, body) {
  if (!body || !Array.isArray(body.results)) return 'no results array';
  if (body.results.length !== identities.length)
    return `${body.results.length} results for ${identities.length} identities`;
  for (let i = 0; i < identities.length; i++) {
    const r = body.results[i];
    const want = expectedLists(identities[i]);
    const decision = want.length > 0 ? 'BLOCK' : 'ALLOW';
    if (
      r.identity !== identities[i] ||
      r.decision !== decision ||
      JSON.stringify(r.lists) !== JSON.stringify(want)
    ) {
      return `results[${i}] = ${JSON.stringify(r)}, expected ${identities[i]} ${decision} ${JSON.stringify(want)}`;
    }
  }
  return null;
}
