import { printableField } from './printable.js';

/**
 * A plain-text table: columns padded to their widest cell, two spaces apart, the last column left
 * ragged (it holds free text such as error messages, which should not be cut). No colours or
 * box-drawing, so it survives `| grep`, `| less` and copying into a ticket. Cells are printable
 * fields: a value holding a line break or a control character cannot forge a row or drive the terminal.
 */
export const renderTable = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const all = [header, ...rows.map((row) => row.map(printableField))];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
};

/** `1234567` → `1,234,567`, fixed to en-US so output does not depend on the machine's locale. */
export const formatCount = (value: number): string => value.toLocaleString('en-US');

export const formatTime = (date: Date | null): string => (date === null ? '-' : date.toISOString());

/** 42.5 → `42.5s`, 3,700 → `1h 1m 40s`: how long, for people. */
export const formatSeconds = (seconds: number): string => {
  if (seconds < 60) return `${Math.round(seconds * 10) / 10}s`;
  const whole = Math.round(seconds);
  const parts = [
    [Math.floor(whole / 86_400), 'd'],
    [Math.floor((whole % 86_400) / 3600), 'h'],
    [Math.floor((whole % 3600) / 60), 'm'],
    [whole % 60, 's'],
  ] as const;
  return parts
    .filter(([value]) => value > 0)
    .map(([value, unit]) => `${value}${unit}`)
    .join(' ');
};
