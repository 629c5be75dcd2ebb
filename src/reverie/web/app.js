// Reverie's web app: a thin layer over the public API. The key lives in sessionStorage (this tab only).
const API = "/serve/api/v1";
const $ = (id) => document.getElementById(id);
const LEVELS = JSON.parse(document.querySelector('meta[name="reverie-levels"]').content);  // filtering_level cuts
const state = { key: sessionStorage.getItem("reverie-key"), ns: "default", page: 0, total: Infinity, mode: "browse", loading: false };

class ApiError extends Error {}

// What made a hit ("visual", "labels, ocr"); nothing at all for a hit that nothing matched.
const matchedBy = (item) => (item.matched && item.matched.length ? [item.matched.join(", ")] : []);

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

// ---- sign-in -------------------------------------------------------------------------------
async function signIn(key) {
  state.key = key;
  const data = await api("/list_unique_ids");  // throws on a bad key
  sessionStorage.setItem("reverie-key", key);
  $("signin").hidden = true;
  $("app").hidden = false;
  fillNamespaces(data.unique_ids);
  browse();
}

function fillNamespaces(names) {
  const select = $("namespace");
  const all = [...new Set(["default", ...names, state.ns])];
  select.replaceChildren(...all.map((n) => new Option(n, n, false, n === state.ns)));
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("signin-error").textContent = "";
  try { await signIn($("key").value.trim()); } catch (err) { $("signin-error").textContent = `Could not sign in: ${err.message}`; }
});
$("signout").addEventListener("click", () => { sessionStorage.removeItem("reverie-key"); location.reload(); });
$("namespace").addEventListener("change", (e) => { state.ns = e.target.value; browse(); });

// ---- gallery and search results --------------------------------------------------------------
function lazyImage(src, alt) {
  const img = new Image();
  img.loading = "lazy";
  img.alt = alt;
  img.src = src;
  return img;
}

function clipTile(item) {
  const b = document.createElement("button");
  b.className = "tile clip";
  b.title = `${item.videoName} ${item.startTime}–${item.endTime} s`;
  if (item.keyframe_url) b.append(lazyImage(item.keyframe_url, b.title));
  const s = document.createElement("span");
  s.className = "score";
  s.textContent = [`▶ ${item.startTime}–${item.endTime} s`, item.score.toFixed(2), ...matchedBy(item)].join(" · ");
  b.append(s);
  if (item.score < LEVELS.low) b.classList.add("weak");
  b.addEventListener("click", () => openClip(item));
  return b;
}

function openClip(item) {
  const body = $("detail-body");
  body.innerHTML = `<div class="detail"><div><video controls preload="metadata"></video></div><div><h2></h2><dl></dl></div></div>`;
  body.querySelector("h2").textContent = item.videoName;
  const video = body.querySelector("video");
  if (item.video_url) video.src = `${item.video_url}#t=${item.startTime},${item.endTime}`;  // plays the moment
  const dl = body.querySelector("dl");
  row(dl, "Moment", `${item.startTime}–${item.endTime} s`);
  row(dl, "Matched", (item.matched || []).join(", "));
  row(dl, "Video", item.videoNo);
  if (!$("detail").open) $("detail").showModal();
}

function tile(item) {
  if (item.kind === "clip") return clipTile(item);
  const b = document.createElement("button");
  b.className = "tile";
  b.dataset.id = item.id;
  b.title = item.name;
  if (item.thumbnail_url) {
    b.append(lazyImage(item.thumbnail_url, item.name));
  } else {
    b.innerHTML = `<div class="placeholder"></div>`;
    b.querySelector(".placeholder").textContent = `${item.name} (${item.status === "FAILED" ? "failed" : "indexing…"})`;
  }
  if (item.status && item.status !== "PARSE") b.insertAdjacentHTML("beforeend", `<span class="badge">${item.status}</span>`);
  if (item.score !== undefined) {
    if (item.score < LEVELS.low) b.classList.add("weak");  // below filtering_level "low": shown, but dimmed
    const s = document.createElement("span");
    s.className = "score";
    s.textContent = [item.score.toFixed(2), ...matchedBy(item)].join(" · ");
    b.append(s);
  }
  b.addEventListener("click", () => openDetail(item.id));
  return b;
}

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

function browse() {
  loadPeople();
  state.mode = "browse";
  state.page = 0;
  state.total = Infinity;
  $("grid").replaceChildren();
  $("status").textContent = "";
  loadMore();
}

async function loadMore() {
  if (state.mode !== "browse" || state.loading || state.page * 60 >= state.total) return;
  state.loading = true;
  try {
    const f = filters();
    const data = await api("/img_list_page", { json: { unique_id: state.ns, page: state.page + 1, page_size: 60, tags: f.tags, camera_tag: f.camera_tag, datetime_from: f.datetime_from, datetime_to: f.datetime_to } });
    state.page += 1;
    state.total = data.total_count;
    $("grid").append(...data.item.map(tile));
    const n = data.total_count;
    $("status").textContent = n ? `${n} image${n === 1 ? "" : "s"} in “${state.ns}”` : `No images in “${state.ns}” yet: drop some above.`;
  } catch (err) {
    $("status").textContent = err.message;
  } finally {
    state.loading = false;
  }
}

// infinite scroll: the sentinel under the grid asks for the next page when it comes into view
new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); }).observe($("more"));

function showResults(label, data) {
  state.mode = "search";
  $("grid").replaceChildren(...data.item.map(tile));
  const n = data.total_count;
  $("status").textContent = `${n} hit${n === 1 ? "" : "s"} for ${label}` + (n ? "" : " (try a lower confidence or fewer filters)");
}

$("search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = $("query").value.trim();
  if (!q) return browse();
  const body = { search_param: q, search_type: "ALL", unique_id: state.ns, top_k: 200, page_size: 200, ...filters() };
  if ($("f-level").value) body.filtering_level = $("f-level").value;
  $("status").textContent = `Searching for “${q}”…`;
  try { showResults(`“${q}”`, await api("/search", { json: body })); } catch (err) { $("status").textContent = err.message; }
});

async function searchByExample(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("unique_id", state.ns);
  form.append("top_k", "60");
  try { showResults(`images like ${file.name}`, await api("/search_similar_imgs", { form })); } catch (err) { $("status").textContent = err.message; }
}
$("example").addEventListener("change", (e) => { if (e.target.files[0]) searchByExample(e.target.files[0]); e.target.value = ""; });
$("query").addEventListener("dragover", (e) => e.preventDefault());
$("query").addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) searchByExample(e.dataTransfer.files[0]); });

// ---- people ---------------------------------------------------------------------------------
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
  $("people-strip").replaceChildren(...data.people.map(personCard));
  updateMerge();
}

function personCard(p) {
  const card = Object.assign(document.createElement("div"), { className: "person" });
  card.dataset.id = p.person_id;
  const pick = Object.assign(document.createElement("input"), { type: "checkbox", title: "Select to merge" });
  pick.setAttribute("aria-label", `Select ${p.name || "this person"} to merge`);
  pick.addEventListener("change", updateMerge);
  const face = Object.assign(document.createElement("button"), { type: "button", className: "face", title: `Photos of ${p.name || "this person"}` });
  face.append(lazyImage(p.cover.url, p.name || "unnamed person"));
  face.addEventListener("click", () => showPerson(p));
  const name = Object.assign(document.createElement("input"), { className: "name", value: p.name || "", placeholder: "Add a name" });
  name.setAttribute("aria-label", "Name");
  name.addEventListener("change", async () => {
    try {
      const named = await api("/name_person", { json: { unique_id: state.ns, person_id: p.person_id, name: name.value.trim() } });
      p.name = named.name;
      $("status").textContent = named.name ? `Named ${named.name}: search for the name to find their photos` : "Name cleared";
    } catch (err) { $("status").textContent = err.message; }
  });
  const count = Object.assign(document.createElement("span"), { className: "count", textContent: counts([], p.image_count, p.clip_count) });
  card.append(pick, face, name, count);
  return card;
}

// "3 photos · 2 clips", of a list of hits or from a person's counts
function counts(items, photos = items.filter((i) => i.kind !== "clip").length, clips = items.length - photos) {
  const said = [[photos, "photo"], [clips, "clip"]].filter(([n]) => n).map(([n, what]) => `${n} ${what}${n === 1 ? "" : "s"}`);
  return said.join(" · ") || "no photos";
}

const picked = () => [...document.querySelectorAll(".person input[type=checkbox]:checked")].map((c) => c.closest(".person").dataset.id);

function updateMerge() {
  const n = picked().length;
  $("merge").hidden = n < 2;
  $("merge").textContent = `Merge ${n} people`;
}

// The first one picked, in strip order (most photos first), keeps its id and its name.
$("merge").addEventListener("click", async () => {
  const ids = picked();
  try {
    await api("/merge_people", { json: { unique_id: state.ns, person_ids: ids, into: ids[0] } });
    $("status").textContent = `Merged ${ids.length} people into one`;
    loadPeople();
  } catch (err) { $("status").textContent = err.message; }
});

async function showPerson(p) {
  const body = { search_param: p.name || "a person", search_type: "ALL", unique_id: state.ns, top_k: 1000, page_size: 200, person_ids: [p.person_id] };
  try {
    const data = await api("/search", { json: body });
    state.mode = "search";
    $("grid").replaceChildren(...data.item.map(tile));
    $("status").textContent = `${counts(data.item)} of ${p.name || "this person"}`;
  } catch (err) { $("status").textContent = err.message; }
}

// ---- detail ----------------------------------------------------------------------------------
function row(dl, name, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt"); dt.textContent = name;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = value;
  dl.append(dt, dd);
}

// Each detected object: a chip, and its box outlined on the photo (in percent, so it follows the image's size).
function showObjects(body, m) {
  const objects = m.objects || [];
  const list = body.querySelector(".objects");
  if (!objects.length) { list.textContent = "(none found)"; return; }
  for (const o of objects) {
    const text = `${o.label}${o.colour ? " · " + o.colour : ""} ${(o.score * 100).toFixed(0)}%`;
    list.append(Object.assign(document.createElement("span"), { className: "chip", textContent: text }));
    const box = Object.assign(document.createElement("div"), { className: "box", title: text });
    Object.assign(box.style, { left: `${(100 * o.box.x) / m.width}%`, top: `${(100 * o.box.y) / m.height}%`,
      width: `${(100 * o.box.w) / m.width}%`, height: `${(100 * o.box.h) / m.height}%` });
    box.append(Object.assign(document.createElement("span"), { textContent: o.label }));
    body.querySelector(".frame").append(box);
  }
}

// Each face: outlined on the photo with its person's name, and a chip to take a wrongly grouped one out.
function showFaces(body, m) {
  const faces = m.faces || [];
  const list = body.querySelector(".faces");
  if (!faces.length) { list.textContent = "(none found)"; return; }
  for (const f of faces) {
    const who = f.name || (f.person_id ? "unnamed" : "taken out");
    const box = Object.assign(document.createElement("div"), { className: "box face", title: who });
    Object.assign(box.style, { left: `${(100 * f.box.x) / m.width}%`, top: `${(100 * f.box.y) / m.height}%`,
      width: `${(100 * f.box.w) / m.width}%`, height: `${(100 * f.box.h) / m.height}%` });
    box.append(Object.assign(document.createElement("span"), { textContent: who }));
    body.querySelector(".frame").append(box);
    const chip = Object.assign(document.createElement("span"), { className: "chip", textContent: who });
    if (f.person_id) {
      const out = Object.assign(document.createElement("button"), { type: "button", className: "not-them", textContent: "not them" });
      out.addEventListener("click", async () => {
        try {
          await api("/remove_face", { json: { unique_id: m.unique_id, face_id: f.face_id } });
          openDetail(m.id);
          loadPeople();
        } catch (err) { $("status").textContent = err.message; }
      });
      chip.append(" ", out);
    }
    list.append(chip);
  }
}

async function openDetail(id) {
  const m = await api(`/get_img_metadata?id=${id}`);
  const body = $("detail-body");
  body.innerHTML = `<div class="detail"><div class="frame"><img alt=""></div><div><h2></h2><dl></dl>
    <h3>People</h3><div class="faces"></div>
    <h3>Objects</h3><div class="objects"></div>
    <h3>Labels</h3><div class="labels"></div><h3>Text in the image</h3><pre class="ocr"></pre>
    <p><a class="download">Download original</a> · <button class="danger delete" type="button">Delete</button></p></div></div>`;
  const img = body.querySelector("img");
  // Boxes are placed in percent of the frame, which has no size until the photo arrives.
  img.addEventListener("load", () => body.querySelector(".frame").classList.add("loaded"), { once: true });
  img.src = m.preview ? m.preview.url : m.img_url;
  body.querySelector("h2").textContent = m.file_name;
  const dl = body.querySelector("dl");
  row(dl, "Status", m.status + (m.cause ? ` — ${m.cause}` : ""));
  row(dl, "Taken", m.datetime_taken ? new Date(m.datetime_taken).toISOString().replace("T", " ").slice(0, 19) + " (UTC)" : "");
  row(dl, "Camera", m.camera_model);
  row(dl, "Size", m.width ? `${m.width} × ${m.height} · ${m.format} · ${(m.size / 1024).toFixed(0)} KB` : `${m.format} · ${(m.size / 1024).toFixed(0)} KB`);
  if (m.latitude !== undefined) {
    const a = document.createElement("a");
    a.href = `https://www.openstreetmap.org/?mlat=${m.latitude}&mlon=${m.longitude}#map=13/${m.latitude}/${m.longitude}`;
    a.target = "_blank"; a.rel = "noopener";
    a.textContent = `${m.place ? m.place + " · " : ""}${m.latitude.toFixed(5)}, ${m.longitude.toFixed(5)}`;
    row(dl, "Place", a);
  }
  row(dl, "Colours", (m.colours || []).join(", "));
  row(dl, "Tags", (m.tags || []).join(", "));
  row(dl, "Namespace", m.unique_id);
  row(dl, "Id", m.id);
  showObjects(body, m);
  showFaces(body, m);
  body.querySelector(".labels").append(...m.labels.map((l) => Object.assign(document.createElement("span"), { className: "chip", textContent: `${l.name} ${(l.score * 100).toFixed(0)}%` })));
  body.querySelector(".ocr").textContent = m.ocr_text || "(none found)";
  body.querySelector(".download").href = m.img_url;
  body.querySelector(".delete").addEventListener("click", async () => {
    if (!confirm(`Delete ${m.file_name}? This removes the original and everything derived from it.`)) return;
    await api(`/delete_imgs?unique_id=${encodeURIComponent(m.unique_id)}`, { json: [m.id] });
    $("detail").close();
    document.querySelector(`.tile[data-id="${m.id}"]`)?.remove();
    $("status").textContent = `Deleted ${m.file_name}`;
  });
  if (!$("detail").open) $("detail").showModal();
}

// ---- upload ----------------------------------------------------------------------------------
function uploadOne(file) {
  const video = file.type.startsWith("video/");
  const li = document.createElement("li");
  li.innerHTML = `<span class="name"></span><progress max="100" value="0"></progress><span class="state">uploading</span>`;
  li.querySelector(".name").textContent = file.name;
  $("uploads").append(li);
  const setState = (text) => { li.querySelector(".state").textContent = text; };
  const form = new FormData();
  form.append(video ? "file" : "files", file, file.name);
  form.append("unique_id", state.ns);
  const xhr = new XMLHttpRequest();  // fetch has no upload progress
  xhr.open("POST", API + (video ? "/upload" : "/upload_img"));
  xhr.setRequestHeader("Authorization", state.key);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) li.querySelector("progress").value = (100 * e.loaded) / e.total; };
  xhr.onload = async () => {
    const body = parse(xhr.responseText);
    if (body.code !== "0000") return setState(`rejected: ${body.msg}`);
    li.querySelector("progress").value = 100;
    const status = video ? `/get_metadata?video_no=${body.data.videoNo}` : `/get_img_metadata?id=${body.data[0].id}`;
    setState("indexing…");
    for (let i = 0; i < 600; i++) {  // up to 5 minutes
      const m = await api(status);
      if (m.status === "PARSE") { setState("indexed"); if (state.mode === "browse") browse(); return; }
      if (m.status === "FAILED") return setState(`failed: ${m.cause}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    setState("still indexing: check back later");
  };
  xhr.onerror = () => setState("network error");
  xhr.send(form);
}

function uploadAll(files) { [...files].forEach(uploadOne); }
$("files").addEventListener("change", (e) => { uploadAll(e.target.files); e.target.value = ""; });
const zone = $("dropzone");
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); uploadAll(e.dataTransfer.files); });

// ---- start -----------------------------------------------------------------------------------
if (state.key) signIn(state.key).catch(() => { sessionStorage.removeItem("reverie-key"); $("signin").hidden = false; });
else $("signin").hidden = false;
