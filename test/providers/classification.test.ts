// Error mapping, table-driven, with errors shaped as the SDKs shape them (in-process; the wire
// behaviour is covered by the contract suites against the emulators).
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { RestError } from '@azure/core-rest-pipeline';
import { createHttpHeaders } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { classifyEc2Error, idsNamedIn } from '../../src/providers/aws/errors.js';
import { classifyAzureError } from '../../src/providers/azure/errors.js';

function ec2Error(code: string, status: number): unknown {
  return new EC2ServiceException({ name: code, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${code} happened` });
}

describe('EC2 error classification', () => {
  it.each([
    ['RequestLimitExceeded', 503, 'throttled'],
    ['Throttling', 400, 'throttled'],
    ['InsufficientInstanceCapacity', 500, 'capacity'],
    ['SpotMaxPriceTooLow', 400, 'capacity'],
    ['MaxSpotInstanceCountExceeded', 400, 'capacity'],
    ['InsufficientFreeAddressesInSubnet', 400, 'capacity'],
    ['VcpuLimitExceeded', 400, 'capacity'],
    ['InvalidInstanceID.NotFound', 400, 'not_found'],
    ['InternalError', 500, 'transient'],
    ['Unavailable', 503, 'transient'],
    ['SomethingNew', 502, 'transient'],
    ['AuthFailure', 401, 'fatal'],
    ['UnauthorizedOperation', 403, 'fatal'],
    ['InvalidParameterValue', 400, 'fatal'],
    ['InvalidAMIID.NotFound', 400, 'fatal'],
  ])('%s (%i) is %s', (code, status, kind) => {
    const classified = classifyEc2Error(ec2Error(code, status), 'RunInstances');
    expect(classified.kind).toBe(kind);
    expect(classified.details.code).toBe(code);
    if (kind === 'throttled') expect(classified.details.retryAfterMs).toBeGreaterThan(0);
  });

  it('treats a dropped connection as transient', () => {
    expect(classifyEc2Error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'DescribeInstances').kind).toBe('transient');
  });

  it('reads the instance ids a NotFound error names', () => {
    expect(idsNamedIn(new Error("The instance IDs 'i-0abc, i-0def12' do not exist"))).toEqual(['i-0abc', 'i-0def12']);
  });
});

function restError(status: number, code: string, headers: Record<string, string> = {}): RestError {
  return new RestError(`${code} happened`, {
    code,
    statusCode: status,
    response: { status, headers: createHttpHeaders(headers), request: undefined as never },
  });
}

describe('Azure error classification', () => {
  it.each([
    [429, 'TooManyRequests', 'throttled'],
    [404, 'ResourceNotFound', 'not_found'],
    [404, 'NotFound', 'not_found'],
    [409, 'OperationNotAllowed', 'transient'],
    [409, 'AllocationFailed', 'capacity'],
    [400, 'SkuNotAvailable', 'capacity'],
    [403, 'AuthorizationFailed', 'fatal'],
    [401, 'InvalidAuthenticationToken', 'fatal'],
    [500, 'InternalServerError', 'transient'],
    [503, 'ServiceUnavailable', 'transient'],
    [400, 'InvalidParameter', 'fatal'],
  ])('%i %s is %s', (status, code, kind) => {
    expect(classifyAzureError(restError(status, code), 'op').kind).toBe(kind);
  });

  it('honours Retry-After in seconds', () => {
    const classified = classifyAzureError(restError(429, 'TooManyRequests', { 'retry-after': '7' }), 'op');
    expect(classified.details.retryAfterMs).toBe(7000);
  });

  it('reads the code of a failed long-running operation from its message', () => {
    const failed = new Error('The long-running operation has failed. AllocationFailed. Allocation failed.');
    expect(classifyAzureError(failed, 'update')).toMatchObject({ kind: 'capacity', details: { code: 'AllocationFailed' } });
  });

  it('retries an operation that failed on Azure\'s side, and no other unknown failure', () => {
    const internal = new Error('The long-running operation has failed. InternalExecutionError. An internal execution error occurred. Please retry later.');
    expect(classifyAzureError(internal, 'update')).toMatchObject({ kind: 'transient', retryable: true });
    const invalid = new Error('The long-running operation has failed. InvalidParameter. The value is not valid.');
    expect(classifyAzureError(invalid, 'update')).toMatchObject({ kind: 'fatal', retryable: false });
  });
});
