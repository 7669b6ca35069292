import { describe, expect, it } from 'vitest';
import * as policy from '../../src/controller/policy.js';
import type { Health, Observation, PolicyConfig } from '../../src/controller/policy.js';

/** The pure policy with its health kept in one place, so each case reads as a sequence of rounds. */
class RecoveryPolicy {
  private health: Health = new Map();
  constructor(private readonly cfg: PolicyConfig) {}
  observe(results: readonly Observation[], now: number) {
    const next = policy.observe(this.health, results, now, this.cfg);
    this.health = next.health;
    return next.events;
  }
  released(path: string) {
    this.health = policy.released(this.health, path);
  }
  blockedMs(path: string, now: number) {
    return policy.blockedMs(this.health, path, now, this.cfg);
  }
  pendingHangs(now: number) {
    return policy.pendingHangs(this.health, now, this.cfg);
  }
  decide(now: number) {
    return policy.decide(this.health, now, this.cfg);
  }
  recorded(targets: readonly string[], stillFailing: ReadonlySet<string>, now: number) {
    this.health = policy.recorded(this.health, targets, stillFailing, now, this.cfg);
  }
}

const cfg: PolicyConfig = {
  enabled: true,
  triggers: ['timeout', 'ESTALE', 'EIO', 'ENOTCONN'],
  hangAfterMs: 15_000,
  cooldownMs: 30_000,
  maxBackoffMs: 300_000,
};
const S = 1000;

describe('RecoveryPolicy.observe', () => {
  it('reports the first result, a mount going bad, changing fault, and coming back with its downtime', () => {
    const p = new RecoveryPolicy(cfg);
    expect(p.observe([{ path: '/a', result: 'ok' }], 0)).toEqual([{ kind: 'initial', path: '/a', result: 'ok' }]);
    expect(p.observe([{ path: '/a', result: 'ok' }], 30 * S)).toEqual([]);
    expect(p.observe([{ path: '/a', result: 'ESTALE' }], 60 * S)).toEqual([
      { kind: 'failing', path: '/a', result: 'ESTALE', previous: 'ok' },
    ]);
    expect(p.observe([{ path: '/a', result: 'ESTALE' }], 90 * S)).toEqual([]);
    expect(p.observe([{ path: '/a', result: 'timeout' }], 120 * S)).toEqual([
      { kind: 'changed', path: '/a', result: 'timeout', previous: 'ESTALE' },
    ]);
    expect(p.observe([{ path: '/a', result: 'ok' }], 125 * S)).toEqual([
      { kind: 'recovered', path: '/a', previous: 'timeout', downMs: 65 * S },
    ]);
  });

  it('counts downtime from the first probe when a mount starts out failing', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe([{ path: '/a', result: 'EIO' }], 10 * S);
    expect(p.observe([{ path: '/a', result: 'ok' }], 40 * S)).toEqual([{ kind: 'recovered', path: '/a', previous: 'EIO', downMs: 30 * S }]);
  });
});

describe('RecoveryPolicy.decide', () => {
  it('does nothing while every mount is ok or fails with a result that is no trigger', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe(
      [
        { path: '/a', result: 'ok' },
        { path: '/b', result: 'unmounted' },
        { path: '/c', result: 'EACCES' },
      ],
      0,
    );
    expect(p.decide(0)).toEqual({ kind: 'none' });
  });

  it('recovers the mounts whose result is a trigger', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe(
      [
        { path: '/a', result: 'ESTALE' },
        { path: '/b', result: 'ok' },
        { path: '/c', result: 'timeout', blockedMs: 15 * S },
      ],
      0,
    );
    expect(p.decide(0)).toEqual({ kind: 'recover', targets: ['/a', '/c'] });
  });
});

describe('RecoveryPolicy: a timeout is a hang only once its call is hang_after old', () => {
  it('a young timeout is no trigger yet; it becomes one when its call reaches hang_after, by its own age', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe([{ path: '/a', result: 'timeout', blockedMs: 5 * S }], 100 * S);
    expect(p.decide(100 * S)).toEqual({ kind: 'none' });
    expect(p.pendingHangs(100 * S)).toEqual([{ path: '/a', at: 110 * S }]);
    // The next round finds the same call still blocked (the prober skipped a new one): 12 s old.
    p.observe([{ path: '/a', result: 'timeout', blockedMs: 12 * S }], 107 * S);
    expect(p.decide(109_999)).toEqual({ kind: 'none' });
    expect(p.decide(110 * S)).toEqual({ kind: 'recover', targets: ['/a'] });
    expect(p.pendingHangs(110 * S)).toEqual([]);
    expect(p.blockedMs('/a', 110 * S)).toBe(15 * S);
  });

  it('a call within HANG_JOIN_MS of hang_after joins a recovery another mount starts; alone it starts none early', () => {
    const p = new RecoveryPolicy(cfg);
    // One server gone silent under three mounts: the pool started the calls 50 ms and 2 s apart.
    p.observe(
      [
        { path: '/a', result: 'timeout', blockedMs: 5000 },
        { path: '/b', result: 'timeout', blockedMs: 4950 },
        { path: '/c', result: 'timeout', blockedMs: 3000 },
      ],
      100 * S,
    );
    expect(p.decide(109_999)).toEqual({ kind: 'none' });
    expect(p.decide(110 * S)).toEqual({ kind: 'recover', targets: ['/a', '/b'] });
    expect(p.blockedMs('/b', 110 * S)).toBe(14_950);
    // /c, 2 s behind, did not join; 0.5 s from its mark it joins /d's recovery. /a and /b, hung
    // and backing off, stay out: the slack is about age, never about the cooldown.
    p.recorded(['/a', '/b'], new Set(['/a', '/b']), 111 * S);
    p.observe([{ path: '/d', result: 'EIO' }], 111_500);
    expect(p.decide(111_500)).toEqual({ kind: 'recover', targets: ['/c', '/d'] });
  });

  it('a call that returns is a slow mount: never a trigger by age, and a new call starts the count again', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe([{ path: '/a', result: 'timeout', blockedMs: 5 * S }], 0);
    p.released('/a');
    expect(p.pendingHangs(1 * S)).toEqual([]);
    expect(p.blockedMs('/a', 1 * S)).toBeNull();
    expect(p.decide(60 * S)).toEqual({ kind: 'none' });
    p.observe([{ path: '/a', result: 'timeout', blockedMs: 5 * S }], 30 * S);
    expect(p.decide(39 * S)).toEqual({ kind: 'none' });
    expect(p.decide(40 * S).kind).toBe('recover');
  });

  it('a timeout with no known age counts from now; hang_after never applies to errno results', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe(
      [
        { path: '/a', result: 'timeout' },
        { path: '/b', result: 'EIO' },
      ],
      0,
    );
    expect(p.decide(0)).toEqual({ kind: 'recover', targets: ['/b'] });
    expect(p.pendingHangs(0)).toEqual([{ path: '/a', at: 15 * S }]);
  });

  it('automount_timeout is no trigger unless listed, and then by the same age rule', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe([{ path: '/a', result: 'automount_timeout', blockedMs: 60 * S }], 0);
    expect(p.decide(0)).toEqual({ kind: 'none' });
    expect(p.pendingHangs(0)).toEqual([]);
    const listed = new RecoveryPolicy({ ...cfg, triggers: [...cfg.triggers, 'automount_timeout'] });
    listed.observe([{ path: '/a', result: 'automount_timeout', blockedMs: 5 * S }], 0);
    expect(listed.decide(0)).toEqual({ kind: 'none' });
    expect(listed.decide(10 * S).kind).toBe('recover');
  });

  it('holds when recovery is disabled', () => {
    const p = new RecoveryPolicy({ ...cfg, enabled: false });
    p.observe([{ path: '/a', result: 'ESTALE' }], 0);
    expect(p.decide(0)).toEqual({ kind: 'hold', reason: 'disabled', targets: ['/a'], untilMs: null });
  });

  it('keeps the cooldown per mount: another mount is recovered at once, the same one waits', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe(
      [
        { path: '/a', result: 'ESTALE' },
        { path: '/b', result: 'ok' },
      ],
      0,
    );
    p.observe([{ path: '/a', result: 'ok' }], 1 * S); // the recovery's re-probe
    p.recorded(['/a'], new Set(), 1 * S);
    p.observe(
      [
        { path: '/a', result: 'ok' },
        { path: '/b', result: 'EIO' },
      ],
      5 * S,
    );
    expect(p.decide(5 * S)).toEqual({ kind: 'recover', targets: ['/b'] });
    p.recorded(['/b'], new Set(), 6 * S);
    p.observe(
      [
        { path: '/a', result: 'ESTALE' },
        { path: '/b', result: 'ok' },
      ],
      10 * S,
    );
    expect(p.decide(10 * S)).toEqual({ kind: 'hold', reason: 'cooldown', targets: ['/a'], untilMs: 31 * S });
    expect(p.decide(31 * S)).toEqual({ kind: 'recover', targets: ['/a'] });
  });

  it('backs off a mount that stays failing: cooldown, then doubling, capped at max_backoff', () => {
    const p = new RecoveryPolicy(cfg);
    let now = 0;
    const waits: number[] = [];
    p.observe([{ path: '/a', result: 'EIO' }], now);
    for (let i = 0; i < 7; i++) {
      expect(p.decide(now).kind).toBe('recover');
      p.recorded(['/a'], new Set(['/a']), now);
      // Step through time one second at a time until the next recovery is allowed.
      const from = now;
      do now += S;
      while (p.decide(now).kind !== 'recover');
      waits.push((now - from) / S);
    }
    expect(waits).toEqual([30, 60, 120, 240, 300, 300, 300]);
  });

  it('reports the backoff with the time it ends', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe([{ path: '/a', result: 'timeout' }], 0);
    p.recorded(['/a'], new Set(['/a']), 0);
    p.recorded(['/a'], new Set(['/a']), 40 * S);
    expect(p.decide(50 * S)).toEqual({ kind: 'hold', reason: 'backoff', targets: ['/a'], untilMs: 100 * S });
  });

  it('forgets the backoff once the mount has recovered', () => {
    const p = new RecoveryPolicy(cfg);
    p.observe([{ path: '/a', result: 'ESTALE' }], 0);
    for (const t of [0, 30, 90]) p.recorded(['/a'], new Set(['/a']), t * S);
    p.observe([{ path: '/a', result: 'ok' }], 100 * S);
    p.observe([{ path: '/a', result: 'ESTALE' }], 200 * S);
    expect(p.decide(200 * S)).toEqual({ kind: 'recover', targets: ['/a'] });
  });

  it('with no cooldown still waits at least a second before unmounting a failing mount again', () => {
    const p = new RecoveryPolicy({ ...cfg, cooldownMs: 0 });
    p.observe([{ path: '/a', result: 'EIO' }], 0);
    p.recorded(['/a'], new Set(['/a']), 0);
    expect(p.decide(500).kind).toBe('hold');
    expect(p.decide(1000).kind).toBe('recover');
  });
});
