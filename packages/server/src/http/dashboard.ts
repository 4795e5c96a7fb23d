import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * Serves the dashboard's built files at `/` (it uses hash routes, so no fallback page is needed).
 * Without a dashboard, `/` says where the API and docs are instead of a bare 404.
 */
export async function registerDashboard(app: FastifyInstance, dir: string): Promise<void> {
  const root = dir && dir !== 'off' ? resolve(dir) : '';
  if (root && existsSync(join(root, 'index.html'))) {
    await app.register(fastifyStatic, { root, prefix: '/', index: ['index.html'], cacheControl: true, maxAge: '1h' });
    return;
  }
  app.get('/', async () => ({
    name: 'herald',
    dashboard: root ? `no index.html in ${root}` : 'not configured (--dashboard)',
    api: ['/api/channels', '/api/runs', '/api/stats', '/health', '/metrics', '/ws'],
  }));
}
