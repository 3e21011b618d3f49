// Requests refused before any route runs, answered as problem+json like every other refusal:
// what Node's HTTP parser rejects (headers too large, malformed HTTP, a request that never
// finished arriving), a URL the router cannot decode, and an Expect header other than
// 100-continue. Left to Fastify and Node, these answered plain JSON or an empty body.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { problem, sendProblem, titleOf, type Problem } from './problems.js';

const PARSER_REFUSALS: Record<string, { status: number; slug: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, slug: 'headers-too-large', detail: 'the request line and headers are larger than the server accepts (16 KiB in all)' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, slug: 'request-timeout', detail: 'the request did not arrive in full in time' },
};

/** Fastify's `clientErrorHandler`: the socket still open gets a problem+json answer, then is closed. */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const refusal = PARSER_REFUSALS[error.code ?? ''] ?? { status: 400, slug: 'malformed-request', detail: 'the request is not well-formed HTTP/1.1' };
  const body = JSON.stringify(problem(refusal.status, refusal.slug, refusal.detail));
  socket.end(`HTTP/1.1 ${refusal.status} ${titleOf(refusal.status)}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Fastify's `frameworkErrors`: the router could not take the URL apart (a bad percent-encoding). */
export function answerFrameworkError(error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  const detail = error.code === 'FST_ERR_BAD_URL' ? 'the URL is not well-formed: check its percent-encoding' : 'the request could not be routed';
  void sendProblem(reply, problem(400, 'bad-url', detail));
}

/** Node answers an Expect header it does not know with an empty 417; this answers it as problem+json. */
export function answerExpectations(server: Server): void {
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify(problem(417, 'expectation-failed', `only "Expect: 100-continue" is supported, got "${String(request.headers.expect).slice(0, 100)}"`) satisfies Problem);
    response.writeHead(417, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  });
}
