import { grantAllows, patternCovers, RUN_SUMMARY_CHANNEL, type Grant } from '@herald/protocol';

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
