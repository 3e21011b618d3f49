// Text PostgreSQL cannot store: a NUL character (text and jsonb refuse \u0000) and a lone UTF-16
// surrogate (not a character at all, so not valid UTF-8). Such input is refused where it comes
// in (the API, the CLI, the config), naming where it is, rather than failing at the database.

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether PostgreSQL can store this string as text. */
export function isStorable(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/** The path (keys, and indexes as numbers) of the first string, object key included, that PostgreSQL cannot store, or null. */
export function unstorablePath(value: unknown, path: readonly (string | number)[] = []): (string | number)[] | null {
  if (typeof value === 'string') return isStorable(value) ? null : [...path];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorablePath(value[i], [...path, i]);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorable(key)) return [...path, key];
      const found = unstorablePath(item, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

export const UNSTORABLE_MESSAGE = 'holds a NUL character or a lone UTF-16 surrogate, which cannot be stored: remove it, or encode the value (for example as base64)';
