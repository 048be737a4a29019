/**
 * Splits a SQL script into statements. Needed because slonik sends every query with the extended
 * protocol, which accepts one statement at a time. Understands what sql/ddl.sql uses: `--` and
 * `/* *\/` comments, '...' strings, "..." identifiers and $tag$...$tag$ bodies (a `;` inside any of
 * them does not end a statement). Statements that are only comments are dropped.
 */
export const splitSqlStatements = (script: string): string[] => {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const text = script.slice(start, end).trim();
    if (stripComments(text).trim() !== '') statements.push(text);
  };
  while (i < script.length) {
    const rest = script.slice(i, i + 2);
    const ch = script[i];
    if (rest === '--') i = indexAfter(script, '\n', i);
    else if (rest === '/*') i = indexAfter(script, '*/', i + 2);
    else if (ch === "'" || ch === '"') i = indexAfter(script, ch, i + 1);
    else if (ch === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(script.slice(i))?.[0];
      i = tag === undefined ? i + 1 : indexAfter(script, tag, i + tag.length);
    } else if (ch === ';') {
      push(i);
      i += 1;
      start = i;
    } else i += 1;
  }
  push(script.length);
  return statements;
};

/** Index just past the next `token` at or after `from`; the end of the script if there is none. */
const indexAfter = (script: string, token: string, from: number): number => {
  const at = script.indexOf(token, from);
  return at === -1 ? script.length : at + token.length;
};

const stripComments = (text: string): string => text.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
