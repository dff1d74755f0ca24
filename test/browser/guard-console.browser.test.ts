/**
 * The guard console in a real browser: Debian's chromium driven by playwright-core (headless;
 * `--no-sandbox` when running as root) against a running simulated gate.
 *
 * SCREENSHOTS=1 also writes every screen, in zh-CN and en, at 800×480 (the official Pi 7-inch
 * touchscreen) and 390×844 (a phone) to docs/console/ — the README shows them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startSimGate, type SimGate } from '../../scripts/lib/sim-gate.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS === '1';
const SHOT_DIR = join(import.meta.dirname, '..', '..', 'docs', 'console');
const SIZES = [
  { width: 800, height: 480 },
  { width: 390, height: 844 },
] as const;
const WANG = { name: 'wang', password: 'guard-password-1' };

let gate: SimGate;
let browser: Browser;
const contexts: BrowserContext[] = [];

async function context(locale: 'zh-CN' | 'en', size: { width: number; height: number } = SIZES[0]): Promise<Page> {
  const ctx = await browser.newContext({ locale, viewport: size, deviceScaleFactor: 1 });
  contexts.push(ctx);
  return ctx.newPage();
}

async function signInAs(page: Page, who = WANG): Promise<void> {
  await page.goto(`${gate.url}/login`);
  await page.fill('input[name=name]', who.name);
  await page.fill('input[name=password]', who.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('header .guard');
}

function outbox() {
  return gate.store.pendingEvents(0, 10_000).map((r) => r.event);
}

/** Each size: nothing scrolls sideways; with SCREENSHOTS=1 the screen is saved. */
async function screens(page: Page, name: string, lang: string): Promise<void> {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    expect(overflow, `${name} (${lang}) scrolls sideways at ${size.width}×${size.height}`).toBeLessThanOrEqual(0);
    if (SHOTS) await page.screenshot({ path: join(SHOT_DIR, `${name}-${lang}-${size.width}x${size.height}.png`) });
  }
  await page.setViewportSize(SIZES[0]);
}

describe.skipIf(!existsSync(CHROMIUM))('guard console in chromium', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    gate = await startSimGate({ guard: WANG });
    gate.store.saveGuard('li', gate.store.guardHash('wang')!, Date.now());
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...(root ? ['--no-sandbox'] : []), '--host-resolver-rules=MAP rebind.example 127.0.0.1'],
    });
    if (SHOTS) mkdirSync(SHOT_DIR, { recursive: true });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await gate?.stop();
  });

  it('a page reached through a foreign name (DNS rebinding) is refused, and nothing is approved', async () => {
    gate.scanner.present(gate.code({ status: 2, maskedName: '钱多多' }));
    await waitFor(() => gate.service.gate.holds().length === 1, { what: 'the yellow code held' });
    const page = await context('en');
    const res = await page.goto(`http://rebind.example:${gate.port}/`);
    expect(res?.status()).toBe(421);
    expect(await page.textContent('body')).toContain('refused');
    // A script on that page posting to "its own" origin reaches the gate and is refused as well.
    const status = await page.evaluate(`fetch('/open', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"x"}' }).then((r) => r.status)`);
    expect(status).toBe(421);
    expect(outbox().filter((e) => e.type === 'override')).toEqual([]);
    expect(gate.pulses()).toBe(0);
  });

  it('sign in (the browser prefers Chinese: the console speaks it), then a decision arrives live with a masked name', async () => {
    const page = await context('zh-CN');
    await page.goto(gate.url);
    expect(page.url()).toBe(`${gate.url}/login`);
    expect(await page.textContent('button[type=submit]')).toBe('登录');
    await signInAs(page);
    expect(await page.textContent('header .guard')).toContain('wang');
    await page.click('a[data-tab=live]');
    gate.scanner.present(gate.code({ status: 1, maskedName: '王小明' }));
    const line = await page.waitForSelector('#live-list li.r-open');
    const text = (await line.textContent())!;
    expect(text).toContain('王**');
    expect(text).not.toContain('小明');
    expect(text).toContain('浙江省');
    expect(text).toContain('健康码');
  });

  it('a held yellow code approved → exactly one relay pulse and an override whose actor is the signed-in guard', async () => {
    const page = await context('zh-CN');
    await signInAs(page);
    await waitFor(() => gate.service.gate.snapshot().phase === 'idle', { what: 'the gate idle' });
    const card = await page.waitForSelector('#held-list .hold');
    expect(await card.textContent()).toContain('黄码：需人工核验');
    expect(await card.textContent()).toContain('浙江省');
    expect(await card.textContent()).toMatch(/剩余 \d+ 秒/);
    const before = gate.pulses();
    await page.click('#held-list button.approve');
    await page.waitForSelector('dialog#decide[open]');
    await page.click('#decide-ok');
    await page.waitForSelector('#notice.ok');
    await waitFor(() => gate.pulses() === before + 1 && gate.service.gate.snapshot().relay === 'inactive', { what: 'one relay pulse, then rest' });
    const overrides = outbox().filter((e) => e.type === 'override');
    expect(overrides).toEqual([expect.objectContaining({ reason: 'GUARD_APPROVED', result: 'open', actor: 'guard:wang', note: '已人工核验证件' })]);
    await page.waitForSelector('#held-list .empty');
    expect(gate.pulses()).toBe(before + 1);
  });

  it('a held pass denied with a reason from the pick list and free text: recorded, the relay never moves', async () => {
    const page = await context('en');
    await signInAs(page);
    const before = gate.pulses();
    gate.scanner.present(gate.code({ status: 2, maskedName: '赵敏' }));
    await page.waitForSelector('#held-list .hold');
    expect(await page.textContent('#held-list .hold .why')).toBe('Yellow code: check in person');
    await page.click('#held-list button.deny');
    await page.check('#decide-picks input[value="Refused to show ID"]');
    await page.fill('#decide-form input[name=note]', 'left the queue');
    await page.keyboard.press('Enter'); // keyboard: Enter in the note confirms
    await page.waitForSelector('#notice.ok');
    const denied = outbox().filter((e) => e.type === 'override' && e.result === 'deny');
    expect(denied).toEqual([expect.objectContaining({ reason: 'GUARD_DENIED', actor: 'guard:wang', note: 'Refused to show ID: left the queue' })]);
    expect(gate.pulses()).toBe(before);
  });

  it('the language switch turns the console to English and back', async () => {
    const page = await context('zh-CN');
    await signInAs(page);
    expect(await page.textContent('a[data-tab=status]')).toBe('闸机状态');
    await page.click('header a.lang');
    await page.waitForSelector('html[lang=en]');
    expect(await page.textContent('a[data-tab=status]')).toBe('Gate status');
    await page.click('header a.lang');
    await page.waitForSelector('html[lang="zh-CN"]');
    expect(await page.textContent('a[data-tab=status]')).toBe('闸机状态');
  });

  it('every screen in zh-CN and en fits 800×480 and 390×844 without sideways scrolling', async () => {
    for (const lang of ['zh-CN', 'en'] as const) {
      const page = await context(lang);
      await page.goto(`${gate.url}/login`);
      await screens(page, 'login', lang);
      await signInAs(page);
      gate.scanner.present(gate.code({ status: 3, maskedName: '李四' }));
      gate.scanner.present('https://example.com/not-a-code');
      gate.scanner.present(gate.code({ status: 2, maskedName: '张伟' }));
      await page.waitForSelector('#held-list .hold');
      await screens(page, 'held', lang);
      await page.click('#held-list button.approve');
      await page.waitForSelector('dialog#decide[open]');
      await screens(page, 'approve', lang);
      await page.click('#decide-cancel');
      await page.click('a[data-tab=live]');
      await page.waitForSelector('#live-list li.r-deny');
      await screens(page, 'live', lang);
      await page.click('a[data-tab=status]');
      await screens(page, 'status', lang);
      await page.click('a[data-tab=open]');
      await screens(page, 'open', lang);
      // Leave no hold behind for the other language's pictures.
      for (const h of gate.service.gate.holds()) gate.service.gate.decide(h.id, 'deny', 'guard:wang');
    }
  });

  it('with no guard account the console says how to make one and allows nothing', async () => {
    const hash = gate.store.guardHash('wang')!;
    gate.store.removeGuard('wang');
    gate.store.removeGuard('li');
    try {
      for (const lang of ['zh-CN', 'en'] as const) {
        const page = await context(lang);
        await page.goto(gate.url);
        expect(await page.textContent('pre')).toContain('passgate guard add --data-dir /var/lib/passgate NAME');
        await screens(page, 'setup', lang);
        const status = await page.evaluate(`fetch('/holds').then((r) => r.status)`);
        expect(status).toBe(403);
      }
    } finally {
      gate.store.saveGuard('wang', hash, Date.now());
      gate.store.saveGuard('li', hash, Date.now());
    }
  });

  it('five wrong passwords → locked out, even with the right one (runs last: it locks this client)', async () => {
    for (const lang of ['en', 'zh-CN'] as const) {
      const page = await context(lang);
      for (let i = 0; i < 5; i++) {
        await page.goto(`${gate.url}/login`);
        await page.fill('input[name=name]', lang === 'en' ? 'li' : 'wang');
        await page.fill('input[name=password]', 'not-the-password');
        await page.click('button[type=submit]');
        await page.waitForSelector('#login-error');
      }
      expect(await page.textContent('#login-error')).toMatch(lang === 'en' ? /Too many attempts: try again in \d+ s/ : /尝试次数过多/);
      await screens(page, 'locked', lang);
      await page.fill('input[name=password]', WANG.password);
      await page.click('button[type=submit]');
      await page.waitForSelector('#login-error');
      expect(page.url()).toBe(`${gate.url}/login`);
    }
  });
});
