// DocIntel web UI. One ES module, no build step. Every call goes to the public /v1 routes,
// signed in by the HttpOnly session cookie that POST /v1/session sets; requests that change
// something carry X-DocIntel-UI: 1 (the server's CSRF check). Pages are hash routes.

const $ = (sel, root = document) => root.querySelector(sel);
const main = $("#main");
const state = { who: null, collection: localStorage.getItem("docintel.collection") || "", collections: [] };

// ---------------------------------------------------------------------------------------
// DOM and HTTP helpers: user data goes in as text nodes, never as HTML.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") node.style.cssText = v; // CSSOM: the page's CSP refuses style attributes
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = "GET", json, form, raw = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-DocIntel-UI"] = "1";
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form) body = form;
  const res = await fetch(path, { method, headers, body, credentials: "same-origin", signal });
  if (raw && res.ok) return res;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    if (res.status === 401 && path !== "/v1/session") { signedOut(); }
    throw new ApiError(res.status, typeof data === "object" ? data : { detail: data });
  }
  return data;
}

function toast(message) {
  const t = $("#toast");
  t.textContent = message;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 3500);
}

function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (x) => `${Math.round((x || 0) * 100)}%`;
const fmt = (x, d = 3) => (typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(d)) : x ?? "–");
const enc = encodeURIComponent;
const plural = (n, word) => `${n ?? "?"} ${word}${n === 1 ? "" : "s"}`;

/** Polls a job until it ends; calls onUpdate with each state. */
async function followJob(id, onUpdate) {
  for (;;) {
    const job = await api(`/v1/jobs/${enc(id)}`);
    onUpdate(job);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return job;
    await sleep(700);
  }
}

// ---------------------------------------------------------------------------------------
// Sign-in and the shell
function signedOut() {
  state.who = null;
  $("#topbar").hidden = true;
  closePanel();
  renderSignIn();
}

function renderSignIn(message) {
  const input = el("input", { type: "password", id: "api-key", name: "api_key", autocomplete: "off", required: true,
    placeholder: "dik_…", "aria-describedby": "signin-help" });
  const status = el("div", { id: "signin-error", role: "alert", class: "error" }, message || "");
  const form = el("form", { onsubmit: async (e) => {
    e.preventDefault();
    status.textContent = "";
    try {
      await api("/v1/session", { method: "POST", json: { api_key: input.value } });
      input.value = "";
      await start();
    } catch (err) {
      status.textContent = err.message;
      input.focus();
    }
  } },
  el("div", { class: "field" }, el("label", { for: "api-key" }, "API key"), input),
  el("p", { id: "signin-help", class: "muted" }, "Ask your administrator for a key (docintel keys create). It is exchanged for a session; the key itself is not stored in the browser."),
  el("button", { type: "submit" }, "Sign in"), status);
  main.replaceChildren(el("section", { class: "card signin" }, el("h1", {}, "Sign in to DocIntel"), form));
  input.focus();
}

async function refreshCollections() {
  const { collections } = await api("/v1/collections");
  state.collections = collections;
  if (!collections.some((c) => c.name === state.collection)) state.collection = collections[0]?.name || "";
  localStorage.setItem("docintel.collection", state.collection);
  const picker = $("#collection-picker");
  picker.replaceChildren(...collections.map((c) => el("option", { value: c.name, selected: c.name === state.collection }, c.name)));
  if (!collections.length) picker.append(el("option", { value: "" }, "(none yet)"));
  return collections;
}

async function start() {
  try {
    state.who = await api("/v1/session");
  } catch (err) {
    if (err.status === 401) return renderSignIn();
    main.replaceChildren(errorBox(err));
    return;
  }
  $("#topbar").hidden = false;
  $("#tenant").textContent = `tenant ${state.who.tenant}`;
  await refreshCollections();
  route();
}

const can = (scope) => {
  const order = ["read", "write", "admin"];
  const top = Math.max(...(state.who?.scopes || []).map((s) => order.indexOf(s)));
  return order.indexOf(scope) <= top;
};

// ---------------------------------------------------------------------------------------
// Routing
const VIEWS = { collections: viewCollections, ask: viewAsk, search: viewSearch, review: viewReview,
  evaluations: viewEvaluations, evaluation: viewEvaluation, compare: viewCompare };

function route() {
  if (!state.who) return;
  const [name, ...args] = (location.hash.replace(/^#\/?/, "") || "collections").split("/");
  const view = VIEWS[name] || viewCollections;
  for (const a of document.querySelectorAll("[data-nav]")) {
    const current = a.dataset.nav === name || (a.dataset.nav === "evaluations" && ["evaluation", "compare"].includes(name));
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  Promise.resolve(view(...args.map(decodeURIComponent))).catch((err) => main.append(errorBox(err)));
}

function needCollection() {
  if (state.collection) return false;
  main.append(el("section", { class: "card" }, el("p", {}, "No collection yet. "),
    el("a", { href: "#/collections" }, "Create one and upload documents first.")));
  return true;
}

// ---------------------------------------------------------------------------------------
// Collections and documents
async function viewCollections() {
  main.append(el("h1", {}, "Documents"));
  if (can("write")) {
    const name = el("input", { type: "text", id: "new-collection", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*",
      placeholder: "contracts", title: "Letters, digits, '.', '_' and '-'" });
    main.append(el("form", { class: "card row", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("/v1/collections", { method: "POST", json: { name: name.value } });
        state.collection = name.value;
        localStorage.setItem("docintel.collection", state.collection);
        await refreshCollections();
        route();
      } catch (err) { toast(err.message); }
    } }, el("div", { class: "field grow" }, el("label", { for: "new-collection" }, "New collection"), name),
    el("button", { type: "submit" }, "Create")));
  }
  if (needCollection()) return;
  const coll = state.collection;
  const section = el("section", { class: "card" });
  main.append(section);
  const head = el("div", { class: "row" }, el("h2", { style: "margin:0;flex:1" }, `Collection “${coll}”`));
  if (can("write")) {
    head.append(el("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(`Delete the collection “${coll}” with all its documents?`)) return;
      try {
        await api(`/v1/collections/${enc(coll)}`, { method: "DELETE" });
        toast(`Deleted ${coll}`);
        await refreshCollections();
        route();
      } catch (err) { toast(err.message); }
    } }, "Delete collection"));
  }
  section.append(head);
  if (can("write")) section.append(uploader(coll));
  const table = el("div", { class: "table-wrap" });
  section.append(el("h3", {}, "Documents"), table);
  await renderDocuments(coll, table);
}

async function renderDocuments(coll, target) {
  const { documents } = await api(`/v1/collections/${enc(coll)}/documents`);
  if (!documents.length) {
    target.replaceChildren(el("p", { class: "muted" }, "No documents yet: drop files above."));
    return;
  }
  const rows = documents.map((d) => el("tr", { dataset: { documentId: d.document_id } },
    el("td", {}, el("a", { href: `/v1/documents/${d.document_id}/file`, target: "_blank", rel: "noopener" }, d.name)),
    el("td", {}, el("span", { class: `badge ${d.status}` }, d.status),
      d.error ? el("div", { class: "error" }, plainReason(d.error)) : null),
    el("td", { class: "num" }, d.pages ?? "–"), el("td", { class: "num" }, d.chunks ?? "–"),
    el("td", {}, el("a", { href: `#/ask/${d.document_id}` }, "Ask"), " · ",
      el("a", { href: `#/review/${d.document_id}` }, "Review"),
      can("write") ? [" · ", el("button", { type: "button", class: "link", "aria-label": `Delete ${d.name}`, onclick: async () => {
        if (!confirm(`Delete ${d.name}?`)) return;
        try { await api(`/v1/documents/${d.document_id}`, { method: "DELETE" }); await renderDocuments(coll, target); } catch (err) { toast(err.message); }
      } }, "Delete")] : null)));
  target.replaceChildren(el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Status"),
    el("th", { class: "num" }, "Pages"), el("th", { class: "num" }, "Chunks"), el("th", {}, "Actions"))), el("tbody", {}, rows)));
}

/** A failure reason as a person reads it (the server's reasons are already plain; trim paths). */
function plainReason(error) {
  return String(error).replace(/(^|\s)\/\S+\/(\S+)/g, "$1$2");
}

function uploader(coll) {
  const input = el("input", { type: "file", id: "file-input", multiple: true, class: "visually-hidden",
    accept: ".pdf,.docx,.html,.htm,.md,.markdown,.txt" });
  const list = el("ul", { class: "uploads", "aria-live": "polite" });
  const zone = el("div", { class: "drop", id: "drop-zone" },
    el("p", {}, "Drag and drop PDF, DOCX, HTML, Markdown or text files here, or "),
    el("label", { for: "file-input", class: "button-like" }, el("span", { class: "link" }, "choose files")), input);
  const send = (files) => files.length && uploadFiles(coll, [...files], list);
  input.addEventListener("change", () => { send(input.files); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); send(e.dataTransfer.files); });
  return el("div", {}, zone, list);
}

/** Uploads each file in its own request and job (three at a time), so that a file the
 * server refuses (empty, too large, not a document) fails alone with its reason while the
 * others go on; each row shows its upload, then its job, then its document's state. */
async function uploadFiles(coll, files, list) {
  const rows = files.map((f) => {
    const bar = el("span"); const status = el("span", { class: "status muted" }, "waiting");
    list.append(el("li", { dataset: { file: f.name } }, el("span", {}, f.name),
      el("div", { class: "progress", role: "progressbar", "aria-label": `${f.name} progress` }, bar), status));
    return { file: f, bar, status };
  });
  const queue = [...rows];
  const worker = async () => { for (let r; (r = queue.shift());) await uploadOne(coll, r); };
  await Promise.all([worker(), worker(), worker()]);
  await refreshCollections();
  const table = $(".table-wrap");
  if (table && state.collection === coll) await renderDocuments(coll, table);
}

function failRow(r, reason) {
  r.bar.style.width = "100%";
  r.status.className = "status";
  r.status.replaceChildren(el("span", { class: "badge failed" }, "failed"), el("span", { class: "error" }, " ", plainReason(reason)));
}

async function uploadOne(coll, r) {
  r.status.textContent = "uploading";
  const sent = await new Promise((resolve) => {
    const form = new FormData();
    form.append("files", r.file, r.file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/collections/${enc(coll)}/documents`);
    xhr.setRequestHeader("X-DocIntel-UI", "1");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) r.bar.style.width = pct(0.3 * e.loaded / e.total); };
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => resolve(null);
    xhr.send(form);
  });
  if (!sent) return failRow(r, "the upload did not reach the server: check the connection");
  if (sent.status !== 202) return failRow(r, sent.response?.detail || `refused (HTTP ${sent.status})`);
  r.status.textContent = "queued";
  const job = await followJob(sent.response.id, (j) => {
    r.bar.style.width = pct(0.3 + 0.7 * j.progress);
    if (j.status === "running") r.status.textContent = "processing";
  }).catch((err) => { failRow(r, err.message); return null; });
  if (!job) return;
  const d = ((job.result || {}).documents || [])[0];
  r.bar.style.width = "100%";
  if (!d) return job.status === "succeeded" ? null : failRow(r, job.error || `the job ${job.status}`);
  if (d.status === "failed") return failRow(r, d.error);
  r.status.className = "status";
  r.status.replaceChildren(el("span", { class: `badge ${d.status}` }, d.status), ` ${plural(d.pages, "page")}, ${plural(d.chunks, "chunk")}`);
}

async function documentOptions(selected) {
  const { documents } = await api(`/v1/collections/${enc(state.collection)}/documents`);
  return [el("option", { value: "" }, "All documents"),
    ...documents.filter((d) => d.status === "indexed").map((d) => el("option", { value: d.document_id, selected: String(d.document_id) === String(selected) }, d.name))];
}

// ---------------------------------------------------------------------------------------
// Ask: a streamed, cited chat over the collection (or one document)
const chats = {};

async function viewAsk(documentId) {
  main.append(el("h1", {}, "Ask"));
  if (needCollection()) return;
  const coll = state.collection;
  const docSelect = el("select", { id: "ask-document" }, ...(await documentOptions(documentId)));
  const log = el("div", { class: "chat", id: "chat-log", "aria-live": "polite" });
  const question = el("textarea", { id: "question", rows: 2, required: true, placeholder: "Which law governs this agreement?" });
  const button = el("button", { type: "submit" }, "Ask");
  const history = (chats[coll] ||= []);
  for (const turn of history) log.append(...turn.nodes);
  const form = el("form", { class: "ask-form", onsubmit: async (e) => {
    e.preventDefault();
    const q = question.value.trim();
    if (!q) return;
    question.value = "";
    button.disabled = true;
    try { await askStream(coll, q, docSelect.value ? [Number(docSelect.value)] : null, log, history); } finally { button.disabled = false; question.focus(); }
  } }, el("div", { class: "field" }, el("label", { for: "question" }, "Your question"), question), button);
  question.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } });
  main.append(el("section", { class: "card" },
    el("div", { class: "row" }, el("div", { class: "field" }, el("label", { for: "ask-document" }, "Scope"), docSelect),
      history.length ? el("button", { type: "button", class: "secondary", onclick: () => { history.length = 0; route(); } }, "New conversation") : null),
    log, form));
  question.focus();
}

/** POSTs the question with stream: true and reads the Server-Sent Events as they come. */
async function askStream(coll, q, documentIds, log, history) {
  const user = el("div", { class: "msg user" }, q);
  const text = el("div", { class: "answer-text typing" });
  const bot = el("div", { class: "msg bot", "aria-busy": "true" }, text);
  log.append(user, bot);
  bot.scrollIntoView({ block: "nearest" });
  const body = { collection: coll, question: q, stream: true,
    history: history.flatMap((t) => [{ role: "user", content: t.q }, { role: "assistant", content: t.a }]).slice(-8) };
  if (documentIds) body.document_ids = documentIds;
  let final = null; let streamed = "";
  try {
    const res = await api("/v1/answer", { method: "POST", json: body, raw: true });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const ev = parseSse(block);
        if (!ev) continue;
        if (ev.event === "delta") { streamed += ev.data.text; text.textContent = streamed; }
        else if (ev.event === "answer") final = ev.data;
        else if (ev.event === "error") throw new ApiError(500, ev.data);
      }
    }
  } catch (err) {
    text.classList.remove("typing");
    bot.removeAttribute("aria-busy");
    bot.append(errorBox(err));
    return;
  }
  text.classList.remove("typing");
  bot.removeAttribute("aria-busy");
  if (!final) { bot.append(errorBox("the answer stream ended early")); return; }
  renderAnswer(bot, text, final);
  history.push({ q, a: final.answer, nodes: [user, bot] }); // shown again when the page is revisited
}

function parseSse(block) {
  let event = "message"; const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") event = value; else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  try { return { event, data: JSON.parse(data.join("\n")) }; } catch { return null; }
}

/** The checked answer with each [n] marker as a clickable chip, the quoted excerpt, and the sources. */
function renderAnswer(bot, text, a) {
  const citations = [...(a.citations || [])];
  if (a.excerpt && !citations.some((c) => c.source === a.excerpt.citation.source && c.char_start === a.excerpt.citation.char_start)) citations.push(a.excerpt.citation);
  const bySource = new Map();
  for (const c of citations) if (!bySource.has(c.source)) bySource.set(c.source, c);
  if (a.abstained) {
    bot.classList.add("abstained");
    text.replaceChildren(el("div", { class: "abstain-note" }, "No answer from these documents"), a.answer || "",
      a.abstain_reason ? el("div", { class: "muted" }, `Why: ${a.abstain_reason}`) : null);
    return;
  }
  text.replaceChildren(...withChips(a.answer, bySource));
  if (a.excerpt) bot.append(el("blockquote", { class: "excerpt" }, ...withChips(a.excerpt.text, bySource), " ", chip(a.excerpt.citation)));
  if (a.extractive) bot.append(el("div", { class: "muted" }, "Quoted from the best matching passage (the model's own wording could not be verified)."));
  if (bySource.size) bot.append(el("div", { class: "sources", "aria-label": "Sources" }, ...[...bySource.values()].map((c) => chip(c, true))));
}

function withChips(str, bySource) {
  const out = []; let last = 0;
  const re = /\[(\d+)\]/g; let m;
  while ((m = re.exec(str || ""))) {
    const c = bySource.get(Number(m[1]));
    if (!c) continue;
    out.push(str.slice(last, m.index), chip(c));
    last = m.index + m[0].length;
  }
  out.push((str || "").slice(last));
  return out;
}

function chip(c, long = false) {
  const label = long ? `[${c.source}] ${c.document_name}, p. ${c.page}` : `${c.source}`;
  return el("button", { type: "button", class: "chip citation", "aria-label": `Source ${c.source}: ${c.document_name}, page ${c.page}`,
    dataset: { documentId: c.document_id, page: c.page, charStart: c.char_start, charEnd: c.char_end },
    onclick: () => openSource(c.document_id, c.char_start, c.char_end, `${c.document_name} · page ${c.page}`) }, label);
}

// ---------------------------------------------------------------------------------------
// The source panel: the cited page as an image with the passage's boxes on it (PDF), or the
// passage highlighted in the text.
function closePanel() {
  $("#panel").hidden = true;
  $("#panel-body").replaceChildren();
  panelOpener?.focus?.();
}
let panelOpener = null;

async function openSource(documentId, start, end, title) {
  panelOpener = document.activeElement;
  const panel = $("#panel"); const body = $("#panel-body");
  $("#panel-title").textContent = title || "Source";
  body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  panel.hidden = false;
  $("#panel-close").focus();
  try {
    const h = await api(`/v1/documents/${documentId}/highlight?char_start=${start}&char_end=${end}`);
    const nodes = [el("p", {}, el("strong", {}, h.document_name), h.kind === "pdf" ? ` · page ${h.page}` : "", " · ",
      el("a", { href: `/v1/documents/${documentId}/file`, target: "_blank", rel: "noopener" }, "Open the original"))];
    nodes.push(el("div", { class: "quote", id: "panel-quote" }, h.quote));
    if (h.kind === "pdf" && h.pages?.length) {
      for (const p of h.pages) {
        const view = el("div", { class: "page-view", dataset: { page: p.page } },
          el("img", { src: `/v1/documents/${documentId}/pages/${p.page}/image?width=1000`, alt: `Page ${p.page} of ${h.document_name}` }),
          ...p.boxes.map((b) => el("div", { class: "hl-box", style: `left:${b.x * 100}%;top:${b.y * 100}%;width:${b.w * 100}%;height:${b.h * 100}%` })));
        nodes.push(el("div", { class: "label" }, `Page ${p.page}`), view);
      }
    } else {
      nodes.push(el("div", { class: "text-view" }, h.before || "", el("mark", {}, h.quote), h.after || ""));
    }
    body.replaceChildren(...nodes);
    const first = body.querySelector(".hl-box") || body.querySelector(".text-view mark");
    const img = body.querySelector("img");
    const scroll = () => first?.scrollIntoView({ block: "center" });
    if (img && !img.complete) img.addEventListener("load", scroll, { once: true }); else scroll();
  } catch (err) {
    body.replaceChildren(errorBox(err));
  }
}

// ---------------------------------------------------------------------------------------
// Search
const STOP = new Set("a an and are as at be by for from has have how in is it its of on or that the this to was what when where which who why will with does do can".split(" "));

async function viewSearch() {
  main.append(el("h1", {}, "Search"));
  if (needCollection()) return;
  const q = el("input", { type: "text", id: "search-query", required: true, placeholder: "termination for convenience" });
  const mode = el("select", { id: "search-mode" }, ...["hybrid", "dense", "bm25"].map((m) => el("option", { value: m }, m)));
  const k = el("input", { type: "number", id: "search-k", min: 1, max: 100, value: 10, style: "width:5rem" });
  const doc = el("select", { id: "search-document" }, ...(await documentOptions()));
  const meta = el("input", { type: "text", id: "search-meta", placeholder: "client=acme" });
  const results = el("div", { id: "search-results", "aria-live": "polite" });
  main.append(el("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    const filters = {};
    if (doc.value) filters.document_ids = [Number(doc.value)];
    const pairs = meta.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (pairs.length) filters.metadata = Object.fromEntries(pairs.map((p) => { const i = p.indexOf("="); return [p.slice(0, i).trim(), p.slice(i + 1).trim()]; }));
    results.replaceChildren(el("p", { class: "muted" }, "Searching…"));
    try {
      const data = await api("/v1/search", { method: "POST", json: { collection: state.collection, query: q.value, k: Number(k.value) || 10, mode: mode.value, filters } });
      renderHits(results, data.results, q.value);
    } catch (err) { results.replaceChildren(errorBox(err)); }
  } },
  el("div", { class: "row" }, el("div", { class: "field grow" }, el("label", { for: "search-query" }, "Query"), q),
    el("div", { class: "field" }, el("label", { for: "search-mode" }, "Mode"), mode),
    el("div", { class: "field" }, el("label", { for: "search-k" }, "Results"), k)),
  el("div", { class: "row", style: "margin-top:.5rem" }, el("div", { class: "field" }, el("label", { for: "search-document" }, "Document"), doc),
    el("div", { class: "field grow" }, el("label", { for: "search-meta" }, "Metadata (key=value, comma separated)"), meta),
    el("button", { type: "submit" }, "Search"))), el("section", { class: "card" }, results));
  q.focus();
}

function renderHits(target, hits, query) {
  if (!hits.length) { target.replaceChildren(el("p", { class: "muted" }, "Nothing found.")); return; }
  const terms = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [])].filter((t) => t.length > 2 && !STOP.has(t));
  target.replaceChildren(...hits.map((h, i) => el("article", { class: "hit" },
    el("div", { class: "hit-head" }, el("strong", {}, `${i + 1}.`),
      el("button", { type: "button", class: "link", onclick: () => openSource(h.document_id, h.char_start, h.char_end, `${h.document_name} · page ${h.page_start}`) },
        `${h.document_name}, page ${h.page_start}${h.page_end !== h.page_start ? `–${h.page_end}` : ""}`),
      el("span", { class: "muted" }, `score ${fmt(h.score)}`)),
    el("p", { class: "hit-text" }, ...markTerms(h.text, terms)))));
}

/** The query's words marked in a passage (prefix match, so "terminate" marks "termination"). */
function markTerms(text, terms) {
  if (!terms.length) return [text];
  const stems = terms.map((t) => t.slice(0, Math.max(4, t.length - 2)).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`\\b(?:${stems.join("|")})[\\p{L}\\p{N}]*`, "giu");
  const out = []; let last = 0; let m;
  while ((m = re.exec(text))) { out.push(text.slice(last, m.index), el("mark", {}, m[0])); last = m.index + m[0].length; }
  out.push(text.slice(last));
  return out;
}

// ---------------------------------------------------------------------------------------
// Contract review
async function viewReview(documentId) {
  main.append(el("h1", {}, "Contract review"));
  if (!can("write")) { main.append(el("p", { class: "muted" }, "Reviews need a key with the write scope.")); return; }
  const file = el("input", { type: "file", id: "review-file", accept: ".pdf,.docx,.txt,.md,.html" });
  const doc = el("select", { id: "review-document" }, ...(state.collection ? await documentOptions(documentId) : [el("option", { value: "" }, "—")]));
  doc.firstChild.textContent = "— upload a file instead —";
  const playbook = el("input", { type: "file", id: "review-playbook", accept: ".yaml,.yml" });
  const status = el("div", { "aria-live": "polite" });
  const out = el("div", { id: "review-result" });
  main.append(el("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    const form = new FormData();
    if (doc.value) form.append("document_id", doc.value);
    else if (file.files[0]) { form.append("file", file.files[0]); if (state.collection) form.append("collection", state.collection); }
    else { status.replaceChildren(errorBox("Choose a contract file or one of the collection's documents.")); return; }
    if (playbook.files[0]) form.append("playbook", playbook.files[0]);
    out.replaceChildren();
    try {
      const job = await api("/v1/reviews", { method: "POST", form });
      await followReview(job.id, status, out);
    } catch (err) { status.replaceChildren(errorBox(err)); }
  } },
  el("div", { class: "row" },
    el("div", { class: "field grow" }, el("label", { for: "review-file" }, `Contract file${state.collection ? ` (also added to “${state.collection}”)` : ""}`), file),
    el("div", { class: "field grow" }, el("label", { for: "review-document" }, "Or a document of the collection"), doc)),
  el("div", { class: "row", style: "margin-top:.5rem" },
    el("div", { class: "field grow" }, el("label", { for: "review-playbook" }, "Playbook (YAML; default: vendor/services)"), playbook),
    el("button", { type: "submit" }, "Review"))), status, out);
}

async function followReview(id, status, out) {
  const bar = el("span");
  const msg = el("span", { class: "muted" }, "queued");
  status.replaceChildren(el("div", { class: "card row" }, el("div", { class: "progress", role: "progressbar", "aria-label": "Review progress", style: "flex:1" }, bar), msg));
  const job = await followJob(id, (j) => { bar.style.width = pct(j.progress); msg.textContent = j.message || j.status; });
  if (job.status !== "succeeded") { status.replaceChildren(errorBox(`The review ${job.status}: ${plainReason(job.error || "")}`)); return; }
  status.replaceChildren();
  const { review } = await api(`/v1/reviews/${enc(id)}`);
  renderReview(out, review, id);
}

function renderReview(out, r, id) {
  const docId = r.document?.document_id;
  const open = (c, label) => docId ? openSource(docId, c.char_start, c.char_end, label) : toast("This contract is not stored in a collection, so its pages cannot be shown.");
  const byCat = new Map();
  for (const c of r.clauses || []) { if (!byCat.has(c.category)) byCat.set(c.category, []); byCat.get(c.category).push(c); }
  const cats = [...byCat.entries()].sort((a, b) => Math.max(...b[1].map((c) => c.confidence)) - Math.max(...a[1].map((c) => c.confidence)));
  const clauseEl = (c) => el("div", { class: "clause", tabindex: 0, role: "button", dataset: { category: c.category },
    "aria-label": `${c.category} clause on page ${c.page}`,
    onclick: () => open(c, `${c.category} · page ${c.page}`),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(c, `${c.category} · page ${c.page}`); } } },
  el("div", {}, el("span", { class: "conf", title: `confidence ${fmt(c.confidence)}` }, el("span", { style: `width:${pct(c.confidence)}` })), " ",
    el("span", { class: "muted" }, `${pct(c.confidence)} · page ${c.page}`)),
  el("div", {}, c.text.length > 320 ? `${c.text.slice(0, 320)}…` : c.text));
  const clauses = el("section", { class: "card", id: "review-clauses" }, el("h2", {}, `Clauses (${(r.clauses || []).length} in ${byCat.size} categories)`),
    ...cats.map(([cat, list], i) => el("details", { class: "category", open: i < 6, dataset: { category: cat } },
      el("summary", {}, `${cat} `, el("span", { class: "muted" }, `(${list.length})`)), ...list.map(clauseEl))));
  const severity = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
  const findings = [...(r.findings || [])].sort((a, b) => (severity[a.severity] ?? 9) - (severity[b.severity] ?? 9));
  const findingsEl = el("section", { class: "card", id: "review-findings" }, el("h2", {}, `Playbook findings (${findings.length})`),
    findings.length ? el("ul", {}, ...findings.map((f) => el("li", {}, el("span", { class: `badge ${f.severity}` }, f.severity), " ", el("strong", {}, f.rule), ": ", f.message,
      ...[...(f.clauses || []).slice(0, 3), ...(f.term && f.term.char_start !== undefined ? [f.term] : [])]
        .map((c) => [" ", el("button", { type: "button", class: "link", onclick: () => open(c, `${f.rule} · page ${c.page ?? "?"}`) }, `show on page ${c.page ?? "?"}`)]))))
      : el("p", { class: "muted" }, "No findings."));
  const termsEl = el("section", { class: "card", id: "review-terms" }, el("h2", {}, "Key terms"), termsTable(r.terms, open));
  const downloads = el("p", {}, el("a", { href: `/v1/reviews/${enc(id)}/report`, target: "_blank", rel: "noopener" }, "Open the HTML report"), " · ",
    el("a", { href: URL.createObjectURL(new Blob([JSON.stringify(r, null, 2)], { type: "application/json" })), download: `review-${id}.json` }, "Download JSON"));
  out.replaceChildren(el("h2", {}, r.document?.name || "Review"), downloads, el("div", { class: "grid2" }, clauses, el("div", {}, findingsEl, termsEl)));
}

function termsTable(terms, open) {
  const rows = [];
  for (const [name, value] of Object.entries(terms || {})) {
    const items = Array.isArray(value) ? value : [value];
    for (const v of items) {
      if (v === null || v === undefined) continue;
      let shown = typeof v === "object" ? (v.value ?? v.text) : v;
      if (Array.isArray(shown)) shown = shown.join("; ");
      const span = typeof v === "object" && v.char_start !== undefined ? v : null;
      rows.push(el("tr", {}, el("th", { scope: "row" }, name.replace(/_/g, " ")),
        el("td", {}, typeof shown === "object" ? JSON.stringify(shown) : String(shown),
          span ? [" ", el("button", { type: "button", class: "link", onclick: () => open(span, `${name} · page ${span.page ?? ""}`) }, "show")] : null)));
    }
  }
  return rows.length ? el("table", {}, el("tbody", {}, rows)) : el("p", { class: "muted" }, "No key terms found.");
}

// ---------------------------------------------------------------------------------------
// Evaluations
async function viewEvaluations() {
  main.append(el("h1", {}, "Evaluations"));
  const { evaluations } = await api("/v1/evaluations");
  const picked = new Set();
  const compare = el("button", { type: "button", disabled: true, onclick: () => { const [a, b] = [...picked]; location.hash = `#/compare/${enc(a)}/${enc(b)}`; } }, "Compare the two selected runs");
  const rows = evaluations.map((e) => {
    const box = el("input", { type: "checkbox", "aria-label": `Select run ${e.id.slice(0, 8)} for comparison`, onchange: () => {
      if (box.checked) picked.add(e.id); else picked.delete(e.id);
      compare.disabled = picked.size !== 2;
    } });
    const metrics = (e.result || {}).metrics || {};
    const headline = Object.entries(metrics).filter(([, v]) => typeof v === "number").slice(0, 3).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ");
    return el("tr", {}, el("td", {}, box), el("td", {}, el("a", { href: `#/evaluation/${enc(e.id)}` }, e.id.slice(0, 8))),
      el("td", {}, e.suite || "–"),
      el("td", {}, el("span", { class: `badge ${e.status}` }, e.status), e.status === "running" ? ` ${pct(e.progress)}` : ""),
      el("td", { class: "muted" }, headline || (e.error ? plainReason(e.error) : "")), el("td", { class: "muted" }, (e.created_at || "").slice(0, 16).replace("T", " ")));
  });
  main.append(el("section", { class: "card" }, evaluations.length
    ? [el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "Run"), el("th", {}, "Suite"), el("th", {}, "Status"), el("th", {}, "Key metrics"), el("th", {}, "Started"))), el("tbody", {}, rows))),
      el("p", {}, compare)]
    : el("p", { class: "muted" }, "No evaluation runs yet.")));
  if (can("admin")) main.append(newEvaluationForm());
}

function newEvaluationForm() {
  const suite = el("input", { type: "text", id: "eval-suite", required: true, placeholder: "emanual" });
  const data = el("input", { type: "text", id: "eval-data", required: true, placeholder: "/data/emanual" });
  const limit = el("input", { type: "number", id: "eval-limit", min: 1, placeholder: "all", style: "width:6rem" });
  return el("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const job = await api("/v1/evaluations", { method: "POST", json: { suite: suite.value, data: data.value, limit: limit.value ? Number(limit.value) : null } });
      location.hash = `#/evaluation/${enc(job.id)}`;
    } catch (err) { toast(err.message); }
  } }, el("h2", {}, "Start a run"), el("div", { class: "row" },
    el("div", { class: "field" }, el("label", { for: "eval-suite" }, "Suite"), suite),
    el("div", { class: "field grow" }, el("label", { for: "eval-data" }, "Data path on the server"), data),
    el("div", { class: "field" }, el("label", { for: "eval-limit" }, "Items"), limit), el("button", { type: "submit" }, "Run")));
}

async function viewEvaluation(id) {
  let e = await api(`/v1/evaluations/${enc(id)}`);
  main.append(el("p", {}, el("a", { href: "#/evaluations" }, "← All runs")), el("h1", {}, `Evaluation ${id.slice(0, 8)}`));
  if (!["succeeded", "failed", "cancelled"].includes(e.status)) {
    const bar = el("span"); const msg = el("span", { class: "muted" });
    main.append(el("div", { class: "card row" }, el("div", { class: "progress", style: "flex:1" }, bar), msg));
    await followJob(id, (j) => { bar.style.width = pct(j.progress); msg.textContent = j.message || j.status; });
    e = await api(`/v1/evaluations/${enc(id)}`);
    if (location.hash !== `#/evaluation/${enc(id)}`) return;
    main.replaceChildren(el("p", {}, el("a", { href: "#/evaluations" }, "← All runs")), el("h1", {}, `Evaluation ${id.slice(0, 8)}`));
  }
  const run = e.run;
  main.append(el("p", {}, el("span", { class: `badge ${e.status}` }, e.status), " ", run ? `${run.suite} · ${run.items_done} items` : "", e.error ? el("span", { class: "error" }, ` ${plainReason(e.error)}`) : ""));
  if (!run) return;
  const metrics = Object.entries(run.metrics || {}).filter(([, v]) => typeof v === "number");
  main.append(el("section", { class: "card" }, el("h2", {}, "Metrics"), el("div", { class: "metrics" },
    ...metrics.map(([k, v]) => el("div", { class: "metric", dataset: { metric: k } }, el("div", { class: "label" }, k, k === run.headline ? " ★" : ""), el("div", { class: "v" }, fmt(v)))))),
  el("section", {}, el("h2", {}, "Report"), el("iframe", { class: "report-frame", title: "Evaluation report with plots", src: `/v1/evaluations/${enc(id)}/report`, sandbox: "" })));
}

async function viewCompare(a, b) {
  main.append(el("p", {}, el("a", { href: "#/evaluations" }, "← All runs")), el("h1", {}, `Compare ${a.slice(0, 8)} → ${b.slice(0, 8)}`));
  const c = await api(`/v1/evaluations/${enc(a)}/compare/${enc(b)}`);
  const rows = c.metrics.map((m) => el("tr", { class: m.significant ? "significant" : "" }, el("td", {}, m.metric, m.metric === c.headline ? " ★" : ""),
    el("td", { class: "num" }, fmt(m.a)), el("td", { class: "num" }, fmt(m.b)),
    el("td", { class: `num ${m.delta > 0 ? "delta-pos" : m.delta < 0 ? "delta-neg" : ""}` }, `${m.delta > 0 ? "+" : ""}${fmt(m.delta)}`),
    el("td", { class: "num muted" }, m.ci_low === null ? "–" : `[${fmt(m.ci_low)}, ${fmt(m.ci_high)}]`), el("td", {}, m.significant ? "yes" : "no")));
  main.append(el("section", { class: "card" }, el("p", { class: "muted" }, `${c.suite} · ${c.n_shared} shared items · ${c.same_data ? "same data" : "different data"} · ${c.changed_count} items changed`),
    el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Metric"), el("th", { class: "num" }, "A"), el("th", { class: "num" }, "B"), el("th", { class: "num" }, "Δ (B − A)"), el("th", { class: "num" }, "95% CI"), el("th", {}, "Significant"))), el("tbody", {}, rows)))),
  el("section", { class: "card" }, el("h2", {}, "Changed items"), c.changed_items.length
    ? el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Item"), el("th", {}, "Changed"), el("th", {}, "A"), el("th", {}, "B"))),
      el("tbody", {}, c.changed_items.slice(0, 50).map((it) => el("tr", {}, el("td", {}, it.item_id), el("td", {}, it.changed.join(", ")),
        el("td", { class: "muted" }, it.changed.map((k) => `${k} ${fmt(it.scores_a[k])}`).join(", ")), el("td", { class: "muted" }, it.changed.map((k) => `${k} ${fmt(it.scores_b[k])}`).join(", ")))))))
    : el("p", { class: "muted" }, "No item changed.")),
  el("p", {}, el("a", { href: `/v1/evaluations/${enc(a)}/compare/${enc(b)}/report`, target: "_blank", rel: "noopener" }, "Open the comparison report with its plots")));
}

// ---------------------------------------------------------------------------------------
// Wiring
$("#panel-close").addEventListener("click", closePanel);
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("#panel").hidden) closePanel(); });
$("#sign-out").addEventListener("click", async () => { await api("/v1/session", { method: "DELETE" }).catch(() => {}); signedOut(); });
$("#collection-picker").addEventListener("change", (e) => {
  state.collection = e.target.value;
  localStorage.setItem("docintel.collection", state.collection);
  route();
});
window.addEventListener("hashchange", route);
start();
