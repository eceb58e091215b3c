import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The body of every error response. */
export class ErrorResponseDto {
  @ApiProperty({ example: 'Bad Request', description: 'HTTP status text' })
  error!: string;

  @ApiProperty({ example: 'body.name: name must be a string', description: 'What is wrong, naming the field' })
  message!: string;

  @ApiProperty({ example: '5f0c6a8e-3b1d-4c47-9d7e-2f1a0b9c8d7e', description: 'Quote this to an operator' })
  request_id!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  details?: Record<string, unknown>;
}
