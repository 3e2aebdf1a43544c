import { appendFileSync } from 'node:fs';

/**
 * Resilience tests report their figures here; `npm run soak` (scripts/soak.ts) sets
 * SOAK_SUMMARY_FILE and prints the collected lines as one table at the end.
 */
export function recordSummary(suite: string, figures: Record<string, number | string>): void {
  const file = process.env.SOAK_SUMMARY_FILE;
  if (file) appendFileSync(file, `${JSON.stringify({ suite, ...figures })}\n`);
}
