/**
 * `node --import tsx bench/profile-summary.ts <file.cpuprofile>`: self time per function, highest first —
 * the "where does the time go" view of a V8 CPU profile written by `--cpu-prof`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}
export function summarize(path: string, top = 15): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: Node[]; samples: number[]; startTime: number; endTime: number };
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    total += node.hitCount;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*node_modules\//, '').replace(/^.*\/packages\//, 'packages/').replace(/^file:\/\//, '');
    const key = `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.hitCount);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows.map(([key, hits]) => `${((hits / total) * 100).toFixed(1).padStart(5)} %  ${key}`).join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) console.log(summarize(process.argv[2]!));
