import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Gatekeeper } from '../access/gatekeeper.js';
import type { Principal } from '../access/principal.js';
import { HeraldError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as; every route hands it to the hub. */
    principal: Principal;
  }
}

/**
 * Routes that anyone may call: health for load balancers, who-am-I and sign-in, and the dashboard's
 * static files (its data comes from the API). A caller without credentials is refused everywhere else
 * before the request is even validated.
 */
const PUBLIC_ROUTES = new Set(['/health', '/api/auth/me', '/api/auth/session', '/', '/*']);

/**
 * The SSE route takes `?ticket=` because EventSource cannot send an Authorization header; the long-poll
 * route, the SSE fallback's own fallback, takes it like SSE does.
 */
const TICKET_ROUTES = new Set(['/api/channels/:channel/stream', '/api/channels/:channel/poll']);

/**
 * Every HTTP request passes here first: forged `Host` → 421, foreign `Origin` → 403 (preflights
 * included), then the caller's credentials become `request.principal`. Allowed cross-origin pages get
 * CORS headers naming their own origin — never `*`, never an origin that is not allowed.
 */
export function registerAccessHooks(app: FastifyInstance, gate: Gatekeeper): void {
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (request, reply) => {
    const verdict = gate.checkBrowser(request.headers);
    if (verdict === 'cross') {
      reply.header('access-control-allow-origin', request.headers.origin!).header('vary', 'origin');
      if (request.method === 'OPTIONS') {
        reply
          .header('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS')
          .header('access-control-allow-headers', 'content-type, authorization, last-event-id')
          .header('access-control-max-age', '600')
          .code(204)
          .send();
        return reply;
      }
    }
    request.principal = await gate.principalOf(request.headers, ticketOf(request));
    if (request.principal.kind === 'anonymous' && !PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) gate.policy.requireLive(request.principal);
    return undefined;
  });
  // Without a route, a preflight would be a 404 before the hook could answer it.
  app.options('/*', async (request) => {
    if (request.headers.origin === undefined) throw new HeraldError('not_found', 'OPTIONS is for CORS preflights');
    return '';
  });
}

function ticketOf(request: FastifyRequest): string | undefined {
  if (!TICKET_ROUTES.has(request.routeOptions.url ?? '')) return undefined;
  const ticket = (request.query as { ticket?: unknown }).ticket;
  return typeof ticket === 'string' ? ticket : undefined;
}
