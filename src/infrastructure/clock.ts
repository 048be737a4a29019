import type { Clock } from '../application/ports.js';

/** The wall clock, for everything the process wires up (the container and the wake-up sources). */
export const systemClock: Clock = { now: () => new Date() };
