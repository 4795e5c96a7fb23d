import Anser from 'anser';
import { revealInvisible } from './format.js';

/**
 * Terminal output as a CI screen shows it: colours and styles (SGR) become styled segments that the
 * log renders as React text spans — never HTML. Everything else a terminal understands (cursor moves,
 * clears, window titles, hyperlinks, device strings, charset switches) is taken out first, because
 * anser passes those through as raw text; a control character that is left is shown as an escape
 * (`\u0007`), like the invisible characters of `showText`.
 */
export interface AnsiSegment {
  text: string;
  /** `r, g, b` from the parser, checked to be three numbers; null for the default colour. */
  fg: string | null;
  bg: string | null;
  /** The 16 base colours get a class instead, so that each theme can pick readable shades. */
  fgClass: string | null;
  bgClass: string | null;
  decorations: readonly string[];
}

/** OSC (titles, hyperlinks …) up to BEL or ST, or to the end of the line when unterminated. */
const OSC = /\x1b\](?:[^\x07\x1b]|\x1b(?!\\))*(?:\x07|\x1b\\|$)/g;
/** DCS, SOS, PM and APC strings, up to ST. */
const STRINGS = /\x1b[PX^_](?:[^\x1b]|\x1b(?!\\))*(?:\x1b\\|$)/g;
/** Any CSI sequence (complete or cut off at the end); only those ending in `m` (SGR) are kept. */
const CSI = /\x1b\[[0-?]*[ -/]*(?:[@-~]|$)/g;
/** Two-character and nF escapes: `ESC 7`, `ESC c`, `ESC ( B` … */
const SHORT_ESCAPE = /\x1b[ -/]*[0-Z\\-~]/g;
/** What is left that a browser would draw as nothing or as a box: C0 (but tab), DEL, C1. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;
/** Input read per line: a 60 000-character line is cut on screen long before this. */
const PARSE_MAX = 20_000;

/** The text as a terminal would leave it on one line: only what follows the last carriage return, overstrikes undone. */
function terminalLine(text: string): string {
  let line = text.length > PARSE_MAX ? text.slice(0, PARSE_MAX) : text;
  if (line.includes('\r')) {
    const parts = line.split('\r').filter((p) => p.length > 0);
    line = parts[parts.length - 1] ?? '';
  }
  if (line.includes('\b')) line = line.replace(/[^\b\n]\x08/g, '').replace(/\x08/g, '');
  return line;
}

/** The text with every escape sequence but SGR removed. */
function onlySgr(text: string): string {
  if (!text.includes('\x1b')) return text;
  return text
    .replace(OSC, '')
    .replace(STRINGS, '')
    .replace(CSI, (seq) => (seq.endsWith('m') ? seq : ''))
    .replace(SHORT_ESCAPE, '');
}

const showControls = (text: string): string =>
  revealInvisible(text).replace(CONTROL, (c) => (c === '\n' ? ' ⏎ ' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

const RGB = /^\d{1,3}, ?\d{1,3}, ?\d{1,3}$/;
/** anser's 16 base colours (its table), by their `r,g,b`. */
const BASE_COLORS: Record<string, string> = {
  '0,0,0': 'black', '187,0,0': 'red', '0,187,0': 'green', '187,187,0': 'yellow', '0,0,187': 'blue', '187,0,187': 'magenta', '0,187,187': 'cyan', '255,255,255': 'white',
  '85,85,85': 'bright-black', '255,85,85': 'bright-red', '0,255,0': 'bright-green', '255,255,85': 'bright-yellow', '85,85,255': 'bright-blue', '255,85,255': 'bright-magenta', '85,255,255': 'bright-cyan',
};

function colour(value: string | null): { rgb: string | null; cls: string | null } {
  if (!value || !RGB.test(value)) return { rgb: null, cls: null };
  const base = BASE_COLORS[value.replace(/ /g, '')];
  return base ? { rgb: null, cls: base } : { rgb: value, cls: null };
}

/** Styled segments of one log line, their text safe to show (control characters as escapes). */
export function ansiSegments(text: string): AnsiSegment[] {
  const line = onlySgr(terminalLine(text));
  if (!line.includes('\x1b')) return line ? [{ text: showControls(line), fg: null, bg: null, fgClass: null, bgClass: null, decorations: [] }] : [];
  return Anser.ansiToJson(line, { json: true, remove_empty: true }).map((s) => {
    const fg = colour(s.fg);
    const bg = colour(s.bg);
    return { text: showControls(s.content), fg: fg.rgb, bg: bg.rgb, fgClass: fg.cls, bgClass: bg.cls, decorations: s.decorations };
  });
}

/** The line as plain text — for search, group markers and downloads: no escapes, no control characters but tabs. */
export function plainText(text: string): string {
  return onlySgr(terminalLine(text)).replace(CSI, '').replace(/\x1b/g, '').replace(CONTROL, (c) => (c === '\n' ? '\n' : ''));
}
