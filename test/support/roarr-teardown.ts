/**
 * slonik logs through roarr, which on first import adds an 'error' listener to process.stdout and
 * keeps its teardown in globalThis.ROARR. A process imports it once, but jest gives every test file
 * its own globals and module registry over the one process.stdout: the eleventh suite importing
 * slonik added the eleventh listener, and node printed a MaxListenersExceededWarning. Each file
 * removes its own listener when it ends.
 */
afterAll(() => {
  (globalThis as { ROARR?: { teardown?: () => void } }).ROARR?.teardown?.();
});
