import type { Redis } from 'ioredis';
import type { HeraldConfig } from '../config.js';
import type { Hub } from '../hub.js';
import { ClientDirectory } from './client-directory.js';
import { DirectRelay } from './direct-relay.js';
import { LocalPeers, RedisPeers, type PeerLink } from './peers.js';
import { RequestRelay } from './request-relay.js';

/** Beyond one event or request's bytes, what a message between hubs may carry (ids, names, its envelope). */
const PEER_ENVELOPE_BYTES = 16 * 1024;
/** How long a starting hub waits for Redis to confirm it listens for the other hubs. */
const PEERS_READY_MS = 5000;

/** A hub's ties to the others of its Redis, in the order a shutdown undoes them. */
export interface HubLinks {
  readonly peers: PeerLink;
  /** Other hubs stop sending requests here (before this hub's responders go). */
  stopServing(): Promise<void>;
  /** Stops listening to the other hubs (after the connections closed). */
  close(): Promise<void>;
}

/**
 * Joins a hub to the others on its Redis (docs/cluster.md#direct-messages-and-requests): a peer link,
 * the client directory for direct messages and the responder lists for requests. Without Redis a hub
 * is alone (LocalPeers) and the hub keeps doing everything itself.
 */
export async function linkHubs(hub: Hub, control: Redis | undefined, config: HeraldConfig, nodeId: string, onError: (error: unknown, what: string) => void): Promise<HubLinks> {
  if (!control) {
    const peers = new LocalPeers(nodeId);
    return { peers, stopServing: async () => {}, close: () => peers.close() };
  }
  const peers = new RedisPeers({ url: config.redisUrl, prefix: config.redisPrefix, self: nodeId, publisher: control, maxMessageBytes: config.maxMessageBytes + PEER_ENVELOPE_BYTES });
  // Listening before taking connections, so the first claim's handover is heard; a slow Redis only delays it.
  await Promise.race([peers.ready.catch(() => {}), new Promise((resolve) => setTimeout(resolve, PEERS_READY_MS).unref())]);
  const direct = new DirectRelay(peers, new ClientDirectory(control, config.redisPrefix, nodeId, config.directQueueMs), hub.direct, () => config.directQueueCount, onError);
  const requests = new RequestRelay({
    peers,
    redis: control,
    prefix: config.redisPrefix,
    availableHere: (channel) => hub.respondersHere(channel),
    requestHere: (input) => hub.requestHere(input),
    onError,
  });
  hub.joinCluster({ direct, requests });
  return {
    peers,
    stopServing: () => requests.close(),
    close: async () => {
      await requests.close();
      direct.close();
      await peers.close();
    },
  };
}
