import { Defaults, type PresenceResponse } from '@herald/protocol';
import type { FastifyInstance } from 'fastify';
import type { Hub } from '../hub.js';
import { parsePresenceQuery } from '../presence/query.js';

/** `GET /api/channels/{channel}/presence`: who is subscribed to a channel (on every hub of a cluster), a page at a time. */
export function registerPresenceRoutes(app: FastifyInstance, hub: Hub): void {
  app.get(
    '/api/channels/:channel/presence',
    {
      schema: {
        params: { type: 'object', properties: { channel: { type: 'string' } }, required: ['channel'] },
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: Defaults.maxPresencePage },
            // The previous answer's `next` (parsePresenceQuery says what is wrong with anything else).
            after: { type: 'string', maxLength: 32 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request): Promise<PresenceResponse> => {
      const { limit, after } = request.query as { limit?: number; after?: string };
      const query = parsePresenceQuery((request.params as { channel: string }).channel, limit, after);
      const page = await hub.presence(request.principal, query);
      return { channel: query.channel, count: page.count, clients: page.clients, next: page.next ?? null };
    },
  );
}
