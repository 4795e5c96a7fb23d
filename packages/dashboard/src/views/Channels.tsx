import { useMemo, useRef, useState, type FormEvent } from 'react';
import { useHerald } from '@herald/react';
import { SEVERITIES, type ChannelListResponse, type Severity } from '@herald/protocol';
import { ResetButton } from '../components/ResetButton.js';
import { clockTime } from '../lib/format.js';
import { href } from '../lib/route.js';
import { useSession } from '../lib/session.js';
import { usePoll } from '../lib/use-poll.js';

/** Channels per page: the hub pages its list, and only the page on screen is polled. */
const PAGE = 100;

/**
 * Channels with their last offset, rate and subscribers (only those the user may read: the hub filters
 * the list), a page at a time with a name-prefix filter; a form to publish a test event for users who
 * may publish, and reset for admins.
 */
export function Channels() {
  const { admin, canPublish } = useSession();
  const [resetDone, setResetDone] = useState<string>();
  const [prefix, setPrefix] = useState('');
  // The cursors of the pages before this one (the first page has none), so that "previous" works.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const query = new URLSearchParams({ limit: String(PAGE), ...(prefix ? { prefix } : {}), ...(cursor ? { cursor } : {}) });
  const list = usePoll<ChannelListResponse>(`api/channels?${query}`, 2000);
  const rates = useChannelRates(list);
  return (
    <div className={canPublish ? 'split' : undefined}>
      <section className="panel">
        <h2>Channels</h2>
        {resetDone ? <div className="muted" role="status" data-testid="reset-result">Reset {resetDone}: its stored history is deleted; its next event starts a new epoch.</div> : null}
        <div className="toolbar">
          <label>
            Name starts with{' '}
            <input
              data-testid="channel-prefix"
              value={prefix}
              placeholder="runs."
              onChange={(e) => {
                setPrefix(e.target.value.replace(/[^A-Za-z0-9_.-]/g, ''));
                setCursors([]);
              }}
            />
          </label>
          <button type="button" data-testid="channels-previous" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous
          </button>
          <button type="button" data-testid="channels-next" disabled={!list?.next} onClick={() => list?.next && setCursors([...cursors, list.next])}>
            Next
          </button>
        </div>
        {!list || list.channels.length === 0 ? (
          <div className="empty">{prefix || cursor ? 'No channels on this page.' : 'No channels with events yet.'}</div>
        ) : (
          <table data-testid="channels-table">
            <thead><tr><th>Channel</th><th>Last offset</th><th>Rate</th><th title="subscriptions matching the channel, patterns included">Subscribers</th><th title="exact subscribers of the channel (presence)">Watching</th><th>Last event</th>{admin ? <th /> : null}</tr></thead>
            <tbody>
              {list.channels.map((c) => (
                <tr key={c.name} data-channel={c.name}>
                  <td className="mono"><a href={href('feed', c.name)}>{c.name}</a></td>
                  <td className="mono">{c.offset}</td>
                  <td className="mono">{(rates.get(c.name) ?? 0).toFixed(1)}/s</td>
                  <td>{c.subscribers}</td>
                  <td data-testid="channel-watching">{c.watching ?? 0}</td>
                  <td className="muted">{c.lastEventTime ? clockTime(c.lastEventTime) : '—'}</td>
                  {admin ? <td><ResetButton channel={c.name} onReset={setResetDone} /></td> : null}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {canPublish ? <PublishForm /> : null}
    </div>
  );
}

function PublishForm() {
  const client = useHerald();
  const { grant, may } = useSession();
  const [channel, setChannel] = useState(() => (may('publish', 'demo') ? 'demo' : exampleChannel(grant.publish[0] ?? 'demo')));
  const [type, setType] = useState('test');
  const [severity, setSeverity] = useState<Severity>('info');
  const [data, setData] = useState('{"message": "hello from the dashboard"}');
  const [result, setResult] = useState<string>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const parsed: unknown = data.trim() ? JSON.parse(data) : undefined;
      const published = await client.publish(channel, { type, severity, ...(parsed === undefined ? {} : { data: parsed }) });
      setResult(`Published ${channel} #${published.offset}`);
    } catch (error) {
      setResult(`Not published: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  return (
    <form className="panel" onSubmit={submit} data-testid="publish-form" style={{ display: 'grid', gap: 8, alignContent: 'start' }}>
      <h2>Publish a test event</h2>
      {grant.admin ? null : <div className="muted">You may publish to {grant.publish.join(', ')}.</div>}
      <label>Channel <input value={channel} onChange={(e) => setChannel(e.target.value)} style={{ width: '100%' }} /></label>
      <label>Type <input value={type} onChange={(e) => setType(e.target.value)} style={{ width: '100%' }} /></label>
      <label>Severity{' '}
        <select value={severity} onChange={(e) => setSeverity(e.target.value as Severity)}>
          {SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </label>
      <label>Data (JSON) <textarea rows={5} value={data} onChange={(e) => setData(e.target.value)} className="mono" style={{ width: '100%' }} /></label>
      <button type="submit" className="primary">Publish</button>
      {result ? <div className="muted" data-testid="publish-result">{result}</div> : null}
    </form>
  );
}

/** A channel a publish pattern allows, to start the form with: `runs.team-a.>` → `runs.team-a.demo`. */
function exampleChannel(pattern: string): string {
  return pattern
    .split('.')
    .map((segment) => (segment === '*' || segment === '>' ? 'demo' : segment))
    .join('.');
}

/** How far back the rate looks: long enough to smooth the 2-s polls, short enough to follow a change. */
const RATE_WINDOW_MS = 10_000;

/**
 * Events per second per channel over a sliding window of the list's samples, taken when each answer
 * arrives (not at each render: a render between two polls would see no new events and show 0.0/s,
 * the next one twice the rate).
 */
function useChannelRates(list: ChannelListResponse | undefined): Map<string, number> {
  const samples = useRef(new Map<string, Array<{ offset: number; at: number }>>());
  return useMemo(() => {
    const rates = new Map<string, number>();
    if (!list) return rates;
    const now = Date.now();
    for (const c of list.channels) {
      let kept = samples.current.get(c.name) ?? [];
      // A reset starts the offsets again: the samples before it say nothing about the rate now.
      if (kept.length && c.offset < kept.at(-1)!.offset) kept = [];
      kept.push({ offset: c.offset, at: now });
      while (kept.length > 2 && now - kept[0]!.at > RATE_WINDOW_MS) kept.shift();
      samples.current.set(c.name, kept);
      const first = kept[0]!;
      if (kept.length > 1 && now > first.at) rates.set(c.name, ((c.offset - first.offset) * 1000) / (now - first.at));
    }
    return rates;
  }, [list]);
}
