// Errors as application/problem+json (RFC 9457): type, title, status, detail, and for
// validation failures `errors[]`, each naming the offending field.
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A request part that failed its schema; the error handler turns it into a 400 with errors[]. */
export class ValidationFailed extends Error {
  override readonly name = 'ValidationFailed';
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }

  static fromZod(part: string, error: z.ZodError): ValidationFailed {
    const errors: FieldError[] = [];
    for (const issue of error.issues) {
      const base = [part, ...issue.path.map(String)].join('.');
      // Each unknown field is named on its own, so the client sees exactly what to remove.
      if (issue.code === 'unrecognized_keys') for (const key of issue.keys) errors.push({ field: `${base}.${key}`, message: 'unknown field' });
      else errors.push({ field: base, message: issue.message });
    }
    return new ValidationFailed(errors);
  }
}

/** The status's reason phrase, as problem+json titles and raw status lines carry it. */
export function titleOf(status: number): string {
  return TITLES[status] ?? 'Error';
}

export function problem(status: number, slug: string, detail: string, errors?: FieldError[]): Problem {
  return { type: `https://sandfleet.dev/problems/${slug}`, title: titleOf(status), status, detail, ...(errors ? { errors } : {}) };
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type('application/problem+json').send(p);
}
