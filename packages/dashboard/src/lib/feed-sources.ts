import { checkChannel, grantAllows, patternCovers, RUN_SUMMARY_CHANNEL, type Grant } from '@herald/protocol';

/**
 * What the live feed subscribes to: `>` when the user may read everything, otherwise the user's own
 * subscribe patterns (the hub refuses a pattern unless every channel it can match is allowed, so `>`
 * would fail for them). Patterns inside another one are dropped: they would deliver the same events
 * twice. The run summary channel joins when the user may read every run, as the hub requires.
 */
export function feedSources(grant: Grant): string[] {
  if (grantAllows(grant, 'subscribe', '>')) return ['>'];
  const patterns = [...new Set(grant.subscribe)];
  const kept = patterns.filter((p, i) => !patterns.some((other, j) => j !== i && patternCovers(other, p)));
  if (grantAllows(grant, 'subscribe', RUN_SUMMARY_CHANNEL) && !kept.includes(RUN_SUMMARY_CHANNEL)) kept.push(RUN_SUMMARY_CHANNEL);
  return kept;
}

/**
 * What the feed subscribes to while its filter box holds `pattern`: the pattern alone when the user may
 * read every channel it matches (one channel chosen, no `>` firehose), else the user's sources — the
 * box then only filters what they deliver (a `runs.>` box for a user who may read `runs.team-a.>`).
 */
export function narrowSources(sources: string[], pattern: string, grant: Grant): string[] {
  if (sources.length === 1 && sources[0] === pattern) return sources;
  if (!checkChannel(pattern, true).ok || !grantAllows(grant, 'subscribe', pattern)) return sources;
  return [pattern];
}
