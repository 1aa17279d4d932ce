// Reading a block's fields (prepended to run.js after helpers.js).
const LABEL_TAGS = 'th,td,dt,dd,label,span,b,strong,em,i,div,p,li,legend,h1,h2,h3,h4,h5,h6';
function labelMatch(label, root) {
  const want = normLabel(label);
  let m = null;
  for (const el of root.querySelectorAll(LABEL_TAGS)) {
    if (normLabel(el.textContent) === want) { m = el; break; }
  }
  if (!m) return null;
  // the innermost element carrying exactly the label text
  for (;;) {
    const inner = Array.from(m.children).find((c) => normLabel(c.textContent) === want);
    if (!inner) break;
    m = inner;
  }
  return m;
}
function labelValue(label, root, doc, below) {
  const m = labelMatch(label, root);
  if (!m) return null;
  if (m.tagName === 'LABEL' && m.htmlFor) {
    const target = doc.getElementById(m.htmlFor);
    if (target) return textOf(target);
  }
  if (below) {
    // header row of labels, values in the same column of the next row
    const cell = m.closest('td,th'), row = cell && cell.parentElement;
    const next = row && row.nextElementSibling;
    if (!next) return null;
    const target = next.children[Array.from(row.children).indexOf(cell)];
    return target ? textOf(target) : null;
  }
  let cur = m;
  while (cur && cur !== root) {
    // inline: "<b>CNPJ:</b> 12.345.678/0001-90" -> the text after the label, up to a
    // line break or the next "Label:" element
    let n = cur.nextSibling, inline = '';
    while (n) {
      if (n.nodeType === Node.ELEMENT_NODE) {
        if (['BR', 'HR'].includes(n.tagName) || !inline.trim() ||
            norm(n.textContent).endsWith(':')) break;
        inline += n.textContent;
      } else if (n.nodeType === Node.TEXT_NODE) {
        inline += n.nodeValue;
      }
      n = n.nextSibling;
    }
    if (inline.trim()) return inline;
    // table/definition list: the next cell or <dd>
    const sib = cur.nextElementSibling;
    if (sib) return textOf(sib);
    cur = cur.parentElement;
  }
  return null;
}
// specs: [{key, kind, locs, scope, all, attr, join, below}]
// -> {key: {found: bool, text: string, matched: [locator, ...], missing: [locator, ...]}}
function extract(specs, doc) {
  const out = {};
  for (const f of specs) {
    const root = f.scope ? doc.querySelector(f.scope) : doc;
    const parts = [], matched = [], missing = [];
    if (!root) { out[f.key] = {found: false, text: '', matched: [], missing: [f.scope]}; continue; }
    for (const loc of f.locs) {
      if (f.kind === 'label') {
        const v = labelValue(loc, root, doc, f.below);
        if (v == null) missing.push('label:' + loc); else { parts.push(v); matched.push('label:' + loc); }
        continue;
      }
      const l = f.kind === 'xpath' ? 'xpath:' + loc : loc;
      const els = f.all ? findAll(l, root, doc) : [find(l, root, doc)].filter(Boolean);
      if (!els.length) { missing.push(l); continue; }
      matched.push(l);
      for (const el of els) parts.push(textOf(el, f.attr));
    }
    const texts = parts.map((p) => norm(p == null ? '' : String(p))).filter((p) => p);
    out[f.key] = {found: missing.length === 0, text: texts.join(f.join), matched: matched,
                  missing: missing};
  }
  return out;
}
