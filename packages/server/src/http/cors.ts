import type { FastifyInstance } from 'fastify';

/**
 * Lets browser apps on another origin use the HTTP API and SSE (WebSockets need no CORS). Preflights
 * are answered here so that routes stay unaware of them.
 */
export function registerCors(app: FastifyInstance, origin: string): void {
  if (origin === 'off' || origin === '') return;
  app.addHook('onRequest', async (request, reply) => {
    reply.header('access-control-allow-origin', origin);
    if (origin !== '*') reply.header('vary', 'origin');
    if (request.method === 'OPTIONS') {
      reply
        .header('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS')
        .header('access-control-allow-headers', request.headers['access-control-request-headers'] ?? 'content-type, authorization, last-event-id')
        .header('access-control-max-age', '600')
        .code(204)
        .send();
    }
  });
  // Without a route, an OPTIONS request would be a 404 before the hook could answer it.
  app.options('/*', async () => undefined);
}
