// Text PostgreSQL cannot store: a NUL character (text and jsonb refuse \u0000) and a lone UTF-16
// surrogate (not a character at all, so not valid UTF-8). Such input is refused where it comes
// in (the API, the CLI, the config), naming where it is, rather than failing at the database;
// so is JSON nested too deep to serialize again (MAX_JSON_DEPTH).

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether PostgreSQL can store this string as text. */
export function isStorable(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/**
 * Arrays and objects nest at most this deep. Deeper JSON cannot be stored and read back safely:
 * JSON.stringify (the driver's, the API's answers) overflows the stack a few thousand levels
 * down, and a deeply recursive walk does long before that.
 */
export const MAX_JSON_DEPTH = 100;

export interface Unstorable {
  /** Keys, and indexes as numbers, to the offending string, key or container. */
  path: (string | number)[];
  message: string;
}

interface Visit {
  value: unknown;
  key: string | number | null;
  parent: Visit | null;
  /** Containers around this value. */
  depth: number;
  badKey: boolean;
}

/**
 * The first place, in document order, where a JSON value holds what PostgreSQL cannot store: a
 * string or object key with a NUL or lone surrogate, or nesting past MAX_JSON_DEPTH; or null.
 * Walked with a stack of its own, so no input is deep enough to overflow the call stack.
 */
export function findUnstorable(value: unknown): Unstorable | null {
  const pending: Visit[] = [{ value, key: null, parent: null, depth: 0, badKey: false }];
  for (let visit = pending.pop(); visit; visit = pending.pop()) {
    if (visit.badKey) return { path: pathOf(visit), message: UNSTORABLE_MESSAGE };
    const current = visit.value;
    if (typeof current === 'string') {
      if (!isStorable(current)) return { path: pathOf(visit), message: UNSTORABLE_MESSAGE };
      continue;
    }
    if (!current || typeof current !== 'object') continue;
    if (visit.depth >= MAX_JSON_DEPTH) return { path: pathOf(visit), message: TOO_DEEP_MESSAGE };
    const entries: [string | number, unknown][] = Array.isArray(current) ? current.map((item, i) => [i, item]) : Object.entries(current);
    // Pushed last to first, so they are looked at first to last.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!;
      pending.push({ value: item, key, parent: visit, depth: visit.depth + 1, badKey: typeof key === 'string' && !isStorable(key) });
    }
  }
  return null;
}

function pathOf(visit: Visit): (string | number)[] {
  const path: (string | number)[] = [];
  for (let at: Visit | null = visit; at && at.key !== null; at = at.parent) path.push(at.key);
  return path.reverse();
}

export const UNSTORABLE_MESSAGE = 'holds a NUL character or a lone UTF-16 surrogate, which cannot be stored: remove it, or encode the value (for example as base64)';

export const TOO_DEEP_MESSAGE = `nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, which cannot be stored safely: flatten it, or encode it as a string`;
