import type { FastifyInstance } from 'fastify';
import type { HeraldConfig } from '../config.js';
import { requireClientId } from '../direct/client-id.js';
import { HeraldError } from '../errors.js';
import { prepareConfigured } from '../events-in.js';
import type { Hub } from '../hub.js';
import type { PublishLimiter } from '../quota/publish-limiter.js';
import { addressKey } from '../quota/rate-limited.js';

export interface DirectRoutesContext {
  hub: Hub;
  config: HeraldConfig;
  limiter: PublishLimiter;
  isShuttingDown(): boolean;
}

const clientParams = {
  type: 'object',
  properties: { clientId: { type: 'string' } },
  required: ['clientId'],
} as const;

/** `POST /api/clients/{clientId}/events`: one event to one client id (200 delivered, 202 queued, 404 unknown_client). */
export function registerDirectRoutes(app: FastifyInstance, { hub, config, limiter, isShuttingDown }: DirectRoutesContext): void {
  app.post('/api/clients/:clientId/events', { schema: { params: clientParams } }, async (request, reply) => {
    if (isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down; send again after it restarts');
    const to = requireClientId((request.params as { clientId: string }).clientId);
    const body = request.body;
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HeraldError('bad_request', 'the body must be one event object (a direct message is one event)');
    }
    limiter.admit(limiter.socketBucket(request.raw.socket), addressKey(request.ip), 1);
    const [input] = prepareConfigured([body], config);
    const status = await hub.sendDirect(request.principal, to, input!);
    reply.code(status === 'delivered' ? 200 : 202);
    return { to, status };
  });
}
