export * from './codes.js';
export * from './limits.js';
export * from './channel.js';
export * from './event.js';
export * from './messages.js';
export * from './runs.js';
export * from './run-reducer.js';
export * from './access.js';
