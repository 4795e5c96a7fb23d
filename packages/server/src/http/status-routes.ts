import type { NodeFigures, StatsResponse } from '@herald/protocol';
import type { FastifyInstance } from 'fastify';
import type { Hub } from '../hub.js';
import type { ConnectionCounts, HubStats } from '../stats.js';

export interface StatusRoutesContext {
  hub: Hub;
  stats: HubStats;
  connections(): ConnectionCounts;
  isShuttingDown(): boolean;
  /** Runs per status, for overview cards. */
  runCounts(): Record<string, number>;
  /** Every hub of the cluster, this one first. */
  nodes(): Promise<NodeFigures[]>;
  /** The heartbeat interval, named in `/health` for clients that judge an SSE stream before its first heartbeat. */
  heartbeatMs: number;
}

/** Health for load balancers, stats for people and dashboards, metrics for Prometheus. */
export function registerStatusRoutes(app: FastifyInstance, { hub, stats, connections, isShuttingDown, runCounts, nodes, heartbeatMs }: StatusRoutesContext): void {
  app.get('/health', async (_request, reply) => {
    const counts = connections();
    const storage = hub.storageHealth();
    // Degraded is still up (reads and subscriptions work): 200, so that a load balancer keeps the node,
    // with the reason for people and monitors. Shutting down is 503.
    if (isShuttingDown()) reply.code(503);
    return {
      status: isShuttingDown() ? 'shutting_down' : storage.status,
      ...(storage.reason ? { reason: storage.reason } : {}),
      uptimeSeconds: stats.uptimeSeconds(),
      connections: counts.websocket + counts.sse + counts.poll,
      heartbeatMs,
    };
  });

  app.get('/api/stats', async (request): Promise<StatsResponse> => {
    hub.authorize(request.principal, { kind: 'admin', what: '/api/stats' });
    const [channels, stored, cluster] = await Promise.all([hub.channelCount(request.principal), hub.storedTotals(request.principal), nodes()]);
    // This hub's figures are the first node's, taken now.
    const self = cluster[0]!;
    const sum = (figure: (node: NodeFigures) => number) => Math.round(cluster.reduce((total, node) => total + figure(node), 0) * 10) / 10;
    return {
      uptimeSeconds: stats.uptimeSeconds(),
      connections: self.connections,
      channels,
      stored,
      events: self.events,
      slowConsumerCloses: stats.slowConsumerCloses,
      runs: runCounts(),
      node: self.id,
      cluster: {
        nodes: cluster,
        totals: { nodes: cluster.length, connections: sum((n) => n.connections.total), inPerSecond: sum((n) => n.events.inPerSecond), outPerSecond: sum((n) => n.events.outPerSecond) },
      },
    };
  });

  app.get('/metrics', async (request, reply) => {
    hub.authorize(request.principal, { kind: 'admin', what: '/metrics' });
    reply.type(stats.registry.contentType);
    return stats.registry.metrics();
  });
}
