import { ApiProperty } from '@nestjs/swagger';

export class ErrorInnerDto {
  @ApiProperty({ description: 'HTTP status code', example: 400 })
  code: number;

  @ApiProperty({ example: 'Invalid request: identities[0]: must not be empty' })
  message: string;

  @ApiProperty({
    description: 'Google RPC status name, as in Sinch error bodies',
    enum: [
      'INVALID_ARGUMENT',
      'UNAUTHENTICATED',
      'PERMISSION_DENIED',
      'NOT_FOUND',
      'ALREADY_EXISTS',
      'FAILED_PRECONDITION',
      'RESOURCE_EXHAUSTED',
      'INTERNAL',
      'UNAVAILABLE',
    ],
    enumName: 'RpcStatus',
    example: 'INVALID_ARGUMENT',
  })
  status: string;

  @ApiProperty({
    description:
      'google.rpc details; a 400 carries a google.rpc.BadRequest with field_violations [{field, description}]',
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    example: [
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        field_violations: [{ field: 'identities[0]', description: 'must not be empty' }],
      },
    ],
  })
  details: Record<string, unknown>[];
}

/** Every error response, in Sinch's shape. */
export class ErrorResponseDto {
  @ApiProperty({ type: ErrorInnerDto })
  error: ErrorInnerDto;
}
