/**
 * Reading a gzipped tar archive (an OPA bundle) into memory: file path → contents.
 *
 * Paths are normalized to start with '/' ("data.json", "./data.json" and "/data.json" are all
 * "/data.json"), the form OPA uses in bundle manifests and `.signatures.json`. Anything that could
 * make two readers of the same archive disagree is refused rather than guessed at: duplicate paths,
 * ".." segments, links and special files. Directory entries are skipped. The decompressed size is
 * capped so a small hostile download cannot exhaust memory.
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { TarReadError } from '../errors.js';

const gunzipAsync = promisify(gunzip);

export interface ReadTarOptions {
  /** Most bytes the archive may decompress to (tar headers included). Default 64 MiB. */
  maxBytes?: number;
  /** Most files it may hold. Default 10,000. */
  maxFiles?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_FILES = 10_000;

/** `a/b`, `./a/b`, `/a/b` → `/a/b`; throws on an empty name or a `..` segment. */
export function normalizeTarPath(name: string): string {
  const segments: string[] = [];
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw new TarReadError(`archive entry ${JSON.stringify(name)} has a ".." segment`);
    segments.push(segment);
  }
  if (segments.length === 0) throw new TarReadError(`archive entry ${JSON.stringify(name)} has no file name`);
  return `/${segments.join('/')}`;
}

export async function readTarGz(buf: Buffer, options: ReadTarOptions = {}): Promise<Map<string, Buffer>> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
  let tarball: Buffer;
  try {
    tarball = await gunzipAsync(buf, { maxOutputLength: maxBytes });
  } catch (err) {
    if (err instanceof RangeError || (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TarReadError(`archive decompresses to more than ${maxBytes} bytes`);
    }
    throw new TarReadError(`archive is not valid gzip: ${(err as Error).message}`);
  }

  const files = new Map<string, Buffer>();
  const extractor = extract();
  const done = (async () => {
    for await (const entry of extractor) {
      const { name, type } = entry.header;
      if (type === 'directory') {
        entry.resume();
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        entry.resume();
        throw new TarReadError(`archive entry ${JSON.stringify(name)} is a ${type ?? 'entry of unknown type'}, not a regular file`);
      }
      const path = normalizeTarPath(name);
      if (files.has(path)) throw new TarReadError(`archive holds ${path} more than once`);
      if (files.size >= maxFiles) throw new TarReadError(`archive holds more than ${maxFiles} files`);
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      files.set(path, Buffer.concat(chunks));
    }
  })();
  extractor.end(tarball);
  try {
    await done;
  } catch (err) {
    extractor.destroy();
    if (err instanceof TarReadError) throw err;
    throw new TarReadError(`archive is not a valid tar: ${(err as Error).message}`);
  }
  return files;
}
