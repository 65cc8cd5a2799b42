import { readFileSync, writeFileSync } from 'node:fs';
import { openApiDocument, openApiProblems } from '../openapi-document.js';

/**
 * Writes openapi.json from the DTOs without a database (preview mode), or with --check fails
 * when the committed file differs from what the code generates. Either fails when the document
 * lacks a description or an example (see openApiProblems).
 */
const check = process.argv.includes('--check');
const doc = await openApiDocument();
const problems = openApiProblems(doc);
if (problems.length > 0) {
  process.stderr.write(`openapi.json would be incomplete:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
const spec = `${JSON.stringify(doc, null, 2)}\n`;
if (check) {
  let committed = '';
  try {
    committed = readFileSync('openapi.json', 'utf8');
  } catch {
    // missing file counts as a difference
  }
  if (committed !== spec) {
    process.stderr.write('openapi.json is out of date: run `npm run openapi` and commit it.\n');
    process.exit(1);
  }
  process.stdout.write('openapi.json is up to date\n');
} else {
  writeFileSync('openapi.json', spec);
  process.stdout.write('wrote openapi.json\n');
}
