import { arch, hostname, networkInterfaces, platform } from 'node:os';
import { AGENT_VERSION } from '../version';

export interface SystemInfo {
  os: string;
  architecture: string;
  ip_address: string;
  hostname: string;
  version: string;
}

/** Node's names mapped to the GOARCH names certctl's agent groups match on. */
const ARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm: 'arm',
  arm64: 'arm64',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The first non-internal IPv4 address, else the first non-internal IPv6 one, else ''. */
export function primaryIp(ifaces = networkInterfaces()): string {
  const all = Object.values(ifaces)
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal);
  const v4 = all.find((a) => a.family === 'IPv4');
  const v6 = all.find((a) => a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80'));
  return v4?.address ?? v6?.address ?? '';
}

/** What a heartbeat reports (the `runtime.GOOS`/`GOARCH` vocabulary: linux, darwin, windows; amd64, arm64). */
export function systemInfo(): SystemInfo {
  const os = platform();
  return {
    os: os === 'win32' ? 'windows' : os,
    architecture: ARCH[arch()] ?? arch(),
    ip_address: primaryIp(),
    hostname: hostname().slice(0, 253),
    version: AGENT_VERSION,
  };
}
