#!/usr/bin/env node
/**
 * Every entry point (`npm start`, `npx at-worker`, `node dist/src/infrastructure/main.js ...`, the
 * image's CMD) starts here, and the first thing it does is check Node's version: the worker's
 * modules need Node 24 (Promise.withResolvers, process.execve, slonik's engines), and on an older
 * Node they fail far from the cause (a connect retried forever on "Promise.withResolvers is not a
 * function"). So this file imports nothing statically and uses only syntax any Node parses; the
 * real entry, process-main.ts, is loaded only once the version is known to be enough.
 */
var REQUIRED_MAJOR = 24;
var found = process.versions.node;

if (Number(found.split('.')[0]) < REQUIRED_MAJOR) {
  process.stderr.write(
    'at-worker needs Node.js ' +
      REQUIRED_MAJOR +
      ' or newer, but this is Node.js ' +
      found +
      ' (' +
      process.execPath +
      ').\n' +
      'Run it through npm, which uses the Node ' +
      REQUIRED_MAJOR +
      ' that `npm ci` installs into node_modules:\n' +
      '  npm start, npm run start:embedded, npx at-worker <command>\n' +
      'or install Node.js ' +
      REQUIRED_MAJOR +
      ' (https://nodejs.org/, or `nvm install ' +
      REQUIRED_MAJOR +
      '`).\n',
  );
  process.exitCode = 1;
} else {
  import('./process-main.js').catch(function (cause: unknown) {
    process.stderr.write('at-worker: ' + String(cause) + '\n');
    process.exitCode = 1;
  });
}

export {};
