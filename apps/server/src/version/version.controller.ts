import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { SelfService } from '../auth/access-policy.decorator';
import { APP_VERSION } from './app-version';

export class VersionDto {
  @ApiProperty({ example: '0.1.0' }) version!: string;
  @ApiProperty({ example: 'v20.20.2' }) node!: string;
  @ApiProperty({ example: 'v1' }) api!: string;
}

@ApiTags('version')
@Controller('api/v1/version')
export class VersionController {
  @Get()
  @SelfService()
  @ApiOperation({ operationId: 'getVersion', summary: 'Server and API version' })
  @ApiOkResponse({ type: VersionDto })
  version(): VersionDto {
    return { version: APP_VERSION, node: process.version, api: 'v1' };
  }
}
