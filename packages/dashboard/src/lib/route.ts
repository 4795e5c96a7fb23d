import { useEffect, useState } from 'react';

/** Hash routes (`#/runs/42`): the hub serves one static page, so no server-side fallback is needed. */
export function useHashRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const onChange = () => setParts(read());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parts;
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

/** A permalink to one line of a run's log: `#/runs/<id>/L<offset>` (the run view reads the third part). */
export function lineHref(runId: string, offset: number): string {
  return href('runs', runId, `L${offset}`);
}

/** The line offset a route part names (`L42` → 42), if it names one. */
export function lineTarget(part: string | undefined): number | null {
  const match = part ? /^L([1-9]\d{0,15})$/.exec(part) : null;
  return match ? Number(match[1]) : null;
}
