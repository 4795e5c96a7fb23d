import type { RedisOptions } from 'ioredis';

/**
 * How every Redis connection of a hub behaves (store, broker, control, presence, peers): each command
 * is answered or rejected within `commandTimeoutMs`, commands queue while (re)connecting but are flushed
 * with an error on every failed attempt, and one in flight when the connection dropped is never sent
 * again (it may have run). Reconnects back off to one a second.
 */
export function hubRedisOptions(connectionName: string, commandTimeoutMs = 2000): RedisOptions {
  return {
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    connectionName,
  };
}

/**
 * A connection in subscriber mode needs neither the ready check's INFO nor CLIENT SETINFO, and both fail
 * on it: ioredis writes (P)SUBSCRIBE while still connecting, so a subscription made then can put the
 * connection in subscriber mode before them; the ready check then fails and ioredis drops the
 * connection with every command on it ("Connection in subscriber mode…", seen once in a test run;
 * ioredis issue #2037).
 */
export function subscriberRedisOptions(connectionName: string, commandTimeoutMs = 2000): RedisOptions {
  return { ...hubRedisOptions(connectionName, commandTimeoutMs), enableReadyCheck: false, disableClientInfo: true };
}
