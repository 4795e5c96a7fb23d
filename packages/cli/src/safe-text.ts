/**
 * Text from the hub is written by whoever published the event, so it may hold terminal control
 * sequences: CSI (`ESC [ 2 J` clears the screen), OSC (`ESC ] 0 ; title BEL` sets the window title,
 * `ESC ] 52 ; c ; …` writes the clipboard), their 8-bit C1 forms (U+009B, U+009D), carriage returns and
 * backspaces that overwrite what was printed, or bidi overrides that reorder it. The terminal must show
 * them, never obey them: every such character is written as a visible escape.
 */

/**
 * C0 controls (newline and tab included: one event is one line), DEL, C1 controls, the line and
 * paragraph separators, and the bidi marks, embeddings, overrides and isolates.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw: it already writes every C0 control as an escape. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const hex = (char: string, width: number) => char.charCodeAt(0).toString(16).padStart(width, '0');

/** For people: `\n`, `\r`, `\t`, `\x1b` (C0 and DEL), `\u009b` (everything else), as in a JavaScript string. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (char) => NAMED[char] ?? (char <= '\u007f' ? `\\x${hex(char, 2)}` : `\\u${hex(char, 4)}`));
}

/** `JSON.stringify` whose output holds no control character: still valid JSON that parses to the same value. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, (char) => `\\u${hex(char, 4)}`);
}
