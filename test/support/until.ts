/**
 * Polls `condition` — a read of the tables, the truth — until it holds. On the deadline it fails
 * with what `explain` reports, so a failure says where things stood.
 */
export async function until(condition: () => Promise<boolean>, timeoutMs = 60_000, explain?: () => Promise<unknown>, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not reached in time${explain ? `: ${JSON.stringify(await explain())}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
