// The dashboard's calls to the /v1 API: the bearer token in the Authorization header (never in
// a URL), JSON in, problem+json refusals turned into ApiError.
import type { Problem } from './api-types.js';

/** A refusal or failure from the API, with its problem+json body when it sent one. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    super(problem ? `${problem.title}: ${problem.detail}` : `the API answered ${status}`);
  }
}

export interface Api {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  post<T>(path: string): Promise<T>;
  /** Text of a public endpoint (/metrics), without the token. */
  text(path: string, signal?: AbortSignal): Promise<string>;
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && 'status' in body && 'detail' in body;
}

async function refusal(response: Response): Promise<ApiError> {
  const body: unknown = await response.json().catch(() => null);
  return new ApiError(response.status, isProblem(body) ? body : null);
}

/** `onUnauthorized` hears of every 401, so the page can sign out of a revoked or expired token. */
export function createApi(token: string, onUnauthorized: (error: ApiError) => void): Api {
  const call = async (method: 'GET' | 'POST', path: string, signal?: AbortSignal): Promise<Response> => {
    // A POST without a body carries no content type (an empty JSON body is refused, docs/api.md §3).
    const response = await fetch(path, { method, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, cache: 'no-store', signal });
    if (response.ok) return response;
    const error = await refusal(response);
    if (error.status === 401) onUnauthorized(error);
    throw error;
  };
  return {
    get: async <T>(path: string, signal?: AbortSignal) => (await (await call('GET', path, signal)).json()) as T,
    post: async <T>(path: string) => (await (await call('POST', path)).json()) as T,
    text: async (path, signal) => {
      const response = await fetch(path, { cache: 'no-store', signal });
      if (!response.ok) throw await refusal(response);
      return response.text();
    },
  };
}
