// Checks a real answer against what the OpenAPI document says of its operation: the status is
// documented; the content type is one the response documents (or none for a body-less one); the
// body validates against its schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 has it); every
// documented response header is there and valid; and a problem's type names a refusal the
// document lists for that status. Each check can fail; what fails is returned, not thrown.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenApiDocument } from './openapi-document.js';

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export interface Answer {
  method: string;
  /** The document's path template, e.g. /v1/tasks/{id}. */
  path: string;
  status: number;
  headers: Headers;
  text: string;
}

interface MediaObject {
  schema?: object;
  examples?: Record<string, { value?: { type?: string } }>;
}
interface ResponseObject {
  headers?: Record<string, { schema?: object }>;
  content?: Record<string, MediaObject>;
}

/** ajv's errors, each with where it is and, for an unexpected property, its name. */
const describe = (errors: ErrorObject[] | null | undefined, root: string) =>
  (errors ?? []).map((e) => `${root}${e.instancePath} ${e.message ?? 'is invalid'}${'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`).join('; ');

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

export class Conformance {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });

  constructor(private readonly document: OpenApiDocument) {
    addFormats(this.ajv);
    // The whole document, so a schema's $ref to #/components/schemas/… resolves within it.
    this.ajv.addSchema(document, 'openapi');
  }

  /** The documented response for the answer's status: the exact code, else its range. */
  private responseFor(answer: Answer): { key: string; response: ResponseObject } | { error: string } {
    const operation = this.document.paths[answer.path]?.[answer.method.toLowerCase()] as { responses?: Record<string, ResponseObject> } | undefined;
    if (!operation?.responses) return { error: `${answer.method} ${answer.path} is not in the document` };
    for (const key of [String(answer.status), `${String(answer.status)[0]}XX`]) {
      const response = operation.responses[key];
      if (response) return { key, response };
    }
    return { error: `${answer.method} ${answer.path} does not document status ${answer.status}` };
  }

  check(answer: Answer): string[] {
    const found = this.responseFor(answer);
    if ('error' in found) return [found.error];
    const { key, response } = found;
    const at = `${answer.method} ${answer.path} → ${answer.status}`;
    const base = pointer('paths', answer.path, answer.method.toLowerCase(), 'responses', key);
    const wrong: string[] = [];

    for (const [name, header] of Object.entries(response.headers ?? {})) {
      const value = answer.headers.get(name);
      if (value === null) {
        wrong.push(`${at}: documented header ${name} is missing`);
        continue;
      }
      const schema = header.schema as { type?: string } | undefined;
      const typed = schema?.type === 'integer' ? Number(value) : value;
      const validate = this.ajv.getSchema(`openapi#/${base}/headers/${pointer(name)}/schema`);
      if (validate && !validate(typed)) wrong.push(`${at}: header ${name}: ${JSON.stringify(value)} ${describe(validate.errors, 'value')}`);
    }

    const content = response.content ?? {};
    const mediaType = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (Object.keys(content).length === 0) {
      if (answer.text.length > 0) wrong.push(`${at}: documents no body, got ${JSON.stringify(answer.text.slice(0, 80))}`);
      return wrong;
    }
    const media = content[mediaType];
    if (!media) return [...wrong, `${at}: content type ${JSON.stringify(mediaType)} is not one documented (${Object.keys(content).join(', ')})`];
    let body: unknown = answer.text;
    if (mediaType.endsWith('json')) {
      try {
        body = JSON.parse(answer.text);
      } catch {
        return [...wrong, `${at}: ${mediaType} body is not JSON`];
      }
    }
    const validate = this.ajv.getSchema(`openapi#/${base}/content/${pointer(mediaType)}/schema`);
    if (!validate) return [...wrong, `${at}: no schema documented for ${mediaType}`];
    if (!validate(body)) wrong.push(`${at}: body does not match its schema: ${describe(validate.errors, 'body')}`);

    // A problem names a refusal the document lists for this status (its examples, by slug).
    if (mediaType === 'application/problem+json' && media.examples) {
      const slug = String((body as { type?: unknown }).type ?? '').split('/').pop() ?? '';
      if (!(slug in media.examples)) wrong.push(`${at}: refusal ${JSON.stringify(slug)} is not documented for this status (${Object.keys(media.examples).join(', ')})`);
    }
    return wrong;
  }
}
