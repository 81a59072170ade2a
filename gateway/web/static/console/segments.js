// SMS segments as the agent types: GSM-7 160 characters (153 per part once split),
// UCS-2 70 (67); the extension characters take two septets, a surrogate pair two units,
// and neither is split across parts. No imports: tests/channels/test_console_segments.py
// runs it under Node beside channels/sms/segments.py on the same texts.
const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");
const LIMITS = { "GSM-7": [160, 153], "UCS-2": [70, 67] };

export function segments(text) {
  const chars = [...text];
  const gsm = chars.every((ch) => GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch));
  const encoding = gsm ? "GSM-7" : "UCS-2";
  const sizes = chars.map((ch) => (gsm ? (GSM7_EXTENSION.has(ch) ? 2 : 1) : (ch.codePointAt(0) > 0xffff ? 2 : 1)));
  const units = sizes.reduce((a, b) => a + b, 0);
  const [single, part] = LIMITS[encoding];
  if (units === 0) return { encoding, units, segments: 0 };
  if (units <= single) return { encoding, units, segments: 1 };
  let count = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > part) { count += 1; used = 0; }
    used += size;
  }
  return { encoding, units, segments: count };
}

