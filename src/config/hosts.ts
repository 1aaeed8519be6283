/** Host names and listen addresses: what is loopback, and the name in a Host header or URL authority. */

/** The names a listener on a loopback address answers to by default. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

/** 127.0.0.0/8, ::1 (also as an IPv4-mapped address, bracketed or not) or localhost: only this host reaches it. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** The host name of a Host header or URL authority, lower case, without the port (`[::1]` keeps its brackets). */
export function hostName(authority: string): string {
  const a = authority.toLowerCase();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return end === -1 ? a : a.slice(0, end + 1);
  }
  const colon = a.indexOf(':');
  return colon === -1 ? a : a.slice(0, colon);
}
