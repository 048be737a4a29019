import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
// client: the package entry point for services that schedule tasks (at-worker/client).
type Layer = 'shared' | 'domain' | 'application' | 'adapters' | 'client' | 'infrastructure';

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );

/** Every import specifier of a file: static, type-only, re-exports and dynamic `import()`. */
const importsOf = (file: string): string[] => {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g),
    ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g),
  ];
  return specifiers.map((match) => match[1] as string);
};

const layerOf = (file: string): Layer => relative(src, file).split('/')[0] as Layer;
/** The adapter a file of src/adapters belongs to (cli, executors, observability, postgres). */
const adapterOf = (file: string): string | undefined => relative(src, file).split('/')[1];

const violations = (allowed: (layer: Layer, specifier: string, target: Layer | null, file: string) => boolean) =>
  files(src).flatMap((file) =>
    importsOf(file)
      .filter((specifier) => {
        const target = specifier.startsWith('.') ? layerOf(resolve(dirname(file), specifier)) : null;
        return !allowed(layerOf(file), specifier, target, file);
      })
      .map((specifier) => `${relative(src, file)} imports ${specifier}`),
  );

const FP = /^(fp-ts|io-ts)(\/|$)/;

/** The dependency rule of STYLE.md, checked on every test run so it cannot rot. */
describe('architecture', () => {
  it('keeps src/shared general and pure: only itself, fp-ts and io-ts, nothing of the project', () => {
    expect(violations((layer, specifier, target) => layer !== 'shared' || target === 'shared' || FP.test(specifier))).toEqual([]);
  });

  it('keeps the domain pure: only the domain itself, src/shared, fp-ts and io-ts', () => {
    expect(
      violations((layer, specifier, target) => layer !== 'domain' || target === 'domain' || target === 'shared' || FP.test(specifier)),
    ).toEqual([]);
  });

  it('lets the application see only the domain, src/shared, its own ports and fp-ts/io-ts', () => {
    const inner = new Set<Layer | null>(['domain', 'application', 'shared']);
    expect(violations((layer, specifier, target) => layer !== 'application' || inner.has(target) || FP.test(specifier))).toEqual([]);
  });

  it('lets adapters meet only through ports or src/shared: no adapter imports another', () => {
    expect(
      violations((layer, specifier, target, file) => {
        if (layer !== 'adapters' || target !== 'adapters') return true;
        return adapterOf(resolve(dirname(file), specifier)) === adapterOf(file);
      }),
    ).toEqual([]);
  });

  it('points dependencies inwards only: adapters never import infrastructure', () => {
    expect(violations((layer, _specifier, target) => layer !== 'adapters' || target !== 'infrastructure')).toEqual([]);
  });

  it('keeps the scheduling client off the worker: it never imports infrastructure (config, container, main)', () => {
    expect(violations((layer, _specifier, target) => layer !== 'client' || target !== 'infrastructure')).toEqual([]);
  });

  it('keeps OpenTelemetry inside its adapter (src/adapters/observability), loaded by infrastructure only when tracing is on', () => {
    const leaks = violations(
      (layer, specifier, _target, file) =>
        !specifier.startsWith('@opentelemetry/') || (layer === 'adapters' && adapterOf(file) === 'observability'),
    );
    expect(leaks).toEqual([]);
  });

  it('keeps Inversify and decorators inside src/infrastructure', () => {
    const leaks = violations(
      (layer, specifier) => layer === 'infrastructure' || !/^(inversify|@inversifyjs\/|reflect-metadata)/.test(specifier),
    );
    const decorated = files(src).filter((file) => /^\s*@[a-zA-Z]+\(/m.test(readFileSync(file, 'utf8')));
    expect({ leaks, decorated: decorated.map((file) => relative(src, file)) }).toEqual({ leaks: [], decorated: [] });
  });
});
