import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
// client: the package entry point for services that schedule tasks (at-worker/client).
const LAYERS = ['domain', 'application', 'adapters', 'client', 'infrastructure'] as const;
type Layer = (typeof LAYERS)[number];

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );

/** Every import specifier of a file: static, type-only, re-exports and dynamic `import()`. */
const importsOf = (file: string): string[] => {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g), ...text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)];
  return specifiers.map((match) => match[1] as string);
};

const layerOf = (file: string): Layer => relative(src, file).split('/')[0] as Layer;

const violations = (allowed: (layer: Layer, specifier: string, target: Layer | null) => boolean) =>
  files(src).flatMap((file) =>
    importsOf(file)
      .filter((specifier) => {
        const target = specifier.startsWith('.') ? layerOf(resolve(dirname(file), specifier)) : null;
        return !allowed(layerOf(file), specifier, target);
      })
      .map((specifier) => `${relative(src, file)} imports ${specifier}`),
  );

/** The dependency rule of STYLE.md, checked on every test run so it cannot rot. */
describe('architecture', () => {
  it('keeps the domain pure: only the domain itself, fp-ts and io-ts', () => {
    expect(
      violations((layer, specifier, target) => layer !== 'domain' || target === 'domain' || /^(fp-ts|io-ts)(\/|$)/.test(specifier)),
    ).toEqual([]);
  });

  it('lets the application see only the domain, its own ports and fp-ts/io-ts', () => {
    expect(
      violations(
        (layer, specifier, target) =>
          layer !== 'application' || target === 'domain' || target === 'application' || /^(fp-ts|io-ts)(\/|$)/.test(specifier),
      ),
    ).toEqual([]);
  });

  it('points dependencies inwards only: adapters never import infrastructure', () => {
    expect(violations((layer, _specifier, target) => layer !== 'adapters' || target !== 'infrastructure')).toEqual([]);
  });

  it('keeps the scheduling client off the worker: it never imports infrastructure (config, container, main)', () => {
    expect(violations((layer, _specifier, target) => layer !== 'client' || target !== 'infrastructure')).toEqual([]);
  });

  it('keeps Inversify and decorators inside src/infrastructure', () => {
    const leaks = violations((layer, specifier) => layer === 'infrastructure' || !/^(inversify|@inversifyjs\/|reflect-metadata)/.test(specifier));
    const decorated = files(src).filter((file) => /^\s*@[a-zA-Z]+\(/m.test(readFileSync(file, 'utf8')));
    expect({ leaks, decorated: decorated.map((file) => relative(src, file)) }).toEqual({ leaks: [], decorated: [] });
  });
});
