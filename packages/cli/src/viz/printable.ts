// Text from data shown to a person (isomorphic): control characters (C0, DEL, C1) replaced by
// visible stand-ins, so a corpus word such as "\x1b[31mRED" neither drives the terminal nor makes
// an SVG or HTML file that is not XML. C0 and DEL become their Unicode control pictures (U+2400…
// U+2421: "␛" for ESC), C1 becomes U+FFFD.

/** Control characters, and those `keep` spares (e.g. "\t\n\r" for multi-line text). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `s` with every control character except those in `keep` replaced by a visible stand-in. */
export function printable(s: string, keep = ""): string {
  return s.replace(CONTROL, (c) => {
    if (keep.includes(c)) return c;
    const code = c.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    return code === 0x7f ? "\u2421" : "\ufffd";
  });
}
