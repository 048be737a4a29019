export * from './http-callback.js';
export * from './rabbitmq.js';
export * from './email.js';
