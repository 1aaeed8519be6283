/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and tells where the time went: top functions by
 * self time, the same grouped by area (our src/, undici, node:http, GC, …), and inclusive time of
 * our own functions.
 *
 * Usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [requests [skip-ms]]
 * With `requests`, times are also shown in µs per request; `skip-ms` ignores the profile's start.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  where: string;
  area: string;
  selfUs: number;
  share: number;
}

export interface ProfileSummary {
  totalUs: number;
  busyUs: number;
  top: ProfileRow[];
  areas: { area: string; selfUs: number; share: number }[];
  /** Inclusive time of functions in the project's own source (src/). */
  inclusive: ProfileRow[];
}

const IDLE = new Set(['(idle)', '(root)']);

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) return url.slice(nm + '/node_modules/'.length);
  const src = url.search(/\/(src|bench|examples)\//);
  if (src !== -1) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

export function areaOf(functionName: string, url: string): string {
  if (functionName.startsWith('(') && url === '') return functionName; // (garbage collector), (program)
  if (url === '') return 'native / V8 builtins';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:internal/')) {
    const mod = url.slice('node:internal/'.length).split('/');
    return `node:${mod[0] === 'streams' || mod[0] === 'http2' ? mod[0] : mod.slice(0, -1).join('/') || mod[0].replace(/\.js$/, '')}`;
  }
  if (url.startsWith('node:')) return url.replace(/\.js$/, '');
  const src = url.search(/\/src\//);
  if (src !== -1) return 'gateway src/';
  return shortUrl(url);
}

/**
 * `skipUs`: ignore the first microseconds of the profile (process start, warm-up); `untilUs`: and
 * everything after this offset (the shutdown: closing the audit store checkpoints its WAL).
 */
export function summarizeProfile(file: string, opts: { skipUs?: number; untilUs?: number; topN?: number; inclusiveN?: number } = {}): ProfileSummary {
  const skipUs = opts.skipUs ?? 0;
  const untilUs = opts.untilUs ?? Number.POSITIVE_INFINITY;
  const topN = opts.topN ?? 30;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) byId.set(n.id, n);
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // timeDeltas[i] is the time before sample i; attribute the interval after a sample to it.
  const selfById = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  const mean = samples.length > 1 ? (profile.endTime - profile.startTime) / samples.length : 0;
  const inclusiveByKey = new Map<string, number>();
  let t = 0;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    if (t < skipUs) continue;
    if (t > untilUs) break;
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : mean;
    selfById.set(samples[i], (selfById.get(samples[i]) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = samples[i]; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!/\/src\//.test(f.url)) continue;
      const key = `${f.functionName || '(anonymous)'}\u0000${shortUrl(f.url)}:${f.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusiveByKey.set(key, (inclusiveByKey.get(key) ?? 0) + dt);
    }
  }

  const selfByKey = new Map<string, { name: string; where: string; area: string; selfUs: number }>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfById) {
    const f = byId.get(id)!.callFrame;
    totalUs += us;
    if (IDLE.has(f.functionName)) {
      idleUs += us;
      continue;
    }
    const name = f.functionName || '(anonymous)';
    const where = f.url === '' ? '' : `${shortUrl(f.url)}:${f.lineNumber + 1}`;
    const key = `${name}\u0000${where}`;
    const row = selfByKey.get(key) ?? { name, where, area: areaOf(f.functionName, f.url), selfUs: 0 };
    row.selfUs += us;
    selfByKey.set(key, row);
  }
  const busyUs = totalUs - idleUs;
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0);
  const rows = [...selfByKey.values()].sort((a, b) => b.selfUs - a.selfUs);
  const areas = new Map<string, number>();
  for (const r of rows) areas.set(r.area, (areas.get(r.area) ?? 0) + r.selfUs);
  return {
    totalUs,
    busyUs,
    top: rows.slice(0, topN).map((r) => ({ ...r, share: share(r.selfUs) })),
    areas: [...areas].map(([area, selfUs]) => ({ area, selfUs, share: share(selfUs) })).sort((a, b) => b.selfUs - a.selfUs),
    inclusive: [...inclusiveByKey]
      .map(([key, us]) => {
        const [name, where] = key.split('\u0000');
        return { name, where, area: 'gateway src/', selfUs: us, share: share(us) };
      })
      .sort((a, b) => b.selfUs - a.selfUs)
      .slice(0, opts.inclusiveN ?? 15),
  };
}

/** Plain-text report; with `requests`, also µs per request. */
export function formatProfile(s: ProfileSummary, requests?: number): string {
  const perReq = (us: number) => (requests ? `${(us / requests).toFixed(1).padStart(7)} µs/req` : '');
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const out: string[] = [];
  out.push(`busy ${(s.busyUs / 1e6).toFixed(2)} s of ${(s.totalUs / 1e6).toFixed(2)} s profiled${requests ? `, ${requests} requests → ${(s.busyUs / requests).toFixed(1)} µs busy per request` : ''}`);
  out.push('', 'self time by area:');
  for (const a of s.areas.slice(0, 15)) out.push(`  ${pct(a.share)} ${perReq(a.selfUs)}  ${a.area}`);
  out.push('', 'top functions by self time:');
  for (const r of s.top) out.push(`  ${pct(r.share)} ${perReq(r.selfUs)}  ${r.name}  ${r.where}`);
  out.push('', 'inclusive time of gateway src/ functions:');
  for (const r of s.inclusive) out.push(`  ${pct(r.share)} ${perReq(r.selfUs)}  ${r.name}  ${r.where}`);
  return out.join('\n');
}

/** Self time per request by area, side by side: where the second process spends more than the first. */
export function compareProfiles(a: ProfileSummary, aRequests: number, b: ProfileSummary, bRequests: number): string {
  const per = (s: ProfileSummary, n: number) => new Map(s.areas.map((x) => [x.area, x.selfUs / n]));
  const pa = per(a, aRequests);
  const pb = per(b, bRequests);
  const areas = [...new Set([...pa.keys(), ...pb.keys()])].map((area) => ({ area, a: pa.get(area) ?? 0, b: pb.get(area) ?? 0 })).sort((x, y) => Math.abs(y.b - y.a) - Math.abs(x.b - x.a));
  const f = (x: number) => x.toFixed(1).padStart(7);
  const out = [`  ${'floor'.padStart(7)} ${'gateway'.padStart(7)} ${'diff'.padStart(7)}  µs/request, self time by area`];
  out.push(`  ${f(a.busyUs / aRequests)} ${f(b.busyUs / bRequests)} ${f(b.busyUs / bRequests - a.busyUs / aRequests)}  TOTAL busy`);
  for (const x of areas.slice(0, 20)) out.push(`  ${f(x.a)} ${f(x.b)} ${f(x.b - x.a)}  ${x.area}`);
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [requests [skip-ms]]\n');
    process.exit(2);
  }
  const requests = process.argv[3] ? Number(process.argv[3]) : undefined;
  const skipUs = process.argv[4] ? Number(process.argv[4]) * 1000 : 0;
  console.log(formatProfile(summarizeProfile(file, { skipUs }), requests));
}
