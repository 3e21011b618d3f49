// What a token may see, found by asking: the API has no "who am I", but GET /v1/pools needs the
// operator role, so 200 means operator (or admin), 403 a submitter, 401 a token it refuses.
import { ApiError, type Api } from './api.js';

export type Reach = 'operator' | 'submitter';

export async function probeReach(api: Api): Promise<Reach> {
  try {
    await api.get<unknown>('/v1/pools');
    return 'operator';
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return 'submitter';
    throw error;
  }
}
