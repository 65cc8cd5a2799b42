// npm run verify-evidence -- bundle.json [--key <key_id or base64 public key>]
// Checks an evidence bundle (GET .../identities/{identity}:evidence) offline: no database, no
// service. Prints what it proves; exits 0 when it holds, 1 when it does not, 2 on a usage error.
import { readFileSync } from 'node:fs';
import { checkEvidence, type EvidenceBundle } from '../audit/domain/evidence.js';

function main(argv: string[]): number {
  const args = [...argv];
  let pinned: string | undefined;
  const k = args.indexOf('--key');
  if (k >= 0) {
    pinned = args[k + 1];
    args.splice(k, 2);
  }
  if (args.length !== 1 || (k >= 0 && !pinned)) {
    process.stderr.write(
      'usage: npm run verify-evidence -- bundle.json [--key <key_id or base64 public key>]\n',
    );
    return 2;
  }
  let bundle: EvidenceBundle;
  try {
    bundle = JSON.parse(readFileSync(args[0]!, 'utf8')) as EvidenceBundle;
  } catch (e) {
    process.stderr.write(`cannot read ${args[0]}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  let result;
  try {
    result = checkEvidence(bundle, pinned);
  } catch (e) {
    result = {
      ok: false,
      problems: [`malformed bundle: ${e instanceof Error ? e.message : String(e)}`],
      proves: [],
    };
  }
  if (!result.ok) {
    process.stdout.write(`NOT VERIFIED: ${result.problems.join('; ')}\n`);
    return 1;
  }
  process.stdout.write(`VERIFIED\n${result.proves.map((l) => `- ${l}`).join('\n')}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
