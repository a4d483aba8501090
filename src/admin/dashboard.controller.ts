import { Controller, Get, Logger, OnModuleInit, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { ApiError } from '../common/api-error';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The admin dashboard: one HTML page and its scripts and styles, read into memory once at
 * start from dist/src/admin/dashboard/static (built by scripts/build-if-needed.mjs). The page
 * is public; everything it shows comes from the admin API with the admin's own tokens.
 */
@ApiExcludeController()
@Controller('admin')
export class DashboardController implements OnModuleInit {
  private readonly logger = new Logger(DashboardController.name);
  private readonly assets = new Map<string, Asset>();
  static readonly root = join(__dirname, 'dashboard', 'static');

  onModuleInit(): void {
    const root = DashboardController.root;
    if (!existsSync(root)) {
      this.logger.warn(`dashboard assets not found in ${root}; run the build`);
      return;
    }
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) walk(path);
        else if (TYPES[extname(entry)]) this.assets.set(relative(root, path).split('\\').join('/'), { body: readFileSync(path), type: TYPES[extname(entry)] });
      }
    };
    walk(root);
  }

  @Get()
  page(@Res() reply: FastifyReply): void {
    this.send(reply, 'index.html');
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() reply: FastifyReply): void {
    this.send(reply, name);
  }

  @Get('assets/js/:name')
  script(@Param('name') name: string, @Res() reply: FastifyReply): void {
    this.send(reply, `js/${name}`);
  }

  private send(reply: FastifyReply, name: string): void {
    const asset = this.assets.get(name);
    if (!asset) throw ApiError.notFound();
    // Revalidated on every load: a new build must never run next to a stale module.
    reply.header('content-type', asset.type).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(asset.body);
  }
}
