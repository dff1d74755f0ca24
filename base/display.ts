/**
 * The display rule for a name (PROTOCOL §2): a gate never shows a name as given. Control and
 * bidirectional-formatting characters (Unicode Cc and Cf) are removed; then the first remaining
 * character is shown, followed by one `*` for each further character, at most three. Nothing else of
 * the name is shown, whatever it contains (an `nm` of `张*110105…` shows as `张***`).
 *
 * Every place that shows or logs a name (the ID-card reader, the decision core, the guard console,
 * the demo) calls this, so there is one rule.
 */
const HIDDEN = /[\p{Cc}\p{Cf}]/gu;

export function displayName(name: string | null | undefined): string | null {
  if (name == null) return null;
  const chars = Array.from(name.replace(HIDDEN, ''));
  if (chars.length === 0) return null;
  return chars[0] + '*'.repeat(Math.min(3, chars.length - 1));
}
