/**
 * The scanner shared by Pushpin's `%` templates (the `build-id` filter's `%I`
 * and its `id_format`, the `var-subst` filter): text is copied as it is, `%%`
 * becomes `%`, and every other `%` starts a directive that `directive` expands
 * (or throws for). It gets the template and the directive's position, and
 * returns the replacement and the index just after the directive.
 */
export function expandPercent(s: string, directive: (s: string, pct: number) => readonly [text: string, end: number]): string {
  let out = '';
  let i = 0;
  for (;;) {
    const pct = s.indexOf('%', i);
    if (pct === -1) return out + s.slice(i);
    out += s.slice(i, pct);
    if (s[pct + 1] === '%') {
      out += '%';
      i = pct + 2;
      continue;
    }
    const [text, end] = directive(s, pct);
    out += text;
    i = end;
  }
}
