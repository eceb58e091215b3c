import type { TargetType } from '@certctl/domain';
import type { ConfigSpec } from '../config/spec';
import { TARGET_CONFIGS } from './target-configs';

/** The config schema and secret fields of a deployment target type. */
export function targetConfigSpec(type: TargetType): ConfigSpec {
  return TARGET_CONFIGS[type];
}
