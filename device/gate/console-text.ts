/**
 * What the console says, in Simplified Chinese and English: labels, and every §8 reason code in the
 * words a guard uses (for a held pass: what to check). The client script receives the same table,
 * so the server-rendered page and the live updates always agree.
 */
import type { Reason } from '../core/types.js';

export type Lang = 'zh-CN' | 'en';
export const LANGS: readonly Lang[] = ['zh-CN', 'en'];

/** zh-CN when the browser prefers Chinese over English, en otherwise. */
export function pickLang(cookie: string | undefined, acceptLanguage: string | undefined): Lang {
  if (cookie === 'zh-CN' || cookie === 'en') return cookie;
  const prefs = (acceptLanguage ?? '')
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag: tag ?? '', q: q === undefined ? 1 : Number(q), i };
    })
    .filter((p) => p.tag && p.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const p of prefs) {
    if (p.tag === 'zh' || p.tag.startsWith('zh-')) return 'zh-CN';
    if (p.tag === 'en' || p.tag.startsWith('en-')) return 'en';
  }
  return 'en';
}

type ReasonWords = Record<Reason, string>;

const REASON_ZH: ReasonWords = {
  UNREADABLE: '无法读取：请重新扫码',
  UNSUPPORTED_FORMAT: '不是健康码：请出示健康码或身份证',
  BAD_ENCODING: '码已损坏：请刷新后重扫',
  UNKNOWN_KEY: '签发机构未知：需人工核验',
  BAD_SIGNATURE: '签名无效：疑似伪造或截图被修改',
  KEY_NOT_VALID: '签发密钥已失效：需人工核验',
  ISSUER_MISMATCH: '签发机构不符：需人工核验',
  ISSUER_NOT_ACCEPTED: '本门不接受该地区的码',
  NOT_YET_VALID: '码尚未生效：请核对手机时间',
  EXPIRED: '码已过期：请刷新健康码',
  REVOKED: '码已被撤销',
  ID_INVALID: '身份证号无效：请重新读卡',
  CLOCK_UNTRUSTED: '闸机时间不可信：需人工核验',
  TRUST_STALE: '签发名单过期：需人工核验',
  LIST_STALE: '名单过期：需人工核验',
  HOLDER_UNKNOWN: '持证人未登记：需人工核验',
  LOOKUP_TIMEOUT: '联网查询无应答：需人工核验',
  STATUS_YELLOW: '黄码：需人工核验',
  STATUS_RED: '红码：不得通行',
  REPLAY: '刚刚已通行（防回传）',
  OK: '有效：人工值守模式下需确认',
  GUARD_APPROVED: '保安已放行',
  GUARD_DENIED: '保安已拒绝',
  INTERNAL: '闸机故障：请联系技术人员',
};

const REASON_EN: ReasonWords = {
  UNREADABLE: 'Could not read: scan again',
  UNSUPPORTED_FORMAT: 'Not a health code: show a health code or ID card',
  BAD_ENCODING: 'Damaged code: refresh it and scan again',
  UNKNOWN_KEY: 'Unknown issuer key: check in person',
  BAD_SIGNATURE: 'Invalid signature: forged or edited code',
  KEY_NOT_VALID: "Issuer's key no longer valid: check in person",
  ISSUER_MISMATCH: 'Issuer does not match: check in person',
  ISSUER_NOT_ACCEPTED: 'Codes from this region are not accepted here',
  NOT_YET_VALID: 'Code not valid yet: check the phone clock',
  EXPIRED: 'Code expired: refresh the health code',
  REVOKED: 'Code revoked',
  ID_INVALID: 'ID number not valid: read the card again',
  CLOCK_UNTRUSTED: "Gate's clock not trusted: check in person",
  TRUST_STALE: 'Issuer list out of date: check in person',
  LIST_STALE: 'Lists out of date: check in person',
  HOLDER_UNKNOWN: 'Holder not registered: check in person',
  LOOKUP_TIMEOUT: 'Online check did not answer: check in person',
  STATUS_YELLOW: 'Yellow code: check in person',
  STATUS_RED: 'Red code: may not pass',
  REPLAY: 'Just passed (anti-passback)',
  OK: 'Valid: staffed mode asks you to confirm',
  GUARD_APPROVED: 'Approved by a guard',
  GUARD_DENIED: 'Denied by a guard',
  INTERNAL: 'Gate fault: call a technician',
};

const ZH = {
  title: '闸机值守台',
  signIn: '登录',
  signOut: '退出',
  name: '账号',
  password: '密码',
  signedInAs: '值守人员',
  wrongPassword: '账号或密码错误',
  locked: '尝试次数过多，请在 {s} 秒后再试',
  busy: '系统繁忙，请稍后再试',
  noAccountTitle: '尚无值守账号',
  noAccountText: '控制台在创建值守账号前不允许任何操作。请在闸机上以 passgate 用户运行：',
  held: '待核验',
  noHolds: '当前没有待核验的人员',
  expiresIn: '剩余 {s} 秒',
  approve: '放行',
  deny: '拒绝',
  reason: '原因',
  note: '备注（可选）',
  notePlaceholder: '补充说明',
  confirm: '确认',
  cancel: '取消',
  live: '实时通行记录',
  noLive: '暂无记录',
  status: '闸机状态',
  manualOpen: '手动开闸',
  manualReason: '开闸原因（必填）',
  open: '开闸',
  done: '已完成',
  failed: '未执行：{e}',
  needsPerson: '需要处理',
  allGood: '运行正常',
  trust: '签发机构名单',
  policy: '通行策略',
  tokens: '撤销名单',
  holders: '持证人名单',
  version: '版本',
  age: '更新于 {a} 前',
  never: '从未更新',
  offlineReady: '离线可用至 {t}',
  offlineExpired: '离线数据已过期（{t}）',
  clock: '时钟',
  clockTrusted: '可信',
  clockUntrusted: '不可信',
  broker: '后台连接',
  connected: '已连接',
  offline: '离线',
  notConfigured: '未配置',
  relay: '继电器',
  relayActive: '吸合（门已开）',
  relayInactive: '释放（门已锁）',
  passage: '通行传感器',
  fireAlarm: '消防报警',
  alarmOn: '报警中：闸机已放开',
  outbox: '待上传记录',
  oldest: '最早 {a} 前',
  ok: '正常',
  fault: '故障',
  language: 'English',
  pickApprove: ['已人工核验证件', '已出示核酸/检测证明', '医护人员/工作人员', '其他'],
  pickDeny: ['拒绝出示证件', '证件与本人不符', '不符合入院要求', '其他'],
  pickOpen: ['急救/担架通行', '设备故障', '工作人员通行', '其他'],
  result: { open: '通过', deny: '拒绝', staff: '待核验', error: '故障' } as Record<string, string>,
  formats: { HP1: '健康码', HC1: '欧盟数字新冠证书', IDCARD: '居民身份证' } as Record<string, string>,
  inputs: { qr: '扫码', idcard: '读卡' } as Record<string, string>,
  parts: { scanner0: '扫码器 1', scanner1: '扫码器 2', scanner2: '扫码器 3', idreader: '身份证阅读器', camera: '摄像头', relay: '继电器', passage: '通行传感器', fireAlarm: '消防报警', link: '后台连接', guardConsole: '值守台' } as Record<string, string>,
  seconds: '{n} 秒',
  minutes: '{n} 分钟',
  hours: '{n} 小时',
  days: '{n} 天',
  override: '人工操作',
  by: '操作人 {g}',
};

export type Texts = typeof ZH;

const EN: Texts = {
  title: 'Gate console',
  signIn: 'Sign in',
  signOut: 'Sign out',
  name: 'Account',
  password: 'Password',
  signedInAs: 'Guard',
  wrongPassword: 'Wrong account or password',
  locked: 'Too many attempts: try again in {s} s',
  busy: 'Busy: try again in a moment',
  noAccountTitle: 'No guard account yet',
  noAccountText: 'The console allows nothing until a guard account exists. On the gate, as the passgate user, run:',
  held: 'Waiting for a guard',
  noHolds: 'Nobody is waiting',
  expiresIn: '{s} s left',
  approve: 'Approve',
  deny: 'Deny',
  reason: 'Reason',
  note: 'Note (optional)',
  notePlaceholder: 'More detail',
  confirm: 'Confirm',
  cancel: 'Cancel',
  live: 'Live decisions',
  noLive: 'Nothing yet',
  status: 'Gate status',
  manualOpen: 'Open manually',
  manualReason: 'Why (required)',
  open: 'Open',
  done: 'Done',
  failed: 'Not done: {e}',
  needsPerson: 'Needs a person',
  allGood: 'All well',
  trust: 'Issuer list',
  policy: 'Policy',
  tokens: 'Revoked codes',
  holders: 'Holders',
  version: 'version',
  age: 'updated {a} ago',
  never: 'never updated',
  offlineReady: 'offline-ready until {t}',
  offlineExpired: 'offline data out of date ({t})',
  clock: 'Clock',
  clockTrusted: 'trusted',
  clockUntrusted: 'NOT trusted',
  broker: 'Backend link',
  connected: 'connected',
  offline: 'offline',
  notConfigured: 'not configured',
  relay: 'Relay',
  relayActive: 'energised (unlocked)',
  relayInactive: 'at rest (locked)',
  passage: 'Passage sensor',
  fireAlarm: 'Fire alarm',
  alarmOn: 'ALARM: gate released',
  outbox: 'Events to upload',
  oldest: 'oldest {a} ago',
  ok: 'OK',
  fault: 'FAULT',
  language: '中文',
  pickApprove: ['ID checked in person', 'Test certificate shown', 'Staff member', 'Other'],
  pickDeny: ['Refused to show ID', 'ID does not match the person', 'Does not meet entry rules', 'Other'],
  pickOpen: ['Stretcher / emergency', 'Equipment fault', 'Staff passage', 'Other'],
  result: { open: 'OPEN', deny: 'DENY', staff: 'HELD', error: 'ERROR' },
  formats: { HP1: 'Health code', HC1: 'EU DCC', IDCARD: 'Resident ID card' },
  inputs: { qr: 'scan', idcard: 'ID card' },
  parts: { scanner0: 'Scanner 1', scanner1: 'Scanner 2', scanner2: 'Scanner 3', idreader: 'ID card reader', camera: 'Camera', relay: 'Relay', passage: 'Passage sensor', fireAlarm: 'Fire alarm', link: 'Backend link', guardConsole: 'Console' },
  seconds: '{n} s',
  minutes: '{n} min',
  hours: '{n} h',
  days: '{n} d',
  override: 'Guard action',
  by: 'by {g}',
};

export const TEXTS: Record<Lang, Texts & { reasons: ReasonWords }> = {
  'zh-CN': { ...ZH, reasons: REASON_ZH },
  en: { ...EN, reasons: REASON_EN },
};

/** `{x}` placeholders filled in. */
export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => String(values[k] ?? ''));
}
