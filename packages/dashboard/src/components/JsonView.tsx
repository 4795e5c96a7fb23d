import type { ReactNode } from 'react';

/**
 * Shows any JSON as text nodes only — never as HTML — with objects and arrays collapsible. Payloads
 * come from publishers; whatever they contain is displayed, not interpreted.
 */
export function JsonView({ value }: { value: unknown }) {
  return <div className="json mono">{render(value, 0)}</div>;
}

function render(value: unknown, depth: number): ReactNode {
  if (value === null) return <span className="b">null</span>;
  if (typeof value === 'string') return <span className="s">{JSON.stringify(value)}</span>;
  if (typeof value === 'number') return <span className="n">{String(value)}</span>;
  if (typeof value === 'boolean') return <span className="b">{String(value)}</span>;
  if (typeof value !== 'object') return <span>{String(value)}</span>;
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as Record<string, unknown>);
  const open = Array.isArray(value) ? '[' : '{';
  const close = Array.isArray(value) ? ']' : '}';
  if (entries.length === 0) return <span>{open + close}</span>;
  return (
    <details open={depth < 2}>
      <summary>
        {open} {entries.length} {Array.isArray(value) ? 'items' : 'keys'} {close}
      </summary>
      {entries.map(([key, v]) => (
        <div key={key}>
          <span className="k">{Array.isArray(value) ? key : JSON.stringify(key)}</span>: {render(v, depth + 1)}
        </div>
      ))}
    </details>
  );
}
