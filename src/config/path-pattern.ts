/**
 * Path patterns of HTTP tool operations: `/repos/{owner}/{repo}/issues`. A `{name}` segment matches
 * one non-empty path segment; a final `{name*}` matches the rest of the path (one segment or more).
 * Literal segments compare exactly (case-sensitive). Compiled once per config into segment lists;
 * matching a request splits its path once and compares segments, no regular expression.
 * In config/ because a config is checked with it at load; tools/ matches requests with it.
 */

import { ToolDefinitionError } from '../errors.js';

export interface PathPattern {
  readonly source: string;
  /** Literal segment, or a parameter name (`param`) or the final catch-all (`rest`). */
  readonly segments: readonly ({ literal: string } | { param: string } | { rest: string })[];
  /** The pattern has no parameters: it is matched by one Map lookup. */
  readonly literal: boolean;
}

const PARAM = /^\{([A-Za-z_][A-Za-z0-9_]*)(\*?)\}$/;

/** Compiles a pattern; throws a ToolDefinitionError naming the problem. */
export function compilePathPattern(source: string): PathPattern {
  if (!source.startsWith('/')) throw new ToolDefinitionError('AOS_ERR_TOOL_PATH_PATTERN', 'a path pattern starts with /');
  const parts = source === '/' ? [] : source.slice(1).split('/');
  const segments: PathPattern['segments'][number][] = [];
  const names = new Set<string>();
  parts.forEach((part, i) => {
    if (part === '') throw new ToolDefinitionError('AOS_ERR_TOOL_PATH_PATTERN', 'empty path segment (// or a trailing /)');
    if (part === '.' || part === '..') throw new ToolDefinitionError('AOS_ERR_TOOL_PATH_PATTERN', 'dot segments are not allowed');
    const m = PARAM.exec(part);
    if (m === null) {
      if (part.includes('{') || part.includes('}')) throw new ToolDefinitionError('AOS_ERR_TOOL_PATH_PATTERN', `bad parameter segment "${part}" (expected {name} or a final {name*})`);
      segments.push({ literal: part });
      return;
    }
    if (names.has(m[1])) throw new ToolDefinitionError('AOS_ERR_TOOL_PATH_PATTERN', `parameter {${m[1]}} appears twice`);
    names.add(m[1]);
    if (m[2] === '*') {
      if (i !== parts.length - 1) throw new ToolDefinitionError('AOS_ERR_TOOL_PATH_PATTERN', `{${m[1]}*} must be the last segment`);
      segments.push({ rest: m[1] });
    } else {
      segments.push({ param: m[1] });
    }
  });
  return { source, segments, literal: names.size === 0 };
}

/** Splits a request path (no query) into segments; '/' is no segment. */
export function splitPath(path: string): string[] {
  return path === '/' || path === '' ? [] : path.slice(1).split('/');
}

/**
 * Matches split path segments; returns the parameters (percent-decoded) or null. A segment that
 * does not decode (bad percent-encoding), or a `{param}` holding an encoded slash, does not match.
 */
export function matchPathPattern(pattern: PathPattern, parts: readonly string[]): Record<string, string> | null {
  const segs = pattern.segments;
  const last = segs.length === 0 ? null : segs[segs.length - 1];
  const hasRest = last !== null && 'rest' in last;
  if (hasRest ? parts.length < segs.length : parts.length !== segs.length) return null;
  let params: Record<string, string> | null = null;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const part = parts[i];
    if ('literal' in s) {
      if (part !== s.literal) return null;
    } else if ('param' in s) {
      // An encoded slash would be one segment here and two on an upstream that decodes it: another endpoint.
      if (part === '' || hasEncodedSlash(part)) return null;
      const v = decode(part);
      if (v === null) return null;
      if (params === null) params = {};
      params[s.param] = v;
    } else {
      const rest = parts.slice(i);
      if (rest.some((p) => p === '')) return null;
      const v = decode(rest.join('/'));
      if (v === null) return null;
      if (params === null) params = {};
      params[s.rest] = v;
    }
  }
  return params ?? {};
}

function hasEncodedSlash(s: string): boolean {
  const i = s.indexOf('%');
  return i !== -1 && /%2f/i.test(s.slice(i));
}

function decode(s: string): string | null {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
