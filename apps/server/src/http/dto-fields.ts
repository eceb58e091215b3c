import { applyDecorators } from '@nestjs/common';
import { IsString, Matches, MaxLength } from 'class-validator';
import { CLIENT_ID_PATTERN } from '@certctl/domain';

/**
 * Validators shared by every resource DTO, so an id or a name is checked (and its
 * message worded) the same way everywhere: `body.team_id: must be 1-128 ...`.
 */
export const IsClientId = (opts: { each?: boolean } = {}): PropertyDecorator =>
  Matches(CLIENT_ID_PATTERN, {
    each: opts.each,
    message: opts.each
      ? 'each entry of $property must be 1-128 lowercase letters, digits, . _ - (starting alphanumeric)'
      : '$property must be 1-128 lowercase letters, digits, . _ - (starting alphanumeric)',
  });

/** A human-readable name: a string, not blank, at most `max` characters. */
export const IsResourceName = (max = 200): PropertyDecorator =>
  applyDecorators(IsString(), Matches(/\S/, { message: '$property must not be blank' }), MaxLength(max));
