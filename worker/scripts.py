"""The JavaScript the engine runs in the page: one WebDriver round trip per wait and
per block of fields.

Reading 45 fields one WebDriver call at a time costs ~0.5 s; one script reading
them all costs ~0.09 s (see the shared notes). So each wait polls *inside* the page
(no round trip per poll, no poll-interval lag) and, for a block of fields, extracts
them all in the same script as soon as the block's condition holds. Same-origin
frames are entered through ``contentDocument`` (no frame switching round trips);
a cross-origin frame is reported back so the engine can switch into it instead.
"""

_HELPERS = r"""
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const normLabel = (s) => norm(s).replace(/\s*:$/, '').toLowerCase();
function findAll(loc, root, doc) {
  if (loc.startsWith('xpath:')) {
    const snap = doc.evaluate(loc.slice(6), root, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE,
                              null);
    const out = [];
    for (let i = 0; i < snap.snapshotLength; i++) out.push(snap.snapshotItem(i));
    return out;
  }
  return Array.from(root.querySelectorAll(loc));
}
function find(loc, root, doc) { return findAll(loc, root, doc)[0] || null; }
function textOf(el, attr) {
  if (!el) return null;
  if (el.nodeType === Node.TEXT_NODE) return el.nodeValue;
  if (el.nodeType === Node.ATTRIBUTE_NODE) return el.value;
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
    el.ownerDocument.defaultView.getComputedStyle(el).visibility !== 'hidden';
}
// The document inside a path of frames: {doc}, {cross: loc} or {missing: loc}.
function frameDoc(frames) {
  let doc = document;
  for (const loc of frames) {
    const f = find(loc, doc, doc);
    if (!f) return {missing: loc};
    let inner = null;
    try { inner = f.contentDocument; } catch (e) { inner = null; }
    if (!inner) return {cross: loc};
    if (inner.location.href === 'about:blank' || inner.readyState === 'loading')
      return {missing: loc};
    doc = inner;
  }
  return {doc: doc};
}
function holds(c, doc) {
  const q = (loc) => find(loc, doc, doc);
  if (c.present != null && !q(c.present)) return false;
  if (c.visible != null && !isVisible(q(c.visible))) return false;
  if (c.text != null && !norm(textOf(q(c.text)))) return false;
  if (c.text_contains != null) {
    const body = doc.body ? doc.body.innerText || doc.body.textContent : '';
    if (!body.toLowerCase().includes(c.text_contains.toLowerCase())) return false;
  }
  if (c.title_contains != null &&
      !doc.title.toLowerCase().includes(c.title_contains.toLowerCase())) return false;
  if (c.url_contains != null && !doc.location.href.includes(c.url_contains)) return false;
  if (c.js != null) {
    try {
      if (!(new doc.defaultView.Function(c.js))()) return false;
    } catch (e) { return false; }
  }
  if (c.any != null && !c.any.some((sub) => holds(sub, doc))) return false;
  return true;
}
"""

_EXTRACT = r"""
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
// -> {key: {found: bool, text: string, missing: [locator, ...]}}
function extract(specs, doc) {
  const out = {};
  for (const f of specs) {
    const root = f.scope ? doc.querySelector(f.scope) : doc;
    const parts = [], missing = [];
    if (!root) { out[f.key] = {found: false, text: '', missing: [f.scope]}; continue; }
    for (const loc of f.locs) {
      if (f.kind === 'label') {
        const v = labelValue(loc, root, doc, f.below);
        if (v == null) missing.push('label:' + loc); else parts.push(v);
        continue;
      }
      const l = f.kind === 'xpath' ? 'xpath:' + loc : loc;
      const els = f.all ? findAll(l, root, doc) : [find(l, root, doc)].filter(Boolean);
      if (!els.length) { missing.push(l); continue; }
      for (const el of els) parts.push(textOf(el, f.attr));
    }
    const texts = parts.map((p) => norm(p == null ? '' : String(p))).filter((p) => p);
    out[f.key] = {found: missing.length === 0, text: texts.join(f.join), missing: missing};
  }
  return out;
}
"""

# Synchronous check in the current browsing context.
# arguments[0]: [[name, condition], ...] -> the first name whose condition holds, or null.
CHECK_CONDITIONS = _HELPERS + r"""
for (const [name, cond] of arguments[0]) { if (holds(cond, document)) return name; }
return null;
"""

# Asynchronous wait, polling inside the page.
# arguments: conds [[name, condition, 'top'|'frame'], ...], frames [locator, ...],
#            specs (fields to extract when the outcome is 'ok') or null, timeout_ms, poll_ms
# -> {outcome: name|null|'__cross__', frame: locator, fields: {...}}
WAIT = _HELPERS + _EXTRACT + r"""
const [conds, frames, specs, timeoutMs, pollMs] = arguments;
const done = arguments[arguments.length - 1];
const deadline = Date.now() + timeoutMs;
function tick() {
  try {
    const fd = frames.length ? frameDoc(frames) : {doc: document};
    if (fd.cross) { done({outcome: '__cross__', frame: fd.cross}); return; }
    for (const [name, cond, where] of conds) {
      const doc = where === 'top' ? document : fd.doc;
      if (!doc || !holds(cond, doc)) continue;
      const result = {outcome: name};
      if (name === 'ok' && specs) result.fields = extract(specs, doc);
      done(result);
      return;
    }
  } catch (e) { /* the DOM is changing under us: look again */ }
  if (Date.now() >= deadline) { done({outcome: null}); return; }
  setTimeout(tick, pollMs);
}
tick();
"""

# Asynchronous run of in-page steps, optionally ending with a block's wait + extraction:
# one round trip for the lot.
# arguments: ops, guard [[name, condition], ...], timeout_ms, poll_ms
#   ops: {op: 'wait', cond} | {op: 'click'|'submit', loc, optional}
#        | {op: 'type', loc, text, enter, optional} | {op: 'js', code}
#        | {op: 'extract', frames, cond, specs}
# -> {outcome: 'ok', fields} | {outcome: guard name | null (timeout) | '__cross__', ...}
RUN = _HELPERS + _EXTRACT + r"""
const [ops, guard, timeoutMs, pollMs] = arguments;
const done = arguments[arguments.length - 1];
const deadline = Date.now() + timeoutMs;
function guarded(doc) {
  for (const [name, cond] of guard) {
    if (holds(cond, document) || (doc && doc !== document && holds(cond, doc)))
      return {outcome: name};
  }
  return null;
}
function until(fn) {
  return new Promise((resolve, reject) => {
    (function tick() {
      let r = null;
      try {
        const stop = guarded(null);
        if (stop) { reject(stop); return; }
        r = fn();
        if (r && r.stop) { reject(r.stop); return; }
      } catch (e) { r = null; }
      if (r) { resolve(r); return; }
      if (Date.now() >= deadline) { reject({outcome: null, waiting_for: JSON.stringify(fn.what)}); return; }
      setTimeout(tick, pollMs);
    })();
  });
}
async function element(op) {
  const el = find(op.loc, document, document);
  if (el || op.optional) return el;
  const check = () => find(op.loc, document, document);
  check.what = op.loc;
  return until(check);
}
(async () => {
  const result = {outcome: 'ok'};
  for (const op of ops) {
    if (op.op === 'wait') {
      const check = () => holds(op.cond, document);
      check.what = op.cond;
      await until(check);
    } else if (op.op === 'js') {
      (new Function(op.code))();
    } else if (op.op === 'extract') {
      const check = () => {
        const fd = op.frames.length ? frameDoc(op.frames) : {doc: document};
        if (fd.cross) return {stop: {outcome: '__cross__', frame: fd.cross}};
        if (!fd.doc) return null;
        const stop = guarded(fd.doc);
        if (stop) return {stop: stop};
        return holds(op.cond, fd.doc) ? fd : null;
      };
      check.what = op.cond;
      const fd = await until(check);
      result.fields = extract(op.specs, fd.doc);
    } else {
      const el = await element(op);
      if (!el) continue;
      if (op.op === 'click') {
        el.click();
      } else if (op.op === 'submit') {
        const form = el.form || el.closest('form') || el;
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      } else if (op.op === 'type') {
        el.focus();
        el.value = op.text;
        el.dispatchEvent(new Event('input', {bubbles: true}));
        el.dispatchEvent(new Event('change', {bubbles: true}));
        if (op.enter) {
          const form = el.form;
          if (form && form.requestSubmit) form.requestSubmit(); else if (form) form.submit();
        }
      }
    }
  }
  done(result);
})().catch((r) => done(r && 'outcome' in r ? r : {outcome: 'js_error', message: String(r)}));
"""
