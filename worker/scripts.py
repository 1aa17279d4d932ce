"""The JavaScript the engine runs in the page: one round trip per check or per block.

Reading 45 fields one WebDriver call at a time costs ~0.5 s; one script reading
them all costs ~0.09 s (see the shared notes), so every check and every block of
fields is a single ``execute_script``.
"""

# Shared helpers: locate (CSS, or XPath after "xpath:"), read text, visibility.
_HELPERS = r"""
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const normLabel = (s) => norm(s).replace(/\s*:$/, '').toLowerCase();
function findAll(loc, root) {
  root = root || document;
  if (loc.startsWith('xpath:')) {
    const snap = document.evaluate(loc.slice(6), root, null,
      XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    const out = [];
    for (let i = 0; i < snap.snapshotLength; i++) out.push(snap.snapshotItem(i));
    return out;
  }
  return Array.from(root.querySelectorAll(loc));
}
function find(loc, root) { return findAll(loc, root)[0] || null; }
function textOf(el, attr) {
  if (!el) return null;
  if (el.nodeType === Node.TEXT_NODE) return el.nodeValue;
  if (attr) {
    if (attr in el && typeof el[attr] !== 'function' && typeof el[attr] !== 'object')
      return String(el[attr]);
    return el.getAttribute(attr);
  }
  const tag = el.tagName;
  if (tag === 'INPUT' || tag === 'TEXTAREA') return el.value;
  if (tag === 'SELECT') return el.selectedOptions.length ? el.selectedOptions[0].text : '';
  // innerText follows the layout (line breaks); hidden elements (other tabs) have none.
  return el.getClientRects().length ? el.innerText : el.textContent;
}
function isVisible(el) {
  return !!el && el.getClientRects().length > 0 &&
    getComputedStyle(el).visibility !== 'hidden';
}
"""

# arguments[0]: [[name, condition], ...]; returns the first name whose condition holds.
CHECK_CONDITIONS = _HELPERS + r"""
function holds(c) {
  if (c.present != null && !find(c.present)) return false;
  if (c.visible != null && !isVisible(find(c.visible))) return false;
  if (c.text != null && !norm(textOf(find(c.text)))) return false;
  if (c.text_contains != null) {
    const body = document.body ? document.body.innerText || document.body.textContent : '';
    if (!body.toLowerCase().includes(c.text_contains.toLowerCase())) return false;
  }
  if (c.title_contains != null &&
      !document.title.toLowerCase().includes(c.title_contains.toLowerCase())) return false;
  if (c.url_contains != null && !location.href.includes(c.url_contains)) return false;
  if (c.js != null) {
    try { if (!(new Function(c.js))()) return false; } catch (e) { return false; }
  }
  if (c.any != null && !c.any.some(holds)) return false;
  return true;
}
for (const [name, cond] of arguments[0]) { if (holds(cond)) return name; }
return null;
"""

# arguments[0]: [{key, kind, locs, scope, all, attr, join}, ...]
# returns {key: {found: bool, text: string|null, missing: [locator, ...]}}
EXTRACT_FIELDS = _HELPERS + r"""
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
function labelValue(label, root, below) {
  const m = labelMatch(label, root);
  if (!m) return null;
  if (m.tagName === 'LABEL' && m.htmlFor) {
    const target = document.getElementById(m.htmlFor);
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
    let sib = cur.nextElementSibling;
    if (sib) return textOf(sib);
    cur = cur.parentElement;
  }
  return null;
}
const out = {};
for (const f of arguments[0]) {
  const root = f.scope ? document.querySelector(f.scope) : document;
  const parts = [], missing = [];
  if (!root) { out[f.key] = {found: false, text: null, missing: [f.scope]}; continue; }
  for (const loc of f.locs) {
    if (f.kind === 'label') {
      const v = labelValue(loc, root, f.below);
      if (v == null) missing.push('label:' + loc); else parts.push(v);
      continue;
    }
    const l = f.kind === 'xpath' ? 'xpath:' + loc : loc;
    const els = f.all ? findAll(l, root) : [find(l, root)].filter(Boolean);
    if (!els.length) { missing.push(l); continue; }
    for (const el of els) parts.push(textOf(el, f.attr));
  }
  const texts = parts.map((p) => norm(p == null ? '' : String(p))).filter((p) => p);
  out[f.key] = {found: missing.length === 0, text: texts.join(f.join), missing: missing};
}
return out;
"""
