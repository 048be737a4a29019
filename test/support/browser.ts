import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/**
 * Debian's headless Chromium, as `.ci/run` installs it, with a fresh profile each time. The flags
 * keep it off the network (no component updates, sync or QUIC probes) and runnable as root in a
 * container (--no-sandbox); the profile directory is removed on close.
 */
export const launchBrowser = async (): Promise<{ browser: Browser; close: () => Promise<void> }> => {
  const profile = mkdtempSync(join(tmpdir(), 'atw-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    protocolTimeout: 60_000,
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
};
