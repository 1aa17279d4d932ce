// Asynchronous run of operations inside the page, polling in the page (no round trip per
// poll): a whole run of in-page steps, a block's wait and the reading of its fields cost
// one WebDriver round trip.
// arguments: ops, guard [[outcome, condition], ...], timeout_ms, poll_ms
//   ops: {op: 'until', conds: [[outcome, condition], ...]}   wait for the first to hold
//        | {op: 'wait', cond} | {op: 'click'|'submit', loc, optional}
//        | {op: 'type', loc, text, enter, optional} | {op: 'js', code}
//        | {op: 'frame', loc}  (loc 'top': back to the page) | {op: 'extract', frames, cond, specs}
// The guard's conditions are watched throughout, in the page and in the frame in use.
// -> {outcome: OUTCOME.OK, fields} | {outcome: the 'until' condition that held}
//    | {outcome: a guard's outcome} | {outcome: OUTCOME.CROSS_ORIGIN, frame}
//    | {outcome: OUTCOME.TIMEOUT, waiting_for} | {outcome: OUTCOME.SCRIPT_ERROR, message}
const [ops, guard, timeoutMs, pollMs] = arguments;
const done = arguments[arguments.length - 1];
const deadline = Date.now() + timeoutMs;
let doc = document;  // an in-page frame step moves the following steps into the frame
function guarded(inner) {
  for (const [name, cond] of guard) {
    if (holds(cond, document) || (inner && inner !== document && holds(cond, inner)))
      return {outcome: name};
  }
  return null;
}
function until(fn, what) {
  return new Promise((resolve, reject) => {
    (function tick() {
      let r = null;
      try {
        const stop = guarded(doc);
        if (stop) { reject(stop); return; }
        r = fn();
        if (r && r.stop) { reject(r.stop); return; }
      } catch (e) { r = null; }  // the DOM is changing under us: look again
      if (r) { resolve(r); return; }
      if (Date.now() >= deadline) {
        reject({outcome: OUTCOME.TIMEOUT, waiting_for: JSON.stringify(what)});
        return;
      }
      setTimeout(tick, pollMs);
    })();
  });
}
function enter(loc) {
  const fd = frameDoc([loc], doc);
  if (fd.cross) {
    return {stop: {outcome: OUTCOME.SCRIPT_ERROR,
                   message: 'frame ' + loc + ' is cross-origin: make its step native'}};
  }
  return fd.doc || null;
}
(async () => {
  const result = {outcome: OUTCOME.OK};
  for (const op of ops) {
    if (op.op === 'until') {
      result.outcome = await until(() => {
        for (const [name, cond] of op.conds) { if (holds(cond, document)) return name; }
        return null;
      }, op.conds.map((c) => c[0]).join(' / '));
    } else if (op.op === 'wait') {
      await until(() => holds(op.cond, doc), op.cond);
    } else if (op.op === 'js') {
      (new doc.defaultView.Function(op.code))();
    } else if (op.op === 'frame') {
      doc = op.loc === 'top' ? document : await until(() => enter(op.loc), op.loc);
    } else if (op.op === 'extract') {
      const fd = await until(() => {
        const fd = op.frames.length ? frameDoc(op.frames, document) : {doc: document};
        if (fd.cross) return {stop: {outcome: OUTCOME.CROSS_ORIGIN, frame: fd.cross}};
        if (!fd.doc) return null;
        const stop = guarded(fd.doc);
        if (stop) return {stop: stop};
        return holds(op.cond, fd.doc) ? fd : null;
      }, op.cond);
      result.fields = extract(op.specs, fd.doc);
    } else {
      let el = find(op.loc, doc, doc);
      if (!el && !op.optional) el = await until(() => find(op.loc, doc, doc), op.loc);
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
})().catch((r) => done(r && 'outcome' in r ? r
                                          : {outcome: OUTCOME.SCRIPT_ERROR, message: String(r)}));
