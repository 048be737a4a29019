import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DOCS = join(dirname(fileURLToPath(import.meta.url)), '../../docs');
let scratch: string | undefined;

/**
 * Where a browser test writes a screenshot named `name`: docs/ when DOCS_SCREENSHOTS=1 (what
 * `npm run docs:screenshots` sets, to retake the README's pictures on purpose), otherwise a
 * temporary directory. The picture is taken on every run either way, so the code that takes it
 * stays tested, but a plain `npm test` leaves the tracked PNGs alone: their times and ids differ on
 * every run, so rewriting them would dirty every developer's tree without showing anything new.
 */
export const screenshotPath = (name: string): string => {
  if (process.env['DOCS_SCREENSHOTS'] === '1') {
    mkdirSync(DOCS, { recursive: true });
    return join(DOCS, name);
  }
  scratch ??= mkdtempSync(join(tmpdir(), 'atw-screenshots-'));
  return join(scratch, name);
};
