import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { Get, Logger, OnModuleInit, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiError } from './api-error';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * The files of a built browser page (HTML, its bundle, its styles), read into memory once
 * at start, so serving one is a Map lookup. Nothing outside `root` can be named.
 */
export class StaticAssets {
  private readonly files = new Map<string, { body: Buffer; type: string }>();

  constructor(readonly root: string) {
    if (existsSync(root)) this.walk(root);
  }

  get loaded(): boolean {
    return this.files.size > 0;
  }

  send(reply: FastifyReply, name: string): void {
    const file = this.files.get(name);
    if (!file) throw ApiError.notFound();
    // Revalidated on every load: a new build must never run next to a stale module.
    reply.header('content-type', file.type).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(file.body);
  }

  private walk(dir: string): void {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) this.walk(path);
      else if (TYPES[extname(entry)])
        this.files.set(relative(this.root, path).split('\\').join('/'), { body: readFileSync(path), type: TYPES[extname(entry)] });
    }
  }
}

/**
 * A controller serving a built browser page's assets under `<prefix>/assets/…`; the subclass
 * names its folder and adds the page routes. (Nest registers inherited routes.)
 */
export abstract class StaticAssetsController implements OnModuleInit {
  protected assets!: StaticAssets;

  protected abstract readonly root: string;

  onModuleInit(): void {
    this.assets = new StaticAssets(this.root);
    if (!this.assets.loaded) new Logger(this.constructor.name).warn(`page assets not found in ${this.root}; run the build`);
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() reply: FastifyReply): void {
    this.assets.send(reply, name);
  }

  @Get('assets/js/:name')
  script(@Param('name') name: string, @Res() reply: FastifyReply): void {
    this.assets.send(reply, `js/${name}`);
  }
}
