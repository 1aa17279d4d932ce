// Synchronous check of the top document, no waiting.
// arguments[0]: [[outcome, condition], ...] -> the first outcome whose condition holds, or null.
for (const [name, cond] of arguments[0]) { if (holds(cond, document)) return name; }
return null;
