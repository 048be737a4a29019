import * as E from 'fp-ts/lib/Either.js';

/** Which options a command takes: `true` for an option with a value, `false` for a flag. */
export type OptionSpec = Readonly<Record<string, boolean>>;

export interface ParsedArgs {
  readonly positionals: readonly string[];
  /** Options with a value, by name without dashes. */
  readonly values: Readonly<Record<string, string>>;
  /** Flags that were given, by name without dashes. */
  readonly flags: ReadonlySet<string>;
}

/**
 * A small, strict argv parser: `--name value`, `--name=value`, boolean `--flag`, `-h` for `--help`,
 * `--` ends options. Unknown options, repeated options and missing values are errors (exit 2), not
 * silently ignored: a mistyped `--max-attemps 5` must not schedule a task with the default.
 */
export const parseArgs = (argv: readonly string[], spec: OptionSpec): E.Either<string, ParsedArgs> => {
  const positionals: string[] = [];
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const known: OptionSpec = { ...spec, help: false };
  for (let i = 0; i < argv.length; i += 1) {
    const token = argv[i] as string;
    if (token === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (token === '-h') {
      flags.add('help');
      continue;
    }
    if (!token.startsWith('--')) {
      if (token.length > 1 && token.startsWith('-') && !/^-\d/.test(token)) return E.left(`unknown option ${token}`);
      positionals.push(token);
      continue;
    }
    const equals = token.indexOf('=');
    const name = token.slice(2, equals === -1 ? undefined : equals);
    const takesValue = known[name];
    if (takesValue === undefined) return E.left(`unknown option --${name}`);
    if (values[name] !== undefined || flags.has(name)) return E.left(`--${name} given twice`);
    if (!takesValue) {
      if (equals !== -1) return E.left(`--${name} takes no value`);
      flags.add(name);
      continue;
    }
    if (equals !== -1) {
      values[name] = token.slice(equals + 1);
      continue;
    }
    const next = argv[i + 1];
    // `--type --payload x` is a forgotten value, not a type named "--payload".
    if (next === undefined || (next.startsWith('--') && known[next.slice(2).split('=')[0] as string] !== undefined))
      return E.left(`--${name} needs a value`);
    values[name] = next;
    i += 1;
  }
  return E.right({ positionals, values, flags });
};
