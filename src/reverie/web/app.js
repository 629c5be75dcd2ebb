// Reverie's web app: a thin layer over the public API. The key lives in sessionStorage (this tab only); the
// last namespace looked at lives in localStorage, so the next visit opens on it.
const API = "/serve/api/v1";
const PAGE = 100;  // library_page size: a jump to a month loads whole pages, so every page must be the same size
const $ = (id) => document.getElementById(id);
const LEVELS = JSON.parse(document.querySelector('meta[name="reverie-levels"]').content);  // filtering_level cuts
const state = {
  key: sessionStorage.getItem("reverie-key"), ns: "default", mode: "browse",
  items: [],     // what the grid shows, in order: the gallery's loaded pages or a result list (prev/next walk it)
  page: 0, total: Infinity, loading: null,
  gen: 0,        // which gallery or result list is on screen: answers for an older one are dropped
  query: "",     // the words of the search shown, to say why each hit matched
  open: -1,      // index in items of the one in the detail view
  counts: new Map(),  // namespace -> its numbers of photos and videos (list_unique_ids)
  sizeSaid: "",  // the status line as the gallery last set it, to tell it from what an action said since
  person: null,  // the person whose photos the grid shows (a face clicked), so a merge can show them again
};

class ApiError extends Error {}

// Image ids are 64-bit: as JS numbers they would lose their last digits, so they stay strings here.
const parse = (text) => JSON.parse(text.replace(/"id":(\d{16,})/g, '"id":"$1"'));

async function api(path, { json, form, method } = {}) {
  const init = { method: method || (json !== undefined || form ? "POST" : "GET"), headers: { Authorization: state.key } };
  if (json !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(json); }
  if (form) init.body = form;
  const res = await fetch(API + path, init);
  const body = parse(await res.text());
  if (body.code !== "0000") throw new ApiError(`${body.code} ${body.msg}`);
  return body.data;
}

const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};
const plural = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;

// 65.2 -> "1:05"; 3725 -> "1:02:05"
function clock(seconds) {
  const s = Math.floor(seconds);
  const mmss = `${Math.floor((s % 3600) / 60)}:${String(s % 60).padStart(2, "0")}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss.padStart(5, "0")}` : mmss;
}

// Capture times are stored without a zone and served as UTC, as library_months counts them: shown in UTC too,
// so a photo sits under the day its camera said.
const utc = (ms, options) => new Date(ms).toLocaleDateString("en-GB", { timeZone: "UTC", ...options });
const monthKey = (ms) => new Date(ms).toISOString().slice(0, 7);
const dayKey = (ms) => new Date(ms).toISOString().slice(0, 10);
const monthName = (key, month = "long") => utc(Date.parse(`${key}-01T00:00:00Z`), { month, year: "numeric" });

// ---- sign-in and namespaces -----------------------------------------------------------------------------
async function signIn(key) {
  state.key = key;
  const data = await api("/list_unique_ids");  // throws on a bad key
  sessionStorage.setItem("reverie-key", key);
  $("signin").hidden = true;
  $("app").hidden = false;
  state.ns = firstNamespace(data.namespaces || []);
  fillNamespaces(data.namespaces || []);
  browse();
}

const size = (n) => n.images + n.videos;

// The one looked at last, if it still exists; else the largest, so a library never opens on an empty
// "default" while another namespace holds the photos.
function firstNamespace(namespaces) {
  const last = localStorage.getItem("reverie-ns");
  if (namespaces.some((n) => n.unique_id === last)) return last;
  const largest = [...namespaces].sort((a, b) => size(b) - size(a))[0];
  return largest && size(largest) > 0 ? largest.unique_id : "default";
}

function fillNamespaces(namespaces) {
  state.counts = new Map(namespaces.map((n) => [n.unique_id, n]));
  // "default" is always offered: uploads go to the namespace shown, and a new library starts there.
  const known = new Map([["default", { unique_id: "default", images: 0, videos: 0 }], ...namespaces.map((n) => [n.unique_id, n])]);
  if (!known.has(state.ns)) known.set(state.ns, { unique_id: state.ns, images: 0, videos: 0 });
  const options = [...known.values()].map((n) => new Option(`${n.unique_id} (${size(n)})`, n.unique_id, false, n.unique_id === state.ns));
  $("namespace").replaceChildren(...options);
}

// The counts in the picker follow uploads and deletions.
async function refreshNamespaces() {
  try { fillNamespaces((await api("/list_unique_ids")).namespaces || []); } catch { return; /* the picker keeps its old counts */ }
  if (state.mode === "browse" && state.page > 0) updateGallerySize();
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("signin-error").textContent = "";
  try { await signIn($("key").value.trim()); } catch (err) { $("signin-error").textContent = `Could not sign in: ${err.message}`; }
});
$("signout").addEventListener("click", () => { sessionStorage.removeItem("reverie-key"); location.reload(); });
$("namespace").addEventListener("change", (e) => {
  state.ns = e.target.value;
  localStorage.setItem("reverie-ns", state.ns);
  $("query").value = "";
  browse();
});

// ---- tiles ----------------------------------------------------------------------------------------------
function lazyImage(src, alt) {
  const img = new Image();
  img.loading = "lazy";
  img.alt = alt;
  img.src = src;
  return img;
}

const badge = (className, text) => el("span", { className: `badge ${className}`, textContent: text });
const STATUS_WORDS = { UNPARSE: "indexing…", FAILED: "could not index" };

// One tile per item; clicking it opens the item at its place in state.items, so prev/next walk the same list.
function tile(item, index) {
  const b = el("button", { type: "button", className: `tile ${item.kind || "image"}` });
  const thumb = item.kind === "clip" ? item.keyframe_url : item.thumbnail_url;
  const name = itemName(item);
  if (thumb) b.append(lazyImage(thumb, name));
  else b.append(el("div", { className: "placeholder", textContent: name }));
  const status = item.kind === "video" ? item.videoStatus : item.status;
  if (STATUS_WORDS[status]) b.append(badge("status", STATUS_WORDS[status]));
  if (item.kind === "video") videoTile(b, item);
  if (item.kind === "clip") b.append(badge("moment", `▶ ${moment(item)}`));
  if (spoken(item)) b.append(el("span", { className: "said", textContent: `“${spoken(item)}”` }));
  if (item.kind === "image" || !item.kind) b.dataset.id = item.id;
  // The hover title says why a hit is here; a gallery tile just names its photo.
  b.title = [name, ...(item.score !== undefined || item.byExample ? reasons(item) : [])].join("\n");
  b.addEventListener("click", () => openAt(index));
  return b;
}

const itemName = (item) => (item.kind === "video" || item.kind === "clip" ? item.videoName : item.name);
const moment = (clip) => `${clock(+clip.startTime)}-${clock(+clip.endTime)}`;
const spoken = (clip) => clip.audio_ts || clip.line || "";

// A clip item of an ALL or BY_CLIP search has no words in it (audio_ts is for BY_AUDIO): the line said in its
// moment comes from its video's transcript, the segment sharing most words with the query, else all of them.
async function addSpokenLines(items, query) {
  const clips = items.filter((i) => i.kind === "clip" && !i.audio_ts);
  const nos = [...new Set(clips.map((c) => c.videoNo))].slice(0, 20);  // one transcript per video, a page's worth
  const transcripts = new Map(await Promise.all(nos.map(async (no) =>
    [no, await api(`/get_audio_transcription?video_no=${no}`).catch(() => null)])));  // null: no speech
  const words = new Set(query.toLowerCase().match(/[\p{L}\p{N}']+/gu) || []);
  const shared = (text) => (text.toLowerCase().match(/[\p{L}\p{N}']+/gu) || []).filter((w) => words.has(w)).length;
  for (const c of clips) {
    const said = (transcripts.get(c.videoNo)?.transcriptions || [])
      .filter((t) => +t.startTime < +c.endTime && +t.endTime > +c.startTime && t.content.trim());
    if (!said.length) continue;
    const best = [...said].sort((a, b) => shared(b.content) - shared(a.content))[0];
    const line = shared(best.content) ? best : null;
    c.line = line ? line.content.trim() : said.map((t) => t.content.trim()).join(" ");
    c.lineAt = +(line || said[0]).startTime;
  }
}

// A video shows its length, and plays (muted) while the pointer rests on it.
function videoTile(b, item) {
  if (item.duration) b.append(badge("duration", `▶ ${clock(item.duration)}`));
  if (!item.video_url) return;
  b.addEventListener("mouseenter", () => {
    const v = el("video", { src: item.video_url, muted: true, loop: true, playsInline: true, autoplay: true, className: "preview" });
    v.muted = true;  // the attribute alone does not silence a video made by script
    b.append(v);
    v.play().catch(() => { /* a format this browser cannot play: the thumbnail stays */ });
  });
  b.addEventListener("mouseleave", () => b.querySelector("video.preview")?.remove());
}

// ---- the gallery: the library by capture date -------------------------------------------------------------
function browse() {
  loadPeople();
  state.gen += 1;
  state.mode = "browse";
  state.person = null;
  state.query = "";
  state.items = [];
  state.page = 0;
  state.total = Infinity;
  $("grid").replaceChildren();
  $("grid").className = "gallery";
  refreshNamespaces();
  $("status").textContent = "";
  loadMonths();
  return loadMore();
}

// One page at a time: a second caller waits for the page already on its way instead of asking for it twice.
// `gen` tells a page of this gallery from one of a gallery left since (another namespace, a search).
function loadMore() {
  if (state.mode !== "browse" || state.page * PAGE >= state.total) return Promise.resolve();
  if (!state.loading || state.loading.gen !== state.gen) {
    const p = loadPage(state.gen).finally(() => { if (state.loading === p) state.loading = null; });
    p.gen = state.gen;
    state.loading = p;
  }
  return state.loading;
}

async function loadPage(gen) {
  try {
    const data = await api("/library_page", { json: { unique_id: state.ns, page: state.page + 1, page_size: PAGE } });
    if (gen !== state.gen) return;  // the user moved on while it loaded
    state.page += 1;
    state.total = data.total_count;
    const start = state.items.length;
    state.items.push(...data.item);
    data.item.forEach((item, i) => placeInGallery(item, start + i));
    sayGallerySize();
    // The observer only tells of changes: a sentinel still in view after a short page wants the next one.
    requestAnimationFrame(() => { if ($("more").getBoundingClientRect().top < innerHeight) loadMore(); });
  } catch (err) {
    $("status").textContent = err.message;
  }
}

// "12 photos · 1 video in “trip”", by the picker's counts (they tell photos from videos), else the page's total
function sayGallerySize() {
  const n = state.counts.get(state.ns);
  const said = n && size(n) === state.total ? [[n.images, "photo"], [n.videos, "video"]].filter(([k]) => k).map(([k, w]) => plural(k, w)).join(" · ")
    : plural(state.total, "item");
  state.sizeSaid = state.total ? `${said} in “${state.ns}”` : `No photos in “${state.ns}” yet: drop some above.`;
  $("status").textContent = state.sizeSaid;
}

// A refresh nobody asked for keeps what the user's last action said ("Named …", an error).
function updateGallerySize() {
  if (["", state.sizeSaid].includes($("status").textContent)) sayGallerySize();
}

// Items come newest first: each goes under the last month and day header, or starts new ones.
function placeInGallery(item, index) {
  const grid = $("grid");
  let month = grid.lastElementChild;
  if (!month || month.dataset.month !== monthKey(item.when_ms)) {
    month = el("section", { className: "month" }, el("h2", { textContent: monthName(monthKey(item.when_ms)) }));
    month.dataset.month = monthKey(item.when_ms);
    grid.append(month);
  }
  let day = month.lastElementChild;
  if (!day.dataset || day.dataset.day !== dayKey(item.when_ms)) {
    day = el("section", { className: "day" }, el("h3", { textContent: utc(item.when_ms, { weekday: "long", day: "numeric", month: "long" }) }),
      el("div", { className: "tiles" }));
    day.dataset.day = dayKey(item.when_ms);
    month.append(day);
  }
  const t = tile(item, index);
  if (item.when_source === "uploaded") t.title += "\nNo capture date: placed by when it was uploaded";
  day.querySelector(".tiles").append(t);
}

// The timeline: one entry per month, newest first; a click loads the pages up to that month and goes there.
async function loadMonths() {
  const ns = state.ns;
  let data;
  try { data = await api("/library_months", { json: { unique_id: ns } }); } catch { return; }
  if (ns !== state.ns) return;
  $("timeline").replaceChildren(...data.months.map((m) => {
    const b = el("button", { type: "button", title: `${monthName(m.month)}: ${plural(m.count, "item")}` },
      el("span", { textContent: monthName(m.month, "short") }), el("small", { textContent: m.count }));
    b.dataset.month = m.month;
    b.addEventListener("click", () => jumpTo(m));
    return b;
  }));
  $("timeline").hidden = state.mode !== "browse" || data.months.length < 2;
  markMonth();
}

// The timeline marks the month at the top of the view; scrolled to the foot of the page, the last one (it
// cannot come higher). A page too short to scroll marks its first month.
function markMonth(asked) {
  const months = [...document.querySelectorAll("#grid.gallery .month")];
  const atFoot = scrollY > 0 && innerHeight + scrollY >= document.documentElement.scrollHeight - 2;
  const shown = atFoot ? months.at(-1) : months.filter((m) => m.getBoundingClientRect().top <= 140).pop() || months[0];
  const month = asked || shown?.dataset.month;
  document.querySelectorAll("#timeline button").forEach((b) => b.classList.toggle("current", b.dataset.month === month));
}
addEventListener("scroll", () => requestAnimationFrame(() => markMonth()), { passive: true });

async function jumpTo(m) {
  $("status").textContent = `Going to ${monthName(m.month)}…`;
  while (state.mode === "browse" && state.items.length <= m.offset && state.page * PAGE < state.total) {
    const before = state.page;
    await loadMore();
    if (state.page === before) return;  // the page did not come: loadPage has said why in the status line
  }
  sayGallerySize();
  document.querySelector(`#grid .month[data-month="${m.month}"]`)?.scrollIntoView({ block: "start" });
  // the month asked for, even where the page is too short to bring it to the top (a scroll re-marks)
  markMonth(m.month);
}

// A fresh look at the pages already shown (an upload arrived, a photo finished indexing), keeping the scroll
// place; several uploads finishing together refresh once.
// An answer that comes back after a later one's is dropped: it would show older statuses.
let refreshTimer = 0, refreshes = 0;
function refreshGallery() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    const mine = ++refreshes;
    if (state.mode !== "browse") return;
    const pages = Math.max(1, state.page), y = window.scrollY;
    const gen = state.gen, ns = state.ns;
    const lists = [];
    try {
      for (let p = 1; p <= pages; p++) lists.push(await api("/library_page", { json: { unique_id: ns, page: p, page_size: PAGE } }));
    } catch { return; }
    if (gen !== state.gen || mine !== refreshes) return;
    state.gen += 1;  // a page still on its way was asked for against the old list: it is dropped
    const opened = state.items[state.open];
    state.items = lists.flatMap((d) => d.item);
    // the detail view keeps walking from the item it shows, wherever the refresh moved it
    if (opened) state.open = state.items.findIndex((i) => (i.kind === "video" ? i.videoNo === opened.videoNo : i.id === opened.id));
    state.total = lists[0].total_count;
    state.page = pages;
    $("grid").replaceChildren();
    state.items.forEach(placeInGallery);
    await refreshNamespaces();  // and says the gallery's new size
    loadMonths();
    window.scrollTo(0, y);
  }, 150);
}

// infinite scroll: the sentinel under the grid asks for the next page when it comes into view
new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); }).observe($("more"));

// ---- search results ---------------------------------------------------------------------------------------
function filters() {
  const f = {};
  const tags = $("f-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (tags.length) f.tags = tags;
  if ($("f-camera").value.trim()) f.camera_tag = $("f-camera").value.trim();
  const when = (v) => v.replace("T", " ").padEnd(19, ":00").slice(0, 19);
  if ($("f-from").value) f.datetime_from = when($("f-from").value);
  if ($("f-to").value) f.datetime_to = when($("f-to").value);
  const near = $("f-near").value.split(",").map((x) => parseFloat(x));
  if (near.length === 2 && near.every(Number.isFinite)) {
    [f.latitude, f.longitude] = near;
    if ($("f-radius").value) f.radius_km = parseFloat($("f-radius").value);
  }
  return f;
}

// A video's moments can come back as neighbouring clips: one tile per moment, the best (first) one.
function oneTilePerMoment(items) {
  const kept = [];
  return items.filter((item) => {
    if (item.kind !== "clip") return true;
    const [s, e] = [+item.startTime, +item.endTime];
    if (kept.some((k) => k.videoNo === item.videoNo && s <= +k.endTime && +k.startTime <= e)) return false;
    kept.push(item);
    return true;
  });
}

// Good hits first; those scoring under filtering_level "low" (the API's own cut) under a heading of their own.
function showResults(label, items, options = {}) {
  const { split = true } = options;
  state.gen += 1;
  state.mode = "search";
  state.person = null;
  state.shown = { label, items, options };
  $("timeline").hidden = true;
  items = oneTilePerMoment(items);
  const good = split ? items.filter((i) => i.score === undefined || i.score >= LEVELS.low) : items;
  const weak = split ? items.filter((i) => !good.includes(i)) : [];
  state.items = [...good, ...weak];
  const grid = $("grid");
  grid.className = "results";
  grid.replaceChildren();
  if (good.length) grid.append(el("div", { className: "tiles good" }, ...good.map((item, i) => tile(item, i))));
  if (weak.length) {
    grid.append(el("h2", { className: "less-likely", textContent: "More results, less likely" }),
      el("div", { className: "tiles weak" }, ...weak.map((item, i) => tile(item, good.length + i))));
  }
  $("status").textContent = !items.length ? `No results for ${label} (try a lower confidence or fewer filters)`
    : good.length ? `${plural(good.length, "result")} for ${label}` + (weak.length ? `, and ${weak.length} less likely` : "")
      : `No close results for ${label}: ${weak.length} less likely`;
}

$("search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = $("query").value.trim();
  if (!q) return browse();
  const body = { search_param: q, search_type: "ALL", unique_id: state.ns, top_k: 200, page_size: 200, ...filters() };
  if ($("f-level").value) body.filtering_level = $("f-level").value;
  $("status").textContent = `Searching for “${q}”…`;
  try {
    const data = await api("/search", { json: body });
    await addSpokenLines(data.item, q);
    state.query = q;
    showResults(`“${q}”`, data.item);
  } catch (err) { $("status").textContent = err.message; }
});

async function searchByExample(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("unique_id", state.ns);
  form.append("top_k", "60");
  try {
    const data = await api("/search_similar_imgs", { form });
    state.query = "";
    // Similarity to an example is not on the calibrated scale LEVELS cuts: no split.
    showResults(`images like ${file.name}`, data.item.map((i) => ({ ...i, kind: "image", byExample: file.name })), { split: false });
  } catch (err) { $("status").textContent = err.message; }
}
$("example").addEventListener("change", (e) => { if (e.target.files[0]) searchByExample(e.target.files[0]); e.target.value = ""; });
$("query").addEventListener("dragover", (e) => e.preventDefault());
$("query").addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) searchByExample(e.dataTransfer.files[0]); });

// ---- why this result --------------------------------------------------------------------------------------
// The words of the query found in a text, as the text spells them ("taman daya" in a receipt -> "TAMAN DAYA").
function wordsIn(text, query) {
  const found = query.split(/\s+/).filter(Boolean).map((w) => {
    const at = (text || "").toLowerCase().indexOf(w.toLowerCase());
    return at < 0 ? null : text.slice(at, at + w.length);
  }).filter(Boolean);
  return found.length ? found.join(" ") : query;
}

// Each signal that matched (`matched` of the item), said in words; `m` is the photo's metadata when known.
function reasons(item, m = {}) {
  const q = state.query;
  if (item.byExample) return [`Looks like ${item.byExample}`];
  const seen = recognised(m, q);
  const heard = spoken(item) ? `Said at ${clock(item.lineAt ?? +item.startTime)}: “${spoken(item)}”` : "";
  const said = {
    visual: `Looks like: ${q}`,
    ocr: `Matches the words in the photo: ${wordsIn(m.ocr_text, q)}`,
    labels: `Recognised in it: ${seen || q}`,
    tags: tagged(item, m, q),
    place: `Taken at: ${m.place || q}`,
    camera: `Shot on: ${m.camera_model || item.camera_model || q}`,
    name: `Its file name matches: ${q}`,
    said: heard || `Said or shown on screen at ${clock(+(item.startTime || 0))}: ${q}`,
    words: `What it shows, says or has on screen matches: ${q}`,
    speech: heard || `Close to what was said at ${clock(+(item.startTime || 0))}`,
    image: "Looks like your example image",
  };
  const out = [...new Set((item.matched || []).map((s) => said[s] || null).filter(Boolean))];  // a Set: said and speech can say the same
  // "said" already tells of the words; "words" would repeat it
  return out.includes(said.said) ? out.filter((r) => r !== said.words) : out;
}

// The labels and detected objects of a photo that the query names: "leopard", "3 × elephant".
function recognised(m, q) {
  const named = (name) => q.toLowerCase().includes(name.toLowerCase()) || name.toLowerCase().includes(q.toLowerCase());
  const objects = new Map();
  for (const o of m.objects || []) if (named(o.label)) objects.set(o.label, (objects.get(o.label) || 0) + 1);
  const labels = (m.labels || []).map((l) => l.name).filter((n) => named(n) && !objects.has(n));
  return [...[...objects].map(([label, n]) => (n > 1 ? `${n} × ${label}` : label)), ...labels].join(", ");
}

// A named person's name is searched with the tags: say who is in it when that is what matched.
function tagged(item, m, q) {
  const person = (m.faces || []).map((f) => f.name).find((n) => n && q.toLowerCase().includes(n.toLowerCase()));
  return person ? `${person} is in it` : `Tagged: ${wordsIn((m.tags || item.tags || []).join(", "), q)}`;
}

function whyList(item, m) {
  if (item.score === undefined && !item.byExample) return null;
  const why = reasons(item, m);
  return el("div", { className: "why" }, el("h3", { textContent: "Why this result" }),
    el("ul", {}, ...(why.length ? why : ["Close to your search overall, though no single part of it stands out"]).map((r) => el("li", { textContent: r }))));
}

// ---- people ---------------------------------------------------------------------------------------------
let peopleLoads = 0;

async function loadPeople() {
  // Each photo that finishes indexing reloads the strip; answers can come back out of order, and an older
  // one (a face fewer) must not replace a newer one.
  const mine = ++peopleLoads;
  let data;
  try {
    data = await api("/list_people", { json: { unique_id: state.ns, page_size: 200 } });
  } catch {  // faces are off on this server (REVERIE_FACES=off): no people to show
    if (mine === peopleLoads) $("people").hidden = true;
    return;
  }
  if (mine !== peopleLoads) return;
  $("people").hidden = data.people.length === 0;
  // A card already shown is kept and brought up to date, never rebuilt: the strip reloads as each photo
  // finishes indexing, and a name being typed or people ticked to merge must outlive that.
  const strip = $("people-strip");
  const shown = new Map([...strip.children].map((c) => [c.dataset.id, c]));
  data.people.forEach((p, i) => {
    const card = shown.get(p.person_id) || personCard(p);
    shown.delete(p.person_id);
    fillCard(card, p);
    if (strip.children[i] !== card) strip.insertBefore(card, strip.children[i] || null);
  });
  shown.forEach((gone) => gone.remove());  // merged away, or its faces taken out
  updateMerge();
}

function personCard(p) {
  const card = el("div", { className: "person" });
  card.dataset.id = p.person_id;
  const pick = el("input", { type: "checkbox", title: "Select to merge" });
  pick.addEventListener("change", updateMerge);
  const face = el("button", { type: "button", className: "face" }, lazyImage(p.cover.url, ""));
  face.addEventListener("click", () => photosOf(card.person));
  const name = el("input", { className: "name", placeholder: "Add a name" });
  name.setAttribute("aria-label", "Name");
  name.addEventListener("change", async () => {
    const p = card.person;
    try {
      const named = await api("/name_person", { json: { unique_id: state.ns, person_id: p.person_id, name: name.value.trim() } });
      p.name = named.name;
      $("status").textContent = named.name ? `Named ${named.name}: search for the name to find their photos` : "Name cleared";
    } catch (err) { $("status").textContent = err.message; }
  });
  card.append(pick, face, name, el("span", { className: "count" }));
  card.person = p;  // its cover is already loading
  return card;
}

// What a reload can change on a card: its counts, its cover face, and its name unless it is being edited here.
function fillCard(card, p) {
  const [pick, face, name, count] = card.children;
  const who = p.name || "this person";
  pick.setAttribute("aria-label", `Select ${who} to merge`);
  face.title = `Photos of ${who}`;
  const img = face.querySelector("img");
  img.alt = p.name || "unnamed person";
  // a signed link differs on every load: only another face is another picture
  if (card.person?.cover.blob !== p.cover.blob) img.src = p.cover.url;
  if (document.activeElement !== name) name.value = p.name || "";
  count.textContent = counts([], p.image_count, p.clip_count);
  card.person = p;
}

// "3 photos · 2 clips", of a list of hits or from a person's counts
function counts(items, photos = items.filter((i) => i.kind !== "clip").length, clips = items.length - photos) {
  const said = [[photos, "photo"], [clips, "clip"]].filter(([n]) => n).map(([n, what]) => plural(n, what));
  return said.join(" · ") || "no photos";
}

const ticked = () => [...document.querySelectorAll(".person input[type=checkbox]:checked")];
const picked = () => ticked().map((c) => c.closest(".person").dataset.id);

function updateMerge() {
  const n = picked().length;
  $("merge").hidden = n < 2;
  $("merge").textContent = `Merge ${n} people`;
}

// The first one picked, in strip order (most photos first), keeps its id and its name. If the grid shows
// the photos of one of them, it then shows the merged person's: all of them, as the card now counts.
$("merge").addEventListener("click", async () => {
  const ids = picked();
  try {
    await api("/merge_people", { json: { unique_id: state.ns, person_ids: ids, into: ids[0] } });
    const merged = `Merged ${ids.length} people into one`;
    $("status").textContent = merged;
    ticked().forEach((c) => { c.checked = false; });
    const shown = ids.includes(state.person);
    await loadPeople();
    const card = shown && document.querySelector(`.person[data-id="${ids[0]}"]`);
    if (card) $("status").textContent = `${merged}: ${await photosOf(card.person)}`;
  } catch (err) { $("status").textContent = err.message; }
});

// Shows a person's photos and clips; returns what the status line says of them.
async function photosOf(p) {
  const body = { search_param: p.name || "a person", search_type: "ALL", unique_id: state.ns, top_k: 1000, page_size: 200, person_ids: [p.person_id] };
  try {
    const data = await api("/search", { json: body });
    await addSpokenLines(data.item, "");
    state.query = p.name || "";
    showResults(p.name || "this person", data.item, { split: false });  // every one of them has the face
    state.person = p.person_id;
    return ($("status").textContent = `${counts(data.item)} of ${p.name || "this person"}`);
  } catch (err) { return ($("status").textContent = err.message); }
}

// ---- the detail view --------------------------------------------------------------------------------------
function row(dl, name, value) {
  if (value === undefined || value === null || value === "") return;
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = value;
  dl.append(el("dt", { textContent: name }), dd);
}

// Open the item at `index` of the grid's list, whatever its kind; prev/next move along that list.
function openAt(index) {
  const item = state.items[index];
  if (!item) return;
  state.open = index;
  $("prev").disabled = index === 0;
  $("next").disabled = index === state.items.length - 1;
  $("position").textContent = `${index + 1} / ${state.items.length}`;
  if (item.kind === "clip") openClip(item);
  else if (item.kind === "video") openVideo(item);
  else openPhoto(item);
  if (!$("detail").open) $("detail").showModal();
}

const step = (by) => { if ($("detail").open) openAt(state.open + by); };
$("prev").addEventListener("click", () => step(-1));
$("next").addEventListener("click", () => step(1));
// On the document: a step can disable the focused button, and focus then leaves the dialog.
document.addEventListener("keydown", (e) => {
  if (!$("detail").open || e.target.matches("input, textarea")) return;  // arrows move the caret there
  if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
  if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
});
// A swipe on a phone: a mostly sideways drag of at least 50 px, left for the next one.
let touchStart = null;
$("detail").addEventListener("touchstart", (e) => { touchStart = e.changedTouches[0]; }, { passive: true });
$("detail").addEventListener("touchend", (e) => {
  if (!touchStart) return;
  const dx = e.changedTouches[0].clientX - touchStart.clientX, dy = e.changedTouches[0].clientY - touchStart.clientY;
  touchStart = null;
  if (Math.abs(dx) >= 50 && Math.abs(dx) > 2 * Math.abs(dy)) step(dx < 0 ? 1 : -1);
});
// The player stops when the view closes, not only hides.
$("detail").addEventListener("close", () => $("detail-body").querySelector("video")?.pause());

function player(src, from, to) {
  // "auto": a browser that will not start it with sound still shows the moment's first frame
  const video = el("video", { controls: true, preload: "auto", playsInline: true, autoplay: true });
  if (src) video.src = from === undefined ? src : `${src}#t=${from},${to}`;  // plays the moment
  return video;
}

function openClip(item) {
  const line = el("p", { className: "line", textContent: spoken(item) ? `“${spoken(item)}”` : "" });
  const dl = el("dl");
  row(dl, "Moment", moment(item));
  row(dl, "Video", item.videoNo);
  const side = el("div", { className: "info" }, el("h2", { textContent: item.videoName }), dl);
  const why = whyList(item);
  if (why) side.append(why);
  $("detail-body").replaceChildren(el("div", { className: "detail" }, el("div", { className: "stage" }, player(item.video_url, item.startTime, item.endTime), line), side));
}

function openVideo(item) {
  const dl = el("dl");
  row(dl, "Length", item.duration ? clock(item.duration) : "not known yet");
  row(dl, item.when_source === "taken" ? "Taken" : "Uploaded", item.when_ms ? `${utc(item.when_ms, { day: "numeric", month: "long", year: "numeric" })}` : "");
  row(dl, "Status", STATUS_WORDS[item.videoStatus] || "indexed");
  row(dl, "Namespace", item.unique_id);
  row(dl, "Video", item.videoNo);
  const stage = el("div", { className: "stage" }, item.video_url ? player(item.video_url) : el("p", { textContent: "The original was not kept: nothing to play." }));
  $("detail-body").replaceChildren(el("div", { className: "detail" }, stage, el("div", { className: "info" }, el("h2", { textContent: item.videoName }), dl)));
}

// Each detected object: a chip, and its box outlined on the photo (in percent, so it follows the image's size).
function showObjects(body, m) {
  const objects = m.objects || [];
  const list = body.querySelector(".objects");
  if (!objects.length) { list.textContent = "(none found)"; return; }
  for (const o of objects) {
    const text = `${o.label}${o.colour ? " · " + o.colour : ""} ${(o.score * 100).toFixed(0)}%`;
    list.append(el("span", { className: "chip", textContent: text }));
    const box = el("div", { className: "box", title: text }, el("span", { textContent: o.label }));
    place(box, o.box, m);
    body.querySelector(".frame").append(box);
  }
}

const place = (box, b, m) => Object.assign(box.style, { left: `${(100 * b.x) / m.width}%`, top: `${(100 * b.y) / m.height}%`,
  width: `${(100 * b.w) / m.width}%`, height: `${(100 * b.h) / m.height}%` });

// Each face: outlined on the photo with its person's name, and a chip to take a wrongly grouped one out.
function showFaces(body, m) {
  const faces = m.faces || [];
  const list = body.querySelector(".faces");
  if (!faces.length) { list.textContent = "(none found)"; return; }
  for (const f of faces) {
    const who = f.name || (f.person_id ? "unnamed" : "taken out");
    const box = el("div", { className: "box face", title: who }, el("span", { textContent: who }));
    place(box, f.box, m);
    body.querySelector(".frame").append(box);
    const chip = el("span", { className: "chip", textContent: who });
    if (f.person_id) {
      const out = el("button", { type: "button", className: "not-them", textContent: "not them" });
      out.addEventListener("click", async () => {
        try {
          await api("/remove_face", { json: { unique_id: m.unique_id, face_id: f.face_id } });
          openAt(state.open);
          loadPeople();
        } catch (err) { $("status").textContent = err.message; }
      });
      chip.append(" ", out);
    }
    list.append(chip);
  }
}

async function openPhoto(item) {
  const m = await api(`/get_img_metadata?id=${item.id}`);
  if (state.items[state.open] !== item) return;  // the user stepped on while it loaded
  const body = $("detail-body");
  body.innerHTML = `<div class="detail"><div class="stage"><div class="frame"><img alt=""></div></div><div class="info"><h2></h2><dl></dl>
    <h3>People</h3><div class="faces"></div>
    <h3>Objects</h3><div class="objects"></div>
    <h3>Labels</h3><div class="labels"></div><h3>Text in the image</h3><pre class="ocr"></pre>
    <p><a class="download">Download original</a> · <button class="danger delete" type="button">Delete</button></p></div></div>`;
  const img = body.querySelector("img");
  // Boxes are placed in percent of the frame, which has no size until the photo arrives.
  img.addEventListener("load", () => body.querySelector(".frame").classList.add("loaded"), { once: true });
  img.src = m.preview ? m.preview.url : m.img_url;
  body.querySelector("h2").textContent = m.file_name;
  const why = whyList(item, m);
  if (why) body.querySelector("dl").before(why);
  describe(body.querySelector("dl"), m);
  showObjects(body, m);
  showFaces(body, m);
  body.querySelector(".labels").append(...m.labels.map((l) => el("span", { className: "chip", textContent: `${l.name} ${(l.score * 100).toFixed(0)}%` })));
  body.querySelector(".ocr").textContent = m.ocr_text || "(none found)";
  body.querySelector(".download").href = m.img_url;
  body.querySelector(".delete").addEventListener("click", () => deletePhoto(m));
}

function describe(dl, m) {
  row(dl, "Status", m.status === "PARSE" ? "indexed" : (STATUS_WORDS[m.status] || m.status) + (m.cause ? ` — ${m.cause}` : ""));
  row(dl, "Taken", m.datetime_taken ? new Date(m.datetime_taken).toISOString().replace("T", " ").slice(0, 19) + " (UTC)" : "");
  row(dl, "Camera", m.camera_model);
  row(dl, "Size", m.width ? `${m.width} × ${m.height} · ${m.format} · ${(m.size / 1024).toFixed(0)} KB` : `${m.format} · ${(m.size / 1024).toFixed(0)} KB`);
  if (m.latitude !== undefined) {
    const a = el("a", { target: "_blank", rel: "noopener", textContent: `${m.place ? m.place + " · " : ""}${m.latitude.toFixed(5)}, ${m.longitude.toFixed(5)}` });
    a.href = `https://www.openstreetmap.org/?mlat=${m.latitude}&mlon=${m.longitude}#map=13/${m.latitude}/${m.longitude}`;
    row(dl, "Place", a);
  }
  row(dl, "Colours", (m.colours || []).join(", "));
  row(dl, "Tags", (m.tags || []).join(", "));
  row(dl, "Namespace", m.unique_id);
  row(dl, "Id", m.id);
}

async function deletePhoto(m) {
  if (!confirm(`Delete ${m.file_name}? This removes the original and everything derived from it.`)) return;
  await api(`/delete_imgs?unique_id=${encodeURIComponent(m.unique_id)}`, { json: [m.id] });
  $("detail").close();
  // Tiles carry their place in the list for prev/next: the list is drawn again rather than one tile taken out.
  if (state.mode === "browse") refreshGallery();
  else showResults(state.shown.label, state.shown.items.filter((i) => i.id !== m.id), state.shown.options);
  await refreshNamespaces();
  $("status").textContent = `Deleted ${m.file_name}`;
}

// ---- upload -----------------------------------------------------------------------------------------------
// A row per file while it uploads and indexes; a finished row fades away after a few seconds, a failed one
// stays until dismissed.
function uploadRow(name) {
  const li = el("li", {}, el("span", { className: "name", textContent: name }), el("progress", { max: 100, value: 0 }),
    el("span", { className: "state", textContent: "uploading" }));
  $("uploads").append(li);
  return li;
}

function finish(li, text) {
  li.querySelector(".state").textContent = text;
  li.classList.add("done");
  setTimeout(() => { li.classList.add("gone"); setTimeout(() => li.remove(), 600); }, 4000);
}

function fail(li, text) {
  li.querySelector(".state").textContent = text;
  li.classList.add("failed");
  li.querySelector("progress").remove();
  const dismiss = el("button", { type: "button", className: "dismiss", textContent: "×", title: "Dismiss" });
  dismiss.setAttribute("aria-label", `Dismiss ${li.querySelector(".name").textContent}`);
  dismiss.addEventListener("click", () => li.remove());
  li.append(dismiss);
}

function uploadOne(file) {
  const video = file.type.startsWith("video/");
  const li = uploadRow(file.name);
  const form = new FormData();
  form.append(video ? "file" : "files", file, file.name);
  form.append("unique_id", state.ns);
  const xhr = new XMLHttpRequest();  // fetch has no upload progress
  xhr.open("POST", API + (video ? "/upload" : "/upload_img"));
  xhr.setRequestHeader("Authorization", state.key);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) li.querySelector("progress").value = (100 * e.loaded) / e.total; };
  xhr.onload = () => {
    const body = parse(xhr.responseText);
    // the row already names the file: the message without the API's "files[0] (name): " before it
    if (body.code !== "0000") return fail(li, `not uploaded: ${body.msg.replace(/^files\[\d+\] \([^)]*\): /, "")}`);
    li.querySelector("progress").value = 100;
    // In the gallery at once, as "indexing…"; again once indexed, with its thumbnail.
    refreshGallery();
    refreshNamespaces();
    watchIndexing(li, video ? `/get_metadata?video_no=${body.data.videoNo}` : `/get_img_metadata?id=${body.data[0].id}`);
  };
  xhr.onerror = () => fail(li, "network error: not uploaded");
  xhr.send(form);
}

async function watchIndexing(li, status) {
  li.querySelector(".state").textContent = "indexing…";
  for (let i = 0; i < 600; i++) {  // up to 5 minutes
    const m = await api(status).catch(() => ({}));
    if (m.status === "PARSE") { finish(li, "indexed"); refreshGallery(); loadPeople(); return; }
    if (m.status === "FAILED") { refreshGallery(); return fail(li, `could not index: ${m.cause}`); }
    await new Promise((r) => setTimeout(r, 500));
  }
  fail(li, "still indexing: check back later");
}

function uploadAll(files) { [...files].forEach(uploadOne); }
$("files").addEventListener("change", (e) => { uploadAll(e.target.files); e.target.value = ""; });
const zone = $("dropzone");
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); uploadAll(e.dataTransfer.files); });

// A phone's search box is narrow: an example that fits it.
if (matchMedia("(max-width: 700px)").matches) $("query").placeholder = "Search: a dog on the beach…";

// ---- start ------------------------------------------------------------------------------------------------
if (state.key) signIn(state.key).catch(() => { sessionStorage.removeItem("reverie-key"); $("signin").hidden = false; });
else $("signin").hidden = false;
