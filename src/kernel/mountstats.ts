// Parses /proc/self/mountstats: the NFS client's per-mount counters, formatted by the kernel from
// memory (reading it sends no RPC and never waits on a server). Only NFS mounts carry counters;
// every other mount is one "device … mounted on … with fstype …" line and is skipped.

/** One operation's line: `OP: ops trans timeouts bytes_sent bytes_recv queue rtt execute [errors]`. */
export interface OpStats {
  /** Requests completed. */
  readonly ops: number;
  /** Transmissions: ops plus retransmissions. */
  readonly trans: number;
  /** Major timeouts. */
  readonly timeouts: number;
  readonly bytesSent: number;
  readonly bytesRecv: number;
  /** Cumulative milliseconds queued before transmission. */
  readonly queueMs: number;
  /** Cumulative milliseconds from transmission to reply (round trip). */
  readonly rttMs: number;
  /** Cumulative milliseconds from the request's start to its end. */
  readonly executeMs: number;
  /** Ops that ended with a negative status (statvers 1.1, kernels from 5.3); null where the kernel lacks the field. */
  readonly errors: number | null;
}

/** The `xprt:` line's counters that tell whether the server answers at all (tcp and udp). */
export interface XprtStats {
  readonly protocol: string;
  readonly sends: number;
  readonly recvs: number;
}

export interface NfsMountStats {
  /** The mount's source, e.g. `10.0.0.10:/export/dags`. */
  readonly device: string;
  /** Unescaped (\040 → space). */
  readonly mountPoint: string;
  /** nfs or nfs4. */
  readonly fstype: string;
  /** The `statvers=` value, e.g. "1.1"; "" when absent. */
  readonly statvers: string;
  /** Seconds since the mount was made (the `age:` line); null when absent. */
  readonly ageS: number | null;
  /** Per operation name (GETATTR, READDIR, …), in the kernel's order. */
  readonly ops: ReadonlyMap<string, OpStats>;
  /** The first transport's counters; null when absent. */
  readonly xprt: XprtStats | null;
}
