import { RUN_CHANNEL_PREFIX, RUN_STATUSES, type RunStatus } from '@herald/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError } from '../errors.js';
import type { Hub } from '../hub.js';
import type { RunStore } from '../runs/run-store.js';
import type { RunTracker } from '../runs/tracker.js';

const MAX_PAGE = 200;
const MAX_POINTS = 5000;
/** Steps in one answer: a 20 000-step run is read a page at a time, not as one multi-MB answer per poll. */
const MAX_STEPS = 1000;

/** `/api/runs…` and `/api/search`: the run archive for list views, detail views and charts. */
export function registerRunRoutes(app: FastifyInstance, hub: Hub, tracker: RunTracker, store: RunStore): void {
  /** A run is read with the permission to read its channel; asked before looking, so nothing leaks. */
  const readableRun = (request: FastifyRequest, id: string, stepLimit = 0) => {
    hub.authorize(request.principal, { kind: 'subscribe', channel: `${RUN_CHANNEL_PREFIX}${id}` });
    const run = tracker.view(id, stepLimit);
    if (!run) throw new HeraldError('not_found', `no run "${id}"`);
    return run;
  };

  app.get(
    '/api/runs',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...RUN_STATUSES] },
            label: { type: 'string', pattern: '^[^=]+=.*$' },
            q: { type: 'string', maxLength: 200 },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE },
            cursor: { type: 'string', maxLength: 500 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const query = request.query as { status?: RunStatus; label?: string; q?: string; limit?: number; cursor?: string };
      const scope = hub.scope(request.principal, 'runs');
      // Snapshots changed in the last few hundred milliseconds are written first, so the list is current.
      tracker.flush();
      const label = query.label === undefined ? undefined : { key: query.label.slice(0, query.label.indexOf('=')), value: query.label.slice(query.label.indexOf('=') + 1) };
      const page = store.list({ status: query.status, label, text: query.q, limit: query.limit ?? 50, cursor: query.cursor, readable: scope.all ? undefined : scope.patterns });
      return { runs: page.runs, next: page.next };
    },
  );

  app.get(
    '/api/runs/:id',
    { schema: { querystring: { type: 'object', properties: { steps: { type: 'integer', minimum: 0, maximum: MAX_STEPS } }, additionalProperties: false } } },
    async (request) => readableRun(request, (request.params as { id: string }).id, (request.query as { steps?: number }).steps ?? MAX_STEPS),
  );

  app.get(
    '/api/runs/:id/steps',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { from: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, limit: { type: 'integer', minimum: 1, maximum: MAX_STEPS } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const query = request.query as { from?: number; limit?: number };
      readableRun(request, id);
      const from = query.from ?? 0;
      const page = tracker.steps(id, from, query.limit ?? MAX_STEPS);
      if (!page) throw new HeraldError('not_found', `no run "${id}"`);
      const next = from + page.steps.length < page.stepsTotal ? from + page.steps.length : null;
      return { run: id, offset: page.offset, stepsTotal: page.stepsTotal, from, steps: page.steps, next };
    },
  );

  app.get(
    '/api/runs/:id/metrics',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            since: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
            points: { type: 'integer', minimum: 2, maximum: MAX_POINTS },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const query = request.query as { name?: string; since?: number; points?: number };
      const run = readableRun(request, id);
      tracker.flush();
      const names = query.name === undefined ? store.metricNames(id) : [query.name];
      return {
        run: id,
        series: names.map((name) => ({
          name,
          unit: run.metrics[name]?.unit ?? null,
          points: store.metricSeries(id, name, query.since ?? 0, query.points ?? 500),
        })),
      };
    },
  );

  app.get(
    '/api/search',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { q: { type: 'string', minLength: 1, maxLength: 200 }, limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE } },
          required: ['q'],
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const query = request.query as { q: string; limit?: number };
      const scope = hub.scope(request.principal, 'search results');
      tracker.flush();
      return { query: query.q, hits: store.search(query.q, query.limit ?? 50, scope.all ? undefined : scope.patterns) };
    },
  );
}
