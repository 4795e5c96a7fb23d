import { useMemo, useState } from 'react';
import { ErrorBoundary } from './ErrorBoundary.js';
import { CHILDREN_PAGE, firstSight, layOut, Places, type Path, type Row, type ViewState } from './json-rows.js';

/** Deepest indentation: deeper rows show their depth instead of being pushed further right. */
const MAX_INDENT = 16;

/**
 * Shows any JSON as text nodes only — never as HTML. Payloads come from publishers; whatever they
 * contain is displayed, not interpreted. The size of what is drawn is bounded whatever the size of the
 * value (see json-rows.ts): a few levels open, a page of children per container, long strings cut, and
 * each click opens one more level, page or string. What is open belongs to the value: another value
 * starts again from its first sight.
 */
export function JsonView({ value }: { value: unknown }) {
  return (
    <ErrorBoundary what="this data" resetKey={value} compact>
      <JsonRows value={value} />
    </ErrorBoundary>
  );
}

function JsonRows({ value }: { value: unknown }) {
  const [state, setState] = useState(() => initialState(value));
  if (state.value !== value) setState(initialState(value));
  const rows = useMemo(() => layOut(value, state, state.places), [value, state]);
  const toggle = (path: Path) =>
    setState((s) => {
      const open = new Set(s.open);
      if (!open.delete(path)) open.add(path);
      return { ...s, open };
    });
  const showMore = (path: Path) => setState((s) => ({ ...s, shown: new Map(s.shown).set(path, (s.shown.get(path) ?? CHILDREN_PAGE) + CHILDREN_PAGE) }));
  const showWhole = (path: Path) => setState((s) => ({ ...s, whole: new Set(s.whole).add(path) }));
  return (
    <div className="json mono" data-testid="json">
      {rows.map((row) => (
        <div key={row.kind === 'more' ? `${row.path}…` : row.path} className="json-row" style={{ paddingLeft: `${Math.min(row.depth, MAX_INDENT)}em` }} data-depth={row.depth}>
          {row.depth > MAX_INDENT ? <span className="json-depth" title={`${row.depth} levels deep`}>{row.depth}›</span> : null}
          <RowContent row={row} toggle={toggle} showMore={showMore} showWhole={showWhole} />
        </div>
      ))}
    </div>
  );
}

/** What is open in one value, with the numbering of its places (see json-rows.ts). */
interface Shown extends ViewState {
  value: unknown;
  places: Places;
}

function initialState(value: unknown): Shown {
  const places = new Places();
  return { value, places, open: firstSight(value, places), shown: new Map(), whole: new Set() };
}

function RowContent({ row, toggle, showMore, showWhole }: { row: Row; toggle: (p: Path) => void; showMore: (p: Path) => void; showWhole: (p: Path) => void }) {
  if (row.kind === 'more') {
    return (
      <button type="button" className="json-more" title={`show ${Math.min(CHILDREN_PAGE, row.remaining)} more`} onClick={() => showMore(row.path)}>
        … {row.remaining.toLocaleString('en-US')} more
      </button>
    );
  }
  const label = row.label === undefined ? null : <><span className="k">{row.label}</span>: </>;
  if (row.kind === 'container') {
    const [open, close] = row.array ? ['[', ']'] : ['{', '}'];
    if (row.size === 0) return <>{label}<span>{open + close}</span></>;
    return (
      <>
        {label}
        <button type="button" className="json-toggle" aria-expanded={row.open} onClick={() => toggle(row.path)}>
          {row.open ? '▾' : '▸'} {open} {row.size.toLocaleString('en-US')} {row.array ? (row.size === 1 ? 'item' : 'items') : row.size === 1 ? 'key' : 'keys'} {close}
        </button>
      </>
    );
  }
  if (row.kind === 'string') {
    return (
      <>
        {label}
        <span className="s">{row.text}</span>
        {row.cut ? (
          <>
            {' '}
            <button type="button" className="json-more" onClick={() => showWhole(row.path)}>
              show all ({row.length.toLocaleString('en-US')} chars)
            </button>
          </>
        ) : null}
      </>
    );
  }
  return <>{label}<span className={row.className}>{row.text}</span></>;
}
