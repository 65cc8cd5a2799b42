import type { ExportFormat } from './exports.repository.js';

/**
 * Each export format: the media types an Accept header may ask it by, the Content-Type it is
 * answered with, and its file extension.
 */
export const MEDIA_TYPES: Record<
  ExportFormat,
  { accepts: readonly string[]; contentType: string; ext: string }
> = {
  csv: {
    accepts: ['text/csv'],
    contentType: 'text/csv; charset=utf-8; header=present',
    ext: 'csv',
  },
  ndjson: {
    accepts: ['application/x-ndjson', 'application/ndjson'],
    contentType: 'application/x-ndjson; charset=utf-8',
    ext: 'ndjson',
  },
};

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

/**
 * The format an `Accept` header asks for among `offered` (in order of preference): the one of
 * highest q, each format's q being that of the most specific media range matching it (RFC 9110
 * 12.5.1); on a tie the earlier offered wins. No header: the first offered. Null when the
 * header accepts none of them (406).
 */
export function negotiate(
  accept: string | undefined,
  offered: readonly ExportFormat[],
): ExportFormat | null {
  if (accept === undefined || accept.trim() === '') return offered[0] ?? null;
  const ranges = accept
    .split(',')
    .map(parseRange)
    .filter((r): r is MediaRange => r !== null);
  let best: ExportFormat | null = null;
  let bestQ = 0;
  for (const format of offered) {
    const q = Math.max(...MEDIA_TYPES[format].accepts.map((t) => qualityOf(t, ranges)));
    if (q > bestQ) {
      best = format;
      bestQ = q;
    }
  }
  return best;
}

/** The q the header gives `mediaType`: that of its most specific matching range, else 0. */
function qualityOf(mediaType: string, ranges: readonly MediaRange[]): number {
  const [type, subtype] = mediaType.split('/');
  let q = 0;
  let specificity = -1;
  for (const r of ranges) {
    const s =
      r.type === type && r.subtype === subtype
        ? 2
        : r.type === type && r.subtype === '*'
          ? 1
          : r.type === '*' && r.subtype === '*'
            ? 0
            : -1;
    if (s > specificity) {
      specificity = s;
      q = r.q;
    }
  }
  return q;
}

function parseRange(text: string): MediaRange | null {
  const [range, ...params] = text.split(';').map((p) => p.trim().toLowerCase());
  const m = /^([a-z0-9!#$&^_.+-]+|\*)\/([a-z0-9!#$&^_.+-]+|\*)$/.exec(range ?? '');
  if (!m) return null;
  let q = 1;
  for (const p of params) {
    const qm = /^q\s*=\s*([01](?:\.[0-9]{0,3})?)$/.exec(p);
    if (qm) q = Math.min(1, Number(qm[1]));
  }
  return { type: m[1]!, subtype: m[2]!, q };
}
