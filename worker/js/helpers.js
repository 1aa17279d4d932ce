// Shared helpers of the engine's in-page scripts (prepended to check.js and run.js).
// OUTCOME (the names of registro.worker.outcome.Outcome) is defined before this file.
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
// The document inside a path of frames, starting at `start`:
// {doc}, {cross: loc} (cross-origin) or {missing: loc} (absent or still loading).
function frameDoc(frames, start) {
  let doc = start;
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
