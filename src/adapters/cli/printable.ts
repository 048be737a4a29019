import type { CliIo } from './io.js';

// C0 controls but tab and line feed, DEL, C1 controls (U+009B is a one-byte CSI to many terminals),
// the Unicode line and paragraph separators, and the bidirectional overrides and isolates that
// reorder what a reader sees ("Trojan source").
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_AND_BREAKS = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

// `\u001b`: readable, and the same character in JSON, so `--json` output stays valid and equal.
const escape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text from the database (a task_type, an error, a worker id) as it may be shown in one field of one
 * line: every control character escaped, line breaks and tabs too, so a value can neither drive the
 * terminal (retitle it, colour it, move the cursor) nor forge a line of output.
 */
export const printableField = (text: string): string => text.replace(CONTROLS_AND_BREAKS, escape);

/**
 * The operator commands' output streams with every control character but line feed and tab escaped:
 * a last line of defence for any text that reaches them unescaped. JSON output is unchanged in
 * meaning (JSON.stringify already escapes C0; a C1 or bidi character becomes its own \u escape).
 */
export const printableIo = (io: CliIo): CliIo => ({
  ...io,
  stdout: (text) => io.stdout(text.replace(CONTROLS, escape)),
  stderr: (text) => io.stderr(text.replace(CONTROLS, escape)),
});
