// How times, durations and values read on the dashboard.

/** "4 s", "3 min", "2 h", "5 d": a span in its largest whole unit. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** How long ago an ISO time was, against `now` (the time of the data's last read). */
export function ago(iso: string | null, now: number): string {
  return iso ? `${span(now - Date.parse(iso))} ago` : '—';
}

/** Seconds with at most two significant decimals: 0.42 s, 3.1 s, 95 s. */
export function seconds(value: number | null): string {
  if (value === null) return '—';
  return `${value < 10 ? Number(value.toPrecision(2)) : Math.round(value)} s`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** A UUID's first block, enough to tell tasks apart in a table. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
