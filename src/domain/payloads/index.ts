export * from './decode.js';
export * from './http-callback.js';
