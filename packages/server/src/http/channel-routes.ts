import { checkChannel, Defaults, isPattern, MAX_CHANNEL_LENGTH, type ChannelListResponse, type EphemeralPublishResponse } from '@herald/protocol';
import type { FastifyInstance } from 'fastify';
import type { HeraldConfig } from '../config.js';
import { HeraldError } from '../errors.js';
import { prepareConfigured, requireChannel } from '../events-in.js';
import { Delivery } from '../fanout/delivery.js';
import type { Hub } from '../hub.js';
import type { PublishLimiter } from '../quota/publish-limiter.js';
import { addressKey } from '../quota/rate-limited.js';

export interface ChannelRoutesContext {
  hub: Hub;
  config: HeraldConfig;
  limiter: PublishLimiter;
  isShuttingDown(): boolean;
}

const channelParams = {
  type: 'object',
  properties: { channel: { type: 'string' } },
  required: ['channel'],
} as const;

/** Publishing, history, the channel list and channel reset. */
export function registerChannelRoutes(app: FastifyInstance, { hub, config, limiter, isShuttingDown }: ChannelRoutesContext): void {
  const publishQuery = { type: 'object', properties: { ephemeral: { type: 'boolean' } } } as const;
  app.post('/api/channels/:channel/events', { schema: { params: channelParams, querystring: publishQuery } }, async (request, reply) => {
    if (isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down; publish again after it restarts');
    const channel = requireChannel((request.params as { channel: string }).channel);
    const body = request.body;
    if (body === undefined || body === null || typeof body !== 'object') {
      throw new HeraldError('bad_request', 'the body must be one event object or an array of events');
    }
    const raw = Array.isArray(body) ? body : [body];
    if (raw.length === 0) throw new HeraldError('bad_request', 'the array of events is empty');
    if (raw.length > Defaults.maxBatchEvents) {
      throw new HeraldError('too_many_events', `a batch may hold at most ${Defaults.maxBatchEvents} events (got ${raw.length})`);
    }
    // A keep-alive socket is a connection like a WebSocket; every event of a batch counts.
    limiter.admit(limiter.socketBucket(request.raw.socket), addressKey(request.ip), raw.length);
    const inputs = prepareConfigured(raw, config);
    if ((request.query as { ephemeral?: boolean }).ephemeral === true) {
      await hub.publishEphemeral(request.principal, channel, inputs);
      return { channel, ephemeral: true, count: inputs.length } satisfies EphemeralPublishResponse;
    }
    const result = await hub.publish(request.principal, channel, inputs);
    reply.code(201);
    return { channel, epoch: result.epoch, offsets: result.offsets };
  });

  app.get(
    '/api/channels/:channel/events',
    {
      schema: {
        params: channelParams,
        querystring: {
          type: 'object',
          properties: {
            since: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
            limit: { type: 'integer', minimum: 1, maximum: Defaults.maxHistoryPage },
            // Patterns only: the previous page's `next`.
            before: { type: 'string', minLength: 1, maxLength: 512, pattern: '^[A-Za-z0-9_:-]+$' },
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const name = (request.params as { channel: string }).channel;
      const query = request.query as { since?: number; limit?: number; before?: string };
      if (isPattern(name)) {
        // Across the channels a pattern matches: the newest events first, a page at a time.
        const check = checkChannel(name, true);
        if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
        if (query.since !== undefined) throw new HeraldError('bad_request', 'a pattern\'s history is read newest first: page with before=<next>, not since');
        const page = await hub.newest(request.principal, name, { before: query.before, limit: query.limit ?? Defaults.defaultHistoryPage });
        const events = page.events.map((e) => new Delivery(e.epoch, e).envelope());
        reply.type('application/json; charset=utf-8');
        // `time` (the hub's clock): with the newest event's time, where a pattern subscription resumes after this page.
        return `{"channel":${JSON.stringify(name)},"events":[${events.join(',')}],"next":${page.next === undefined ? 'null' : JSON.stringify(page.next)},"time":${Date.now()}}`;
      }
      const channel = requireChannel(name);
      if (query.before !== undefined) throw new HeraldError('bad_request', 'before pages a pattern\'s history; a channel\'s history pages with since=<next>');
      const since = query.since ?? 0;
      const page = await hub.history(request.principal, channel, since, query.limit ?? Defaults.defaultHistoryPage);
      const { epoch, latest, earliest } = page.position;
      const events = page.events.map((e) => new Delivery(epoch, e).envelope());
      const next = page.events.at(-1)?.offset ?? Math.max(since, Math.min(latest, earliest - 1));
      // Stored events are already JSON text: the page is assembled, not re-serialised.
      reply.type('application/json; charset=utf-8');
      return `{"channel":"${channel}","epoch":"${epoch}","latest":${latest},"earliest":${earliest},"events":[${events.join(',')}],"next":${next}}`;
    },
  );

  app.get(
    '/api/channels',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            // Channel names only hold [A-Za-z0-9_.-]; a prefix or cursor with anything else matches nothing.
            prefix: { type: 'string', maxLength: MAX_CHANNEL_LENGTH, pattern: '^[A-Za-z0-9_.-]*$' },
            cursor: { type: 'string', maxLength: MAX_CHANNEL_LENGTH, pattern: '^[A-Za-z0-9_.-]*$' },
            limit: { type: 'integer', minimum: 1, maximum: Defaults.maxChannelPage },
          },
          additionalProperties: false,
        },
      },
    },
    async (request): Promise<ChannelListResponse> => {
      const query = request.query as { prefix?: string; cursor?: string; limit?: number };
      const page = await hub.channels(request.principal, { prefix: query.prefix, after: query.cursor, limit: query.limit ?? Defaults.defaultChannelPage });
      return {
        channels: page.channels.map((c) => ({ name: c.name, epoch: c.epoch, offset: c.latest, lastEventTime: c.lastTime ?? null, subscribers: c.subscribers, watching: c.watching })),
        next: page.next ?? null,
      };
    },
  );

  app.delete('/api/channels/:channel', { schema: { params: channelParams } }, async (request) => {
    const channel = requireChannel((request.params as { channel: string }).channel);
    const position = await hub.reset(request.principal, channel);
    return { channel, epoch: position.epoch, offset: position.latest };
  });
}
