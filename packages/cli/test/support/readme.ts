/**
 * Reads the commands a README shows, so that a test can run them as written: the shell lines of its
 * ```sh blocks (with `\` continuations joined, a trailing `# comment` kept apart, and the `# …` lines
 * under a command kept as its documented output), its ```text WebSocket exchanges (`>` sent, `<`
 * received), and the `npx herald …` commands quoted inline in its prose.
 */

export interface ShellCommand {
  kind: 'shell';
  /** The `## ` heading the command is under. */
  section: string;
  /** The command line, continuations joined, without its trailing comment. */
  text: string;
  /** The trailing `# comment`, without the `#` ('' if none). */
  comment: string;
  /** The `# …` lines under the command: what the README says it prints (blank lines left out). */
  output: string[];
}

export interface SocketExchange {
  kind: 'websocket';
  section: string;
  /** Frames the README sends (`> …`) and the ones it shows coming back (`< …`), in order. */
  frames: { direction: 'send' | 'receive'; text: string }[];
}

export interface InlineCommand {
  kind: 'inline';
  section: string;
  text: string;
}

export type ReadmeItem = ShellCommand | SocketExchange | InlineCommand;

/** Everything runnable in the README, in the order a reader meets it. */
export function readmeItems(markdown: string): ReadmeItem[] {
  const items: ReadmeItem[] = [];
  let section = '';
  let fence: { lang: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^```(\S*)\s*$/.exec(line);
    if (fence) {
      if (marker && marker[1] === '') {
        items.push(...blockItems(section, fence.lang, fence.lines));
        fence = undefined;
      } else {
        fence.lines.push(line);
      }
      continue;
    }
    if (marker) {
      fence = { lang: marker[1]!, lines: [] };
      continue;
    }
    const heading = /^##\s+(.*)$/.exec(line);
    if (heading) section = heading[1]!.trim();
    for (const span of line.matchAll(/`(npx herald [^`]*)`/g)) {
      // `npx herald publish|tail|run` names several commands, `…` and `<…>` are placeholders: not runnable.
      if (!/[|…<>]/.test(span[1]!)) items.push({ kind: 'inline', section, text: span[1]! });
    }
  }
  if (fence) throw new Error('README: a ``` block is not closed');
  return items;
}

function blockItems(section: string, lang: string, lines: string[]): ReadmeItem[] {
  if (lang === 'sh' || lang === 'bash' || lang === 'shell') return shellCommands(section, lines);
  if (lang === 'text' && lines.some((l) => l.startsWith('> '))) {
    const frames = lines
      .filter((l) => l.startsWith('> ') || l.startsWith('< '))
      .map((l) => ({ direction: l.startsWith('>') ? ('send' as const) : ('receive' as const), text: l.slice(2).trim() }));
    return [{ kind: 'websocket', section, frames }];
  }
  return [];
}

function shellCommands(section: string, lines: string[]): ShellCommand[] {
  const commands: ShellCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    if (line.trimStart().startsWith('#')) {
      const last = commands.at(-1);
      if (!last) throw new Error(`README (${section}): a comment line before any command: ${line}`);
      const shown = line.trimStart().replace(/^#\s?/, '');
      if (shown.trim() !== '') last.output.push(shown);
      continue;
    }
    let joined = '';
    let current = line;
    while (true) {
      const { code, comment } = splitComment(current);
      if (code.trimEnd().endsWith('\\') && i + 1 < lines.length) {
        joined += code.trimEnd().slice(0, -1).trim() + ' ';
        current = lines[++i]!;
        continue;
      }
      joined += code.trim();
      commands.push({ kind: 'shell', section, text: joined.trim(), comment, output: [] });
      break;
    }
  }
  return commands;
}

/** Splits a shell line at its first `#` that starts a comment (outside quotes, after a space). */
export function splitComment(line: string): { code: string; comment: string } {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      return { code: line.slice(0, i), comment: line.slice(i + 1).trim() };
    }
  }
  return { code: line, comment: '' };
}

/** Whether one real output line is the one the README shows. */
export interface LineMatcher {
  test(line: string): boolean;
  readonly shown: string;
}

/**
 * A documented output line as a matcher for one real line. The values that differ on every run are left
 * open — numbers (offsets, times), hex epochs — and `…` stands for anything. A JSON object (alone or after a
 * prefix such as SSE's `data: `) is compared as JSON: the same keys (more where the README writes `…`),
 * in any order.
 */
export function outputPattern(shown: string): LineMatcher {
  const json = /^([a-z]+: )?(\{.*\})$/.exec(shown);
  const expected = json ? parseShownJson(json[2]!) : undefined;
  if (expected !== undefined) {
    const prefix = json![1] ?? '';
    return {
      shown,
      test: (line) => {
        if (!line.startsWith(prefix)) return false;
        try {
          return sameShape(expected, JSON.parse(line.slice(prefix.length)));
        } catch {
          return false;
        }
      },
    };
  }
  const parts = shown.split(/(…|\b[0-9a-f]{12}\b|\d+)/);
  const source = parts
    .map((part, i) => {
      if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (part === '…') return '.*';
      return /^\d+$/.test(part) ? '\\d+' : '[0-9a-f]+';
    })
    .join('');
  const pattern = new RegExp(`^${source}$`);
  return { shown, test: (line) => pattern.test(line) };
}

const ANYTHING = '\u0000anything';
const MORE = '\u0000more';

/** The README's JSON with its `…`: `{…}` is any value, `"…"` any string, `, …}` more keys; undefined if it is no JSON. */
function parseShownJson(text: string): unknown {
  const marked = text.replace(/\{…\}/g, JSON.stringify(ANYTHING)).replace(/,\s*…\s*\}/g, `,${JSON.stringify(MORE)}:true}`);
  try {
    return JSON.parse(marked);
  } catch {
    return undefined;
  }
}

function sameShape(expected: unknown, actual: unknown): boolean {
  if (expected === ANYTHING) return true;
  if (expected === '…') return typeof actual === 'string';
  if (typeof expected === 'number') return typeof actual === 'number';
  if (typeof expected === 'string' && /^[0-9a-f]{12}$/.test(expected)) return typeof actual === 'string' && /^[0-9a-f]+$/.test(actual);
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => sameShape(e, actual[i]));
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const wanted = Object.entries(expected).filter(([key]) => key !== MORE);
    const open = MORE in expected;
    if (!open && Object.keys(actual).length !== wanted.length) return false;
    return wanted.every(([key, value]) => key in actual && sameShape(value, (actual as Record<string, unknown>)[key]));
  }
  return expected === actual;
}

/** Whether `lines` hold a match for every pattern, in order (other lines may come between). */
export function matchesInOrder(lines: string[], patterns: LineMatcher[]): { ok: true } | { ok: false; missing: string } {
  let at = 0;
  for (const pattern of patterns) {
    while (at < lines.length && !pattern.test(lines[at]!)) at++;
    if (at === lines.length) return { ok: false, missing: pattern.shown };
    at++;
  }
  return { ok: true };
}
