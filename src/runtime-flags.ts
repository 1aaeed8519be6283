/**
 * V8 settings for a long-running proxy, applied before anything else is loaded (this module is the
 * CLI's first import, so it runs before the gateway's modules allocate).
 *
 * Allocation-site pretenuring is off. Under load V8 sees a call's objects (parsed bodies, headers,
 * budget lines, audit events) survive a scavenge while calls are in flight, and starts allocating
 * them straight into the old generation. Those objects die a millisecond later, but only a full
 * mark-compact reclaims them; meanwhile every young object they point to is kept alive and copied by
 * each scavenge. Measured on the realistic mix (bench/RESULTS-performance.md): scavenges took 6–12 ms
 * and the old generation grew 2.5 MB every 100 ms with it; 1.3–3 ms and flat without it, and the
 * gateway's CPU per call fell by ~15%.
 */
import { setFlagsFromString } from 'node:v8';

// A setting given on node's command line wins (`node --allocation-site-pretenuring …`).
if (!process.execArgv.some((a) => a.includes('allocation-site-pretenuring'))) setFlagsFromString('--no-allocation-site-pretenuring');
