// The README's shell examples, read as a reader would run them, and the outputs it shows.
// Used by test/readme-examples.e2e-spec.ts; the conventions are the README's (*README examples
// are tested*):
//
// - Run: every ```bash / ```sh / ```shell block with a `curl` outside comments, in document
//   order, in one bash shell (`set -eo pipefail`), unless the line right before its fence is
//   `<!-- readme-test: skip (why) -->`.
// - Shown output: a comment `# -> OUTPUT` after a command (on its own line right after it, or at
//   the end of its last line), continued by the comment lines right after it that start with `#`
//   and two or more spaces. `# -> 201 OUTPUT` (or `# -> 201`) also shows the status of the
//   command's last curl; every other curl must answer 2xx.
// - OUTPUT starting with `{` or `[` is JSON compared structurally: an object shows some of its
//   fields (the others may be there); an array shows all its elements in order; `...` is an
//   omission (a bare `...` in an object, in an array: any number of elements, as a value: any
//   value); the string `"..."` is any value; inside a string `...` stands for any text and
//   `$NAME` for the shell variable's value after the command. Anything else is text, which must
//   be in the output (with the same `...` and `$NAME`), white space compared as one space.
import { readFileSync } from 'node:fs';

export interface Expectation {
  /** README lines (1-based) the shown output spans. */
  from: number;
  to: number;
  /** The status shown (`# -> 201 ...`), if any. */
  status?: number;
  /** The shown output after the status, as written (continuation lines joined by "\n"). */
  text: string;
}

export interface Command {
  /** README line (1-based) where the command starts. */
  line: number;
  /** The command as written (continuation lines included). */
  text: string;
  expect?: Expectation;
}

export interface Block {
  /** README line of the opening fence. */
  line: number;
  lang: string;
  /** The block's lines (without the fences), each with its README line. */
  lines: { n: number; text: string }[];
  /** The reason of a `<!-- readme-test: skip (reason) -->` right before the fence. */
  skip?: string;
}

const SKIP_MARKER = /^<!--\s*readme-test:\s*skip\s*(?:\((.*)\))?\s*-->$/;
const SHELL = new Set(['bash', 'sh', 'shell']);

/** Every fenced block of a Markdown text, with the skip marker right before it. */
export function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let open: Block | undefined;
  let fence = '';
  let previous = '';
  lines.forEach((text, i) => {
    const n = i + 1;
    if (!open) {
      const m = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(text);
      if (m) {
        fence = m[2]!;
        open = { line: n, lang: m[3]!.toLowerCase(), lines: [] };
        const marker = SKIP_MARKER.exec(previous.trim());
        if (marker) {
          if (!marker[1]?.trim())
            throw new Error(`README.md:${n - 1}: a readme-test skip marker needs a (reason)`);
          open.skip = marker[1].trim();
        }
      } else if (text.trim() !== '') previous = text;
      return;
    }
    const close = /^\s*(`{3,}|~{3,})\s*$/.exec(text);
    if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) {
      blocks.push(open);
      open = undefined;
      previous = '';
      return;
    }
    open.lines.push({ n, text });
  });
  if (open) throw new Error(`README.md:${open.line}: this fenced block is never closed`);
  return blocks;
}

/** Whether a block is a shell block that calls curl (outside comments). */
export function isCurlBlock(block: Block): boolean {
  return (
    SHELL.has(block.lang) &&
    block.lines.some(({ text }) => /(^|[\s;|&(`])curl(\s|$)/.test(codePart(text).code))
  );
}

/**
 * Splits a shell line into its code and its comment (a `#` starting a word outside quotes),
 * and says what stays open at its end (quotes, `$(`, a trailing backslash, heredocs).
 */
function codePart(
  text: string,
  state: ScanState = newState(),
): { code: string; comment?: string; state: ScanState } {
  const s = { ...state, heredocs: [...state.heredocs] };
  s.continued = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (s.quote === "'") {
      if (c === "'") s.quote = undefined;
      continue;
    }
    if (c === '\\') {
      if (i === text.length - 1) s.continued = true;
      i++;
      continue;
    }
    if (s.quote === '"') {
      if (c === '"') s.quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') s.quote = c;
    else if (c === '(') s.depth++;
    else if (c === ')') s.depth = Math.max(0, s.depth - 1);
    else if (c === '#' && (i === 0 || /[\s;]/.test(text[i - 1]!)))
      return { code: text.slice(0, i), comment: text.slice(i), state: s };
    else if (c === '<' && text[i + 1] === '<' && text[i + 2] !== '<') {
      const m = /^<<(-?)\s*(['"]?)([\w.-]+)\2/.exec(text.slice(i));
      if (m) {
        s.heredocs.push({ word: m[3]!, dash: m[1] === '-' });
        i += m[0].length - 1;
      }
    }
  }
  return { code: text, state: s };
}

interface ScanState {
  quote?: "'" | '"';
  depth: number;
  continued: boolean;
  heredocs: { word: string; dash: boolean }[];
}
const newState = (): ScanState => ({ depth: 0, continued: false, heredocs: [] });
const isOpen = (s: ScanState) => Boolean(s.quote) || s.depth > 0 || s.continued;

const SHOWN = /^#\s*->\s?(.*)$/;
const CONTINUATION = /^#\s{2,}(.*)$/;

/** A block's commands, each with the output the README shows after it (if any). */
export function commandsOf(block: Block): Command[] {
  const commands: Command[] = [];
  const lines = block.lines;
  let i = 0;
  const takeContinuation = (e: Expectation) => {
    while (i < lines.length) {
      const m = CONTINUATION.exec(lines[i]!.text.trim());
      if (!m || SHOWN.test(lines[i]!.text.trim())) break;
      e.text += '\n' + m[1]!.trim();
      e.to = lines[i]!.n;
      i++;
    }
  };
  const expectation = (n: number, shown: string): Expectation => {
    const m = /^(\d{3})(?:\s+|$)([\s\S]*)$/.exec(shown.trim());
    return m
      ? { from: n, to: n, status: Number(m[1]), text: m[2]! }
      : { from: n, to: n, text: shown.trim() };
  };
  while (i < lines.length) {
    const { n, text } = lines[i]!;
    const trimmed = text.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      const shown = SHOWN.exec(trimmed);
      i++;
      if (shown) {
        const last = commands[commands.length - 1];
        if (!last) throw new Error(`README.md:${n}: a shown output ("# ->") before any command`);
        if (last.expect)
          throw new Error(`README.md:${n}: a second shown output for the command at ${last.line}`);
        last.expect = expectation(n, shown[1]!);
        takeContinuation(last.expect);
      }
      continue;
    }
    // A command: lines until nothing is left open (quotes, $(, backslash, heredocs).
    const start = n;
    const body: string[] = [];
    let state = newState();
    let trailing: { n: number; comment: string } | undefined;
    for (;;) {
      const line = lines[i]!;
      i++;
      body.push(line.text);
      const part = codePart(line.text, state);
      state = part.state;
      if (part.comment && !isOpen(state)) trailing = { n: line.n, comment: part.comment };
      if (state.heredocs.length > 0 && !isOpen(state)) {
        for (const doc of state.heredocs) {
          while (i < lines.length) {
            const l = lines[i]!;
            i++;
            body.push(l.text);
            if ((doc.dash ? l.text.replace(/^\t+/, '') : l.text) === doc.word) break;
          }
        }
        state.heredocs = [];
      }
      if (!isOpen(state) || i >= lines.length) break;
    }
    if (isOpen(state)) throw new Error(`README.md:${start}: this command is never closed`);
    const command: Command = { line: start, text: body.join('\n') };
    const shown = trailing && SHOWN.exec(trailing.comment.trim());
    if (shown) {
      command.expect = expectation(trailing!.n, shown[1]!);
      takeContinuation(command.expect);
    }
    commands.push(command);
  }
  return commands;
}

export function readReadme(path: string): Block[] {
  return fencedBlocks(readFileSync(path, 'utf8'));
}

// ---- Comparing an output with what the README shows ----

type Pattern =
  | { k: 'any' }
  | { k: 'literal'; v: null | boolean | number }
  | { k: 'string'; s: string }
  | { k: 'object'; fields: [string, Pattern][] }
  | { k: 'array'; items: (Pattern | 'rest')[] };

/** Parses shown JSON: JSON, plus `...` for what is left out (see the file's header). */
export function parseShownJson(text: string): Pattern {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`shown JSON: ${what} at character ${i}: ${text.slice(i, i + 30)}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const ellipsis = () => {
    ws();
    if (text.startsWith('...', i) || text.startsWith('…', i)) {
      i += text[i] === '…' ? 1 : 3;
      return true;
    }
    return false;
  };
  const string = (): string => {
    const m = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i));
    if (!m) return fail('a string expected');
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const value = (): Pattern => {
    ws();
    if (ellipsis()) return { k: 'any' };
    const c = text[i];
    if (c === '{') {
      i++;
      const fields: [string, Pattern][] = [];
      ws();
      if (text[i] === '}') return (i++, { k: 'object', fields });
      for (;;) {
        if (!ellipsis()) {
          ws();
          const key = string();
          ws();
          if (text[i] !== ':') fail('":" expected');
          i++;
          fields.push([key, value()]);
        }
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return (i++, { k: 'object', fields });
        else fail('"," or "}" expected');
      }
    }
    if (c === '[') {
      i++;
      const items: (Pattern | 'rest')[] = [];
      ws();
      if (text[i] === ']') return (i++, { k: 'array', items });
      for (;;) {
        items.push(ellipsis() ? 'rest' : value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return (i++, { k: 'array', items });
        else fail('"," or "]" expected');
      }
    }
    if (c === '"') return { k: 'string', s: string() };
    const m = /^(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) return fail('a value expected');
    i += m[0].length;
    return { k: 'literal', v: JSON.parse(m[0]) as null | boolean | number };
  };
  const p = value();
  ws();
  if (i < text.length) fail('text after the JSON value');
  return p;
}

export type Vars = (name: string) => string | undefined;

/** A shown string (with `...` and `$NAME`) as a RegExp matching the whole text. */
function stringPattern(shown: string, vars: Vars, whole = true): RegExp {
  const parts = shown.split(/(\.\.\.|…|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)/);
  const source = parts
    .map((part, j) => {
      if (j % 2 === 0) return escapeRe(part);
      if (part === '...' || part === '…') return '[\\s\\S]*';
      const name = part.replace(/^\$\{?|\}$/g, '');
      const value = vars(name);
      if (value === undefined) throw new Error(`shown output names $${name}, which is not set`);
      return escapeRe(value);
    })
    .join('');
  return new RegExp(whole ? `^${source}$` : source);
}
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Where the actual value differs from the pattern (e.g. `results[0].decision: ...`), or null. */
function mismatch(p: Pattern, actual: unknown, vars: Vars, path: string): string | null {
  const at = path || '(the answer)';
  const show = (v: unknown) => JSON.stringify(v);
  switch (p.k) {
    case 'any':
      return null;
    case 'literal':
      return actual === p.v ? null : `${at}: shown ${show(p.v)}, got ${show(actual)}`;
    case 'string':
      if (p.s === '...' || p.s === '…') return null;
      if (typeof actual !== 'string') return `${at}: shown ${show(p.s)}, got ${show(actual)}`;
      return stringPattern(p.s, vars).test(actual)
        ? null
        : `${at}: shown ${show(p.s)}, got ${show(actual)}`;
    case 'object': {
      if (typeof actual !== 'object' || actual === null || Array.isArray(actual))
        return `${at}: shown an object, got ${show(actual)}`;
      for (const [key, sub] of p.fields) {
        if (!(key in actual))
          return `${path ? path + '.' : ''}${key}: shown, but not in the answer`;
        const d = mismatch(sub, (actual as Record<string, unknown>)[key], vars, join(path, key));
        if (d) return d;
      }
      return null;
    }
    case 'array': {
      if (!Array.isArray(actual)) return `${at}: shown an array, got ${show(actual)}`;
      return arrayMismatch(p.items, actual, vars, path);
    }
  }
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

function arrayMismatch(
  items: (Pattern | 'rest')[],
  actual: unknown[],
  vars: Vars,
  path: string,
): string | null {
  const go = (pi: number, ai: number): string | null => {
    if (pi === items.length)
      return ai === actual.length
        ? null
        : `${path || '(the answer)'}: shown ${countShown(items)} element(s), got ${actual.length}`;
    const item = items[pi]!;
    if (item === 'rest') {
      let first: string | null = null;
      for (let k = ai; k <= actual.length; k++) {
        const d = go(pi + 1, k);
        if (!d) return null;
        first ??= d;
      }
      return first;
    }
    if (ai >= actual.length)
      return `${path || '(the answer)'}: shown ${countShown(items)} element(s), got ${actual.length}`;
    return mismatch(item, actual[ai], vars, `${path}[${ai}]`) ?? go(pi + 1, ai + 1);
  };
  return go(0, 0);
}
const countShown = (items: (Pattern | 'rest')[]) =>
  items.some((x) => x === 'rest')
    ? `at least ${items.filter((x) => x !== 'rest').length}`
    : String(items.length);

/** Names of the `$NAME` variables a shown output uses. */
export function variablesOf(shown: string): string[] {
  return [...shown.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)].map((m) => m[1]!);
}

/** Compares an output with the shown one; returns what differs, or null when it matches. */
export function compareOutput(shown: string, output: string, vars: Vars): string | null {
  const t = shown.trim();
  if (t === '') return null;
  if (t.startsWith('{') || t.startsWith('[')) {
    const pattern = parseShownJson(t);
    let actual: unknown;
    try {
      actual = JSON.parse(output);
    } catch {
      return `the output is not one JSON value: ${JSON.stringify(output.slice(0, 300))}`;
    }
    return mismatch(pattern, actual, vars, '');
  }
  // Text: the shown text somewhere in the output, every run of white space (line breaks
  // included) taken as one space, so that the README may wrap a long line.
  const flat = (x: string) => x.replace(/\s+/g, ' ').trim();
  return stringPattern(flat(t), vars, false).test(flat(output))
    ? null
    : 'the shown text is not in the output';
}
