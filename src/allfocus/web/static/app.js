// allfocus web app: plain JavaScript, no build step, no external resources.
// Talks to the JSON API described in docs/web.md.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  const IMAGE_EXT = /\.(jpe?g|png|tiff?)$/i;
  const PREVIEWABLE = /\.(jpe?g|png)$/i;
  const MAX_THUMBS = 12;
  const POLL_MS = 400;

  const STAGES = {
    queued: "Waiting for the previous job to finish…",
    read: "Reading the photos…",
    align: "Aligning the frames…",
    exposure: "Matching brightness…",
    fuse: "Combining the sharpest parts…",
    restore: "Deblurring where no frame was sharp…",
    sharpen: "Sharpening…",
    write: "Writing the result…",
    export: "Preparing the downloads…",
    done: "Done",
  };
  const ALIGN_LABELS = {
    auto: ["Automatic (recommended)", "Detects camera or subject movement and corrects it."],
    none: ["None", "For a tripod or microscope: the frames are already aligned."],
    translation: ["Shift only", "Corrects small sideways movements."],
    similarity: ["Shift, rotate, scale", "Also corrects the size change of focus breathing."],
    affine: ["Affine", "Also corrects shear."],
    homography: ["Perspective", "Corrects a tilted or handheld camera."],
  };

  const state = {
    files: [],          // File objects, in natural order
    methods: null,      // GET /api/methods
    limits: null,       // GET /api/limits
    jobId: null,
    pollTimer: null,
    xhr: null,
    started: 0,
    thumbs: [],         // object URLs to revoke
  };

  // ------------------------------------------------------------------ helpers

  function formatBytes(n) {
    const unit = (size, name) => (n / size).toFixed(n % size === 0 ? 0 : 1) + " " + name;
    if (n >= 1024 * 1024 * 1024) return unit(1024 * 1024 * 1024, "GB");
    if (n >= 1024 * 1024) return unit(1024 * 1024, "MB");
    if (n >= 1024) return Math.round(n / 1024) + " kB";
    return n + " B";
  }

  function showMessage(text, source = "client") {
    const box = $("message");
    box.dataset.source = source;
    box.textContent = text;
    box.hidden = !text;
    if (text) box.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
    return body;
  }

  function kind() {
    return document.querySelector("input[name=kind]:checked").value;
  }

  // ------------------------------------------------------------------- set-up

  async function init() {
    try {
      [state.methods, state.limits] = await Promise.all([
        getJSON("/api/methods"),
        getJSON("/api/limits"),
      ]);
    } catch (err) {
      showMessage("Cannot reach the allfocus server: " + err.message);
      return;
    }
    const L = state.limits;
    $("limits-text").textContent =
      `JPEG, PNG, TIFF or BMP · up to ${formatBytes(L.max_file_bytes)} per file · ` +
      `up to ${L.max_frames} frames`;
    $("keep").textContent = String(L.keep_minutes);
    $("version").textContent = L.version || "";

    const align = $("align");
    for (const name of state.methods.align.choices) {
      const option = new Option((ALIGN_LABELS[name] || [name])[0], name);
      option.selected = name === state.methods.align.default;
      align.add(option);
    }
    const restore = state.methods.restore;
    if (restore) {
      const select = $("restore-method");
      for (const m of restore.choices) {
        const label = m.name + (m.name === restore.default ? " (default)" : "") +
          (m.available ? "" : " – not installed");
        const option = new Option(label, m.name);
        option.title = m.description;
        option.disabled = !m.available;
        option.selected = m.name === restore.default;
        select.add(option);
      }
    }
    if (!state.methods.sharpen) {
      const radio = document.querySelector("input[name=kind][value=sharpen]");
      radio.disabled = true;
      $("kind-sharpen-label").classList.add("disabled");
      $("sharpen-note").textContent = "not available in this version of allfocus";
    }
    fillMethods();
    updateStart();
  }

  function fillMethods() {
    const group = state.methods[kind()];
    const select = $("method");
    select.replaceChildren();
    for (const m of group ? group.methods : []) {
      const option = new Option(m.name + (m.name === group.default ? " (default)" : ""), m.name);
      option.title = m.description;
      option.selected = m.name === group.default;
      select.add(option);
    }
    describeMethod();
    $("align-field").hidden = kind() !== "fuse";
    $("restore-field").hidden = kind() !== "fuse" || !state.methods.restore;
  }

  function describeMethod() {
    const group = state.methods[kind()];
    const found = group && group.methods.find((m) => m.name === $("method").value);
    $("method-hint").textContent = found ? found.description : "";
    const alignInfo = ALIGN_LABELS[$("align").value];
    $("align-hint").textContent = alignInfo ? alignInfo[1] : "";
  }

  // -------------------------------------------------------------------- files

  function setFiles(list) {
    state.files = Array.from(list).sort((a, b) => collator.compare(a.name, b.name));
    if (state.methods) {
      const wanted = state.files.length === 1 && state.methods.sharpen ? "sharpen" : "fuse";
      if (state.files.length && wanted !== kind()) {
        document.querySelector(`input[name=kind][value=${wanted}]`).checked = true;
        fillMethods();
      }
    }
    showMessage("");
    renderFiles();
    updateStart();
  }

  function renderFiles() {
    for (const url of state.thumbs) URL.revokeObjectURL(url);
    state.thumbs = [];
    const list = $("file-list");
    list.replaceChildren();
    const limit = state.limits ? state.limits.max_file_bytes : Infinity;
    let total = 0;
    state.files.forEach((file, i) => {
      total += file.size;
      const item = document.createElement("li");
      if (file.size > limit) item.classList.add("bad");
      if (i < MAX_THUMBS && PREVIEWABLE.test(file.name)) {
        const img = document.createElement("img");
        const url = URL.createObjectURL(file);
        state.thumbs.push(url);
        img.src = url;
        img.alt = "";
        img.loading = "lazy";
        item.append(img);
      } else {
        const blank = document.createElement("span");
        blank.className = "noprev";
        item.append(blank);
      }
      const name = document.createElement("span");
      name.className = "fname";
      name.textContent = file.name;
      name.title = file.name;
      const size = document.createElement("span");
      size.className = "fsize";
      size.textContent = formatBytes(file.size);
      item.append(name, size);
      list.append(item);
    });
    const n = state.files.length;
    $("file-summary").hidden = n === 0;
    $("file-count").textContent =
      `${n} ${n === 1 ? "photo" : "photos"} · ${formatBytes(total)}` +
      (n > 1 ? " · in this order" : "");
  }

  function problems() {
    const L = state.limits;
    const n = state.files.length;
    if (!L || n === 0) return "";
    const big = state.files.filter((f) => f.size > L.max_file_bytes).map((f) => f.name);
    if (big.length) {
      return `Too large (more than ${formatBytes(L.max_file_bytes)} per file): ${big.join(", ")}`;
    }
    if (n > L.max_frames) return `Too many photos: ${n}; at most ${L.max_frames} are accepted.`;
    if (kind() === "sharpen" && n !== 1) {
      return "Sharpening takes exactly one photo; choose “All-in-focus image” for a stack.";
    }
    const isTiff = n === 1 && /\.tiff?$/i.test(state.files[0].name);
    if (kind() === "fuse" && n === 1 && !isTiff) {
      return "A focus stack needs at least 2 photos (or one multi-page TIFF).";
    }
    return "";
  }

  function updateStart() {
    const issue = problems();
    const button = $("start");
    button.disabled = !state.files.length || !!issue || !state.methods;
    button.textContent = kind() === "sharpen" ? "Sharpen photo" : "Make all-in-focus image";
    if (issue) showMessage(issue);
    else if ($("message").dataset.source === "client") showMessage("");
  }

  async function entriesToFiles(entries) {
    // Folders dropped from the file manager: collect their image files (one level deep).
    const files = [];
    const readAll = (reader) => new Promise((resolve, reject) => {
      const all = [];
      const next = () => reader.readEntries((batch) => {
        if (!batch.length) resolve(all);
        else { all.push(...batch); next(); }
      }, reject);
      next();
    });
    const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
    for (const entry of entries) {
      if (!entry) continue;
      if (entry.isFile) {
        files.push(await fileOf(entry));
      } else if (entry.isDirectory) {
        for (const child of await readAll(entry.createReader())) {
          if (child.isFile && IMAGE_EXT.test(child.name)) files.push(await fileOf(child));
        }
      }
    }
    return files;
  }

  // ---------------------------------------------------------------- job flow

  function setPhase(phase) {
    $("step-input").hidden = phase !== "input";
    $("step-options").hidden = phase !== "input";
    $("step-progress").hidden = phase !== "progress";
    $("step-result").hidden = phase !== "result";
  }

  function setProgress(fraction, text) {
    const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    $("progress-bar").style.width = pct + "%";
    $("progress").setAttribute("aria-valuenow", String(pct));
    if (text !== undefined) $("progress-text").textContent = text;
  }

  function start() {
    const issue = problems();
    if (issue) { showMessage(issue); return; }
    showMessage("");
    const form = new FormData();
    for (const file of state.files) form.append("files", file, file.name);
    form.append("kind", kind());
    form.append("method", $("method").value);
    if (kind() === "fuse") form.append("align", $("align").value);
    if (kind() === "fuse" && $("restore").checked) {
      form.append("restore", $("restore-method").value);
    }

    setPhase("progress");
    setProgress(0, "Uploading…");
    state.started = performance.now();
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    xhr.open("POST", "/api/jobs");
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) {
        const f = event.loaded / event.total;
        setProgress(f * 0.3, `Uploading… ${Math.round(f * 100)}% of ${formatBytes(event.total)}`);
      }
    };
    xhr.onload = () => {
      state.xhr = null;
      const body = xhr.response || {};
      if (xhr.status === 202 && body.id) {
        state.jobId = body.id;
        setProgress(0.3, STAGES.queued);
        poll();
      } else {
        failed(body.detail || `The server answered ${xhr.status}.`);
      }
    };
    xhr.onerror = () => {
      state.xhr = null;
      failed("The upload failed: the server closed the connection (is it still running?).");
    };
    xhr.onabort = () => { state.xhr = null; };
    xhr.send(form);
  }

  async function poll() {
    const id = state.jobId;
    if (!id) return;
    let job;
    try {
      job = await getJSON(`/api/jobs/${id}`);
    } catch (err) {
      failed(err.message);
      return;
    }
    if (id !== state.jobId) return;  // cancelled meanwhile
    const seconds = ((performance.now() - state.started) / 1000).toFixed(0);
    if (job.state === "done") {
      setProgress(1, STAGES.done);
      showResult(job);
    } else if (job.state === "failed") {
      failed(job.error || "The job failed.");
    } else {
      const label = STAGES[job.stage] || job.stage;
      setProgress(0.3 + 0.7 * job.progress, `${label} (${seconds} s)`);
      state.pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  function failed(text) {
    state.jobId = null;
    setPhase("input");
    showMessage(text, "server");
  }

  function cancel() {
    if (state.xhr) state.xhr.abort();
    clearTimeout(state.pollTimer);
    const id = state.jobId;
    state.jobId = null;
    if (id) fetch(`/api/jobs/${id}`, { method: "DELETE" }).catch(() => {});
    setPhase("input");
  }

  function showResult(job) {
    const base = `/api/jobs/${job.id}`;
    const info = job.info || {};
    const fused = job.kind === "fuse";
    $("h-result").lastChild.textContent = fused ? " All-in-focus result" : " Sharpened photo";
    $("dl-png").href = `${base}/result?format=png`;
    $("dl-tiff").href = `${base}/result?format=tiff`;
    $("dl-jpeg").href = `${base}/result?format=jpeg`;
    $("dl-depth-png").href = `${base}/depth?format=png`;
    $("dl-depth-tiff").href = `${base}/depth?format=tiff`;
    $("depth-downloads").hidden = !info.depth;
    $("tab-depth").hidden = !info.depth;
    $("tab-depth").textContent = fused ? "Depth map" : "Blur map";
    $("dl-depth-png").textContent = fused ? "Depth map PNG" : "Blur map PNG";
    $("dl-depth-tiff").firstChild.textContent = fused ? "Depth map TIFF " : "Blur map TIFF ";
    $("dl-depth-tiff").querySelector("small").textContent = fused ? "frame index" : "radius in pixels";

    const frames = info.frames || [];
    const parts = [
      fused ? `Fused ${frames.length} frames with ${job.method}` : `Sharpened with ${job.method}`,
    ];
    if (fused) parts.push(`alignment: ${info.align_model}`);
    if (fused && info.how && info.how !== "in memory") parts.push(info.how);
    if (fused && info.restore) parts.push(`deblurred (${info.restore})`);
    parts.push(`${info.width} × ${info.height} px`, `${info.seconds} s`);
    $("result-info").textContent = parts.join(" · ");
    const dropped = Object.entries(info.dropped || {});
    $("result-dropped").hidden = !dropped.length;
    $("result-dropped").textContent = dropped.length
      ? "Left out (could not be aligned): " + dropped.map(([n, why]) => `${n} (${why})`).join("; ")
      : "";
    $("expiry").textContent =
      `The result stays available for ${state.limits.keep_minutes} minutes; download what you need.`;

    setPhase("result");
    viewer.load(`${base}/preview/before`, `${base}/preview/after`,
                info.depth ? `${base}/preview/depth` : null);
    selectTab("compare");
  }

  function again() {
    const id = state.jobId;
    state.jobId = null;
    if (id) fetch(`/api/jobs/${id}`, { method: "DELETE" }).catch(() => {});
    setFiles([]);
    $("file-input").value = "";
    setPhase("input");
  }

  // ------------------------------------------------------------------- viewer

  const viewer = (() => {
    const box = $("viewer");
    const stage = $("stage");
    const before = $("img-before");
    const after = $("img-after");
    const depth = $("img-depth");
    const divider = $("divider");
    const v = { w: 0, h: 0, scale: 1, tx: 0, ty: 0, split: 0.5, fit: 1, mode: "compare" };

    function clampScale(s) {
      return Math.min(32, Math.max(Math.min(v.fit, 1) * 0.5, s));
    }

    function render() {
      const vw = box.clientWidth;
      stage.style.width = v.w + "px";
      stage.style.height = v.h + "px";
      stage.style.transform = `translate(${v.tx}px, ${v.ty}px) scale(${v.scale})`;
      stage.classList.toggle("pixelated", v.scale >= 2);
      const x = v.split * vw;
      divider.style.left = x + "px";
      const cut = Math.min(v.w, Math.max(0, (x - v.tx) / v.scale));
      before.style.clipPath = `inset(0 ${v.w - cut}px 0 0)`;
      $("zoom-level").textContent = Math.round(v.scale * 100) + "%";
      $("split").value = String(Math.round(v.split * 100));
    }

    function fit() {
      if (!v.w) return;
      const vw = box.clientWidth;
      const vh = Math.max(240, Math.min(window.innerHeight * 0.7, vw * v.h / v.w));
      box.style.height = Math.round(vh) + "px";
      v.fit = Math.min(vw / v.w, vh / v.h);
      v.scale = v.fit;
      v.tx = (vw - v.w * v.scale) / 2;
      v.ty = (vh - v.h * v.scale) / 2;
      render();
    }

    function zoomAt(factor, px, py) {
      const s = clampScale(v.scale * factor);
      v.tx = px - (px - v.tx) * s / v.scale;
      v.ty = py - (py - v.ty) * s / v.scale;
      v.scale = s;
      render();
    }

    function zoomCentre(factor) {
      zoomAt(factor, box.clientWidth / 2, box.clientHeight / 2);
    }

    function actual() {
      zoomCentre(1 / v.scale);
    }

    function load(beforeUrl, afterUrl, depthUrl) {
      v.split = 0.5;
      after.onload = () => {
        v.w = after.naturalWidth;
        v.h = after.naturalHeight;
        fit();
      };
      before.src = beforeUrl;
      after.src = afterUrl;
      if (depthUrl) depth.src = depthUrl;
      else depth.removeAttribute("src");
    }

    function setMode(mode) {
      v.mode = mode;
      const compare = mode === "compare";
      before.hidden = after.hidden = !compare;
      depth.hidden = compare;
      divider.hidden = !compare;
      $("tag-before").hidden = $("tag-after").hidden = !compare;
      $("split-row").hidden = !compare;
      $("depth-legend").hidden = compare || kind() !== "fuse";
      render();
    }

    // Dragging: the divider moves the split, anywhere else pans.
    let drag = null;
    box.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      const onDivider = divider.contains(event.target) && v.mode === "compare";
      drag = { id: event.pointerId, x: event.clientX, y: event.clientY, split: onDivider };
      box.setPointerCapture(event.pointerId);
      if (!onDivider) box.classList.add("panning");
    });
    box.addEventListener("pointermove", (event) => {
      if (!drag || event.pointerId !== drag.id) return;
      if (drag.split) {
        const rect = box.getBoundingClientRect();
        v.split = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
      } else {
        v.tx += event.clientX - drag.x;
        v.ty += event.clientY - drag.y;
        drag.x = event.clientX;
        drag.y = event.clientY;
      }
      render();
    });
    const endDrag = () => { drag = null; box.classList.remove("panning"); };
    box.addEventListener("pointerup", endDrag);
    box.addEventListener("pointercancel", endDrag);
    box.addEventListener("wheel", (event) => {
      event.preventDefault();
      const rect = box.getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });
    box.addEventListener("dblclick", (event) => {
      const rect = box.getBoundingClientRect();
      if (Math.abs(v.scale - v.fit) < 1e-3) {  // from "fit" to actual pixels (or 2x)
        const target = v.scale < 1 ? 1 : v.scale * 2;
        zoomAt(target / v.scale, event.clientX - rect.left, event.clientY - rect.top);
      } else {
        fit();
      }
    });
    box.addEventListener("keydown", (event) => {
      const step = 40;
      const keys = {
        "+": () => zoomCentre(1.25), "=": () => zoomCentre(1.25), "-": () => zoomCentre(0.8),
        "0": fit, "1": actual,
        ArrowLeft: () => { v.tx += step; render(); }, ArrowRight: () => { v.tx -= step; render(); },
        ArrowUp: () => { v.ty += step; render(); }, ArrowDown: () => { v.ty -= step; render(); },
      };
      if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
    });
    window.addEventListener("resize", () => { if (!$("step-result").hidden) fit(); });

    return {
      load, fit, actual, setMode, zoomCentre,
      setSplit(value) { v.split = value; render(); },
    };
  })();

  function selectTab(name) {
    $("tab-compare").setAttribute("aria-selected", String(name === "compare"));
    $("tab-depth").setAttribute("aria-selected", String(name === "depth"));
    viewer.setMode(name);
  }

  // ------------------------------------------------------------------- events

  const drop = $("dropzone");
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add("dragover");
  }));
  ["dragleave", "dragend"].forEach((type) => drop.addEventListener(type, () => {
    drop.classList.remove("dragover");
  }));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("dragover");
    const items = Array.from(event.dataTransfer.items || []);
    const entries = items.map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry());
    if (entries.some((entry) => entry && entry.isDirectory)) {
      setFiles(await entriesToFiles(entries));
    } else {
      setFiles(event.dataTransfer.files);
    }
  });
  // Dropping outside the zone must not make the browser open the photo instead.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  $("file-input").addEventListener("change", (event) => setFiles(event.target.files));
  $("clear-files").addEventListener("click", () => { $("file-input").value = ""; setFiles([]); });
  document.querySelectorAll("input[name=kind]").forEach((radio) => radio.addEventListener(
    "change", () => { fillMethods(); updateStart(); }));
  $("method").addEventListener("change", describeMethod);
  $("align").addEventListener("change", describeMethod);
  $("restore").addEventListener("change", (event) => {
    $("restore-method").disabled = !event.target.checked;
  });
  $("start").addEventListener("click", start);
  $("cancel").addEventListener("click", cancel);
  $("again").addEventListener("click", again);
  $("tab-compare").addEventListener("click", () => selectTab("compare"));
  $("tab-depth").addEventListener("click", () => selectTab("depth"));
  $("zoom-in").addEventListener("click", () => viewer.zoomCentre(1.25));
  $("zoom-out").addEventListener("click", () => viewer.zoomCentre(0.8));
  $("zoom-fit").addEventListener("click", () => viewer.fit());
  $("zoom-1").addEventListener("click", () => viewer.actual());
  $("split").addEventListener("input", (event) => viewer.setSplit(event.target.value / 100));

  init();
})();
