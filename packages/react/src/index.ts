export { HeraldProvider, useHerald, type HeraldProviderProps } from './context.js';
export { useConnectionState, useChannel, useEvents, type ConnectionInfo, type ChannelView } from './hooks.js';
export { usePresence, type PresenceView } from './presence-hook.js';
export { useRun, useRuns, type RunView, type RunsView, type RunsFilter } from './run-hooks.js';
export { ConnectionStatus, type ConnectionStatusProps } from './connection-status.js';
