// The API's defaults, defined once: the config's defaults and the server's when built without one.
export const API_DEFAULTS = {
  bodyLimitBytes: 1_048_576,
  /** Requests one token may make per minute to one daemon before it is answered 429. */
  tokenRequestsPerMinute: 3000,
} as const;
