// Ids given by their first characters (`sandfleet tasks show 3f2a1b9c`): the prefix names the
// range of UUIDs that start with it, which the primary keys answer by an index range scan.

/** Fewer hex digits than this match too many ids to be worth typing: refused. */
export const MIN_ID_PREFIX_DIGITS = 8;
/** Matches read to tell "one", "these few" and "more than these" apart. */
export const ID_PREFIX_MATCHES_READ = 11;

const UUID_TEMPLATE = 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx';

/**
 * The hex digits of a UUID's beginning, lower case, or a reason it is not one: written with the
 * dashes where a UUID has them, or without any.
 */
export function idPrefixDigits(text: string): { digits: string } | { problem: string } {
  const lower = text.trim().toLowerCase();
  const dashed = lower.includes('-');
  const fits = dashed
    ? lower.length <= UUID_TEMPLATE.length && [...lower].every((c, i) => (UUID_TEMPLATE[i] === '-' ? c === '-' : /[0-9a-f]/.test(c)))
    : /^[0-9a-f]{0,32}$/.test(lower);
  if (!fits) return { problem: 'must be a UUID or its first characters (hex digits, dashes where a UUID has them)' };
  const digits = lower.replaceAll('-', '');
  if (digits.length < MIN_ID_PREFIX_DIGITS) return { problem: `give at least ${MIN_ID_PREFIX_DIGITS} hex digits of the id` };
  return { digits };
}

/** The lowest and highest UUID starting with these digits (inclusive). */
export function idRange(digits: string): { low: string; high: string } {
  const uuid = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { low: uuid(digits.padEnd(32, '0')), high: uuid(digits.padEnd(32, 'f')) };
}
