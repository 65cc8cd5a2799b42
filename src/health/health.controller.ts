import { Controller, Get, Logger, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckResult,
  HealthCheckService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/auth.decorators.js';
import { DATABASE_RETRY_AFTER_S } from '../common/api-error.js';
import { AppConfig } from '../config/app-config.js';

/**
 * Liveness and readiness (@nestjs/terminus). Bodies are terminus' own:
 * `{"status":"ok"|"error","info":{...},"error":{...},"details":{...}}`.
 */
@ApiTags('Health')
@Public()
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');

  constructor(
    private readonly checks: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @HealthCheck()
  @ApiOperation({
    summary:
      'Readiness (same as /health/ready): 200 when the database answers a ping within HEALTH_CHECK_TIMEOUT_MS, else 503',
  })
  health(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    return this.readiness(reply);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({
    summary:
      'Readiness: 200 when the database answers a ping within HEALTH_CHECK_TIMEOUT_MS, else 503 (take the instance out of rotation)',
  })
  ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    return this.readiness(reply);
  }

  @Get('live')
  @HealthCheck()
  @ApiOperation({
    summary: 'Liveness: 200 while the process serves HTTP; does not touch the database',
  })
  live(): Promise<HealthCheckResult> {
    return this.checks.check([]);
  }

  private async readiness(reply: FastifyReply): Promise<HealthCheckResult> {
    try {
      return await this.checks.check([
        () =>
          this.db.pingCheck('database', {
            connection: this.dataSource,
            timeout: this.config.HEALTH_CHECK_TIMEOUT_MS,
          }),
      ]);
    } catch (e) {
      // Terminus' 503 carries its own body; answer it as is rather than in the API's error shape.
      if (!(e instanceof ServiceUnavailableException)) throw e;
      const body = e.getResponse() as HealthCheckResult;
      this.logger.warn(`not ready: ${JSON.stringify(body.error ?? {})}`.slice(0, 500));
      void reply.status(503).header('retry-after', String(DATABASE_RETRY_AFTER_S));
      return body;
    }
  }
}
