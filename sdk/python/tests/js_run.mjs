// The reference for test_runs.py: the same run as RUN_SCRIPT there, published with the JS publisher
// (@herald/client/publisher, built) and the event conventions of docs/runs.md written out by hand.
// Usage: node js_run.mjs <hub url> <run id>
import { createPublisher } from '../../../packages/client/dist/publisher.js';

const [url, runId] = process.argv.slice(2);
const channel = `runs.${runId}`;
const publisher = createPublisher({ url });
const publish = (type, data, severity) => publisher.publish(channel, { type, ...(severity ? { severity } : {}), ...(data === undefined ? {} : { data }) });

publish('run.started', { title: 'Nightly e2e', labels: { team: 'web', suite: 'checkout' } });
publish('step.started', { step: 'login', name: 'Log in' });
publish('log', { message: 'opening the login page' }, 'info');
publish('step.completed', { step: 'login', status: 'passed', durationMs: 1 }, 'success');
publish('run.progress', { percent: 40, message: 'checkout flow' });
publish('step.started', { step: 'checkout', name: 'Checkout' });
publish('step.started', { step: 'cart', name: 'Cart', parent: 'checkout' });
publish('metric', { name: 'latency', value: 230, unit: 'ms' });
publish('metric', { name: 'latency', value: 180, unit: 'ms' });
publish('log', { message: 'slow answer from /api/cart' }, 'warning');
publish('step.completed', { step: 'cart', status: 'failed', durationMs: 1, message: 'AssertionError: HTTP 500 on /api/cart' }, 'error');
publish('step.completed', { step: 'checkout', status: 'passed', durationMs: 1 }, 'success');
publish('step.started', { step: 'report', name: 'Report' });
publish('step.completed', { step: 'report', status: 'skipped', durationMs: 1, message: 'no data' }, 'info');
publish('run.heartbeat');
publish('run.progress', { percent: 90 });
publish('run.completed', { status: 'failed', summary: { error: 'RuntimeError: upload failed' }, message: 'RuntimeError: upload failed' }, 'error');

const delivered = await publisher.close({ timeoutMs: 10_000 });
if (!delivered) console.error(`${publisher.queued} events were not delivered`);
// close({timeoutMs}) leaves its timeout timer running, which would keep node alive for the full 10 s.
process.exit(delivered ? 0 : 1);
