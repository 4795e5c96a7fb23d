import { checkChannel, Defaults, MAX_CLIENT_ID_LENGTH, type SenderInfo } from '@herald/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HeraldConfig } from '../config.js';
import { HeraldError } from '../errors.js';
import { requireChannel } from '../events-in.js';
import type { Hub } from '../hub.js';
import type { ConnectionCounter } from '../quota/connection-counter.js';
import type { PublishLimiter } from '../quota/publish-limiter.js';
import { addressKey } from '../quota/rate-limited.js';
import { checkReply, checkRequest } from '../rpc/payload.js';
import { HttpResponder, type ResponderPolls } from './responder-polls.js';

export interface RequestRoutesContext {
  hub: Hub;
  config: HeraldConfig;
  limiter: PublishLimiter;
  connectionsPerIp: ConnectionCounter;
  responders: ResponderPolls;
  isShuttingDown(): boolean;
}

const REQUEST_KEYS = new Set(['type', 'data', 'timeoutMs']);
const REPLY_KEYS = new Set(['data', 'error']);

const pollQuery = {
  type: 'object',
  properties: {
    wait: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    limit: { type: 'integer', minimum: 1, maximum: Defaults.maxPendingRequests },
    responder: { type: 'string', pattern: `^[A-Za-z0-9_.:-]{1,${MAX_CLIENT_ID_LENGTH}}$` },
  },
  additionalProperties: false,
} as const;

/**
 * Request/reply over HTTP (docs/http-api.md#requests): a requester's POST that waits for the reply, and
 * the long-poll and reply of responders that have no WebSocket (Python's standard library, curl).
 * Held requests and polls count against the address's connections (`--max-connections-per-ip`), and
 * one whose caller goes away is let go at once.
 */
export function registerRequestRoutes(app: FastifyInstance, ctx: RequestRoutesContext): void {
  const { hub, config, limiter, connectionsPerIp, responders } = ctx;

  app.post('/api/channels/:channel/requests', async (request, reply) => {
    if (ctx.isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down; send the request again after it restarts');
    const channel = requireChannel((request.params as { channel: string }).channel);
    const body = objectBody(request, REQUEST_KEYS, 'the body must be {"type", "data"?, "timeoutMs"?}');
    const input = checkRequest(body, config);
    const who = request.principal;
    // Asked before anything is held, so that a refusal is a plain 401/403 (Hub.request asks again).
    hub.authorize(who, { kind: 'request', channel });
    const address = addressKey(request.ip);
    limiter.admit(limiter.socketBucket(request.raw.socket), address, 1);
    if (!connectionsPerIp.tryAcquire(address)) {
      throw new HeraldError('too_many_connections', `this address already holds ${connectionsPerIp.max} WebSocket, SSE, long-poll and waiting requests (--max-connections-per-ip): wait for some to be answered`);
    }
    const release = connectionsPerIp.releaser(address);
    const gone = new AbortController();
    // The requester went away: its request is cancelled (the responder's late reply is refused).
    reply.raw.once('close', () => gone.abort());
    // The hub's idle timeout (--headers-timeout) is for requests that send nothing, not for this one.
    request.raw.socket.setTimeout(0);
    const from: SenderInfo = hub.access.required ? { user: who.name } : {};
    try {
      const data = await hub.request(who, { channel, ...input, from, signal: gone.signal });
      return data === undefined ? { channel } : { channel, data };
    } finally {
      release();
    }
  });

  app.get('/api/channels/:channel/requests', { schema: { querystring: pollQuery } }, async (request, reply) => {
    const name = (request.params as { channel: string }).channel;
    const check = checkChannel(name, true);
    if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
    if (ctx.isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down');
    const who = request.principal;
    hub.authorize(who, { kind: 'serve', channel: name });
    const query = request.query as { wait?: number; limit?: number; responder?: string };
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    request.raw.socket.setTimeout(0);
    const wait = Math.min(query.wait ?? config.pollWaitMs, config.pollWaitMs);
    const expiresIn = who.expiresAt === undefined ? wait : Math.max(0, who.expiresAt - Date.now());
    const requests = await responders.poll(who, name, query.responder ?? '', addressKey(request.ip), Math.min(wait, expiresIn), query.limit ?? config.maxPendingRequests, gone.signal);
    return { channel: name, requests };
  });

  app.post('/api/channels/:channel/requests/:id/reply', async (request) => {
    const { channel: name, id } = request.params as { channel: string; id: string };
    const channel = requireChannel(name);
    const who = request.principal;
    hub.authorize(who, { kind: 'serve', channel });
    const answer = checkReply(objectBody(request, REPLY_KEYS, 'the body must be {"data"} or {"error": "why"}'), config);
    // Only the HTTP responder (same credentials) the request was handed to may answer it.
    hub.reply(id, (responder, asked) => responder instanceof HttpResponder && asked === channel && responder.principal.kind === who.kind && responder.principal.name === who.name, answer);
    return { requestId: id };
  });
}

function objectBody(request: FastifyRequest, keys: ReadonlySet<string>, shape: string): Record<string, unknown> {
  const body = request.body;
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw new HeraldError('bad_request', shape);
  for (const key of Object.keys(body)) if (!keys.has(key)) throw new HeraldError('bad_request', `unknown field "${key.slice(0, 64)}": ${shape}`);
  return body as Record<string, unknown>;
}
