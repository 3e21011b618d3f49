// What this daemon's API offers beyond what the dashboard always needs, read once from its
// OpenAPI document (public, generated from the routes): the history endpoints are asked only when
// they exist, so the page never polls a route that would answer 404.

export interface Features {
  taskEvents: boolean;
  machineEvents: boolean;
}

const NONE: Features = { taskEvents: false, machineEvents: false };

let known: Promise<Features> | undefined;

export function features(): Promise<Features> {
  known ??= fetch('/openapi.json', { cache: 'no-store' })
    .then(async (response) => {
      if (!response.ok) return NONE;
      const document = (await response.json()) as { paths?: Record<string, unknown> };
      const paths = document.paths ?? {};
      return { taskEvents: '/v1/tasks/{id}/events' in paths, machineEvents: '/v1/machines/{id}/events' in paths };
    })
    // Without the document the dashboard shows what every API version has.
    .catch(() => NONE);
  return known;
}
