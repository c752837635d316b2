// sonomtl serve: the page at /. Plain JavaScript, no build step, nothing from the network
// but this server. Drop a file -> POST /v1/predict; stream a video -> /v1/stream, frame by
// frame from a <video> drawn to a canvas (grey bytes), as a scanner's video output arrives.
"use strict";

const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
                 "#f032e6", "#9a6324", "#469990", "#808000", "#000075", "#a9a9a9"];
const MAX_STREAM_WIDTH_PX = 640;   // frames wider than this are scaled down before sending
const MAX_IN_FLIGHT = 2;           // frames sent but not answered; newer ones are dropped

const $ = (id) => document.getElementById(id);
const state = { cards: {}, records: [], best: {}, snapshots: {}, socket: null,
                sent: [], streaming: false, ended: false };

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadModels() {
  const response = await fetch("/v1/models", { headers: authHeaders() });
  const body = await response.json();
  if (!response.ok) { setStatus("models: " + body.error, true); return; }
  $("model").innerHTML = "";
  for (const card of body.models) {
    state.cards[card.name] = card;
    const option = document.createElement("option");
    option.value = card.name;
    option.textContent = `${card.name} (${card.kind}, ${card.input_hw.join("x")})`;
    $("model").append(option);
  }
  setStatus(`${body.models.length} model(s) ready`);
}

function currentCard() { return state.cards[$("model").value] || null; }

function reset() {
  state.records = []; state.best = {}; state.snapshots = {};
  $("best").innerHTML = ""; $("readout").textContent = "";
  drawTimeline();
  $("download").hidden = true;
}

// ---- drawing ---------------------------------------------------------------------------

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("cannot decode image"));
    image.src = url;
  });
}

async function drawFrame(source, record) {
  // source: an ImageBitmap/Image/canvas of the frame, or null (then only the overlay)
  const canvas = $("frame");
  const width = source ? source.width : 480, height = source ? source.height : 360;
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d");
  context.fillStyle = "#000"; context.fillRect(0, 0, width, height);
  if (source) context.drawImage(source, 0, 0);
  if (record && record.attention_png) await drawAttention(context, record.attention_png, width, height);
  if (record) drawAnnotations(context, record);
  showReadout(record);
}

async function drawAttention(context, url, width, height) {
  const map = await loadImage(url);
  const scratch = document.createElement("canvas");
  scratch.width = map.width; scratch.height = map.height;
  const sc = scratch.getContext("2d");
  sc.drawImage(map, 0, 0);
  const pixels = sc.getImageData(0, 0, map.width, map.height);
  for (let i = 0; i < pixels.data.length; i += 4) {  // grey -> red-yellow, alpha = value
    const value = pixels.data[i];
    pixels.data[i] = 255; pixels.data[i + 1] = value; pixels.data[i + 2] = 0;
    pixels.data[i + 3] = Math.round(value * 0.6);
  }
  sc.putImageData(pixels, 0, 0);
  context.drawImage(scratch, 0, 0, width, height);
}

function drawAnnotations(context, record) {
  if (record.attention_peak_xy) {
    const [x, y] = record.attention_peak_xy;
    context.strokeStyle = "#00ffff"; context.lineWidth = 2;
    context.beginPath(); context.arc(x, y, 6, 0, 2 * Math.PI); context.stroke();
  }
  const landmarks = record.landmarks || {};
  const card = currentCard();
  context.strokeStyle = "#ffff00"; context.lineWidth = 2;
  for (const points of Object.values((card && card.measurements) || {})) {
    for (let i = 0; i + 1 < points.length; i += 2) {  // calipers: pairs of landmarks
      const a = landmarks[points[i]], b = landmarks[points[i + 1]];
      if (!a || !b) continue;
      context.beginPath(); context.moveTo(a[0], a[1]); context.lineTo(b[0], b[1]); context.stroke();
    }
  }
  context.fillStyle = "#00ff00";
  for (const point of Object.values(landmarks)) {
    if (!point) continue;
    context.beginPath(); context.arc(point[0], point[1], 3, 0, 2 * Math.PI); context.fill();
  }
}

function showReadout(record) {
  if (!record) { $("readout").textContent = ""; return; }
  const lines = [`frame ${record.frame}: ${record.label ?? "-"}`];
  for (const [name, p] of Object.entries(record.smoothed_probabilities || record.probabilities)) {
    lines.push(`  ${name}: ${p.toFixed(3)}`);
  }
  for (const [name, mm] of Object.entries(record.measurements_mm || {})) {
    lines.push(`  ${name}: ${mm === null ? "-" : mm.toFixed(1) + " mm"}`);
  }
  $("readout").textContent = lines.join("\n");
}

function drawTimeline() {
  const canvas = $("timeline"), context = canvas.getContext("2d");
  const records = state.records, w = canvas.width, h = canvas.height;
  context.clearRect(0, 0, w, h);
  canvas.dataset.points = String(records.length);
  if (!records.length) { $("legend").innerHTML = ""; return; }
  const names = Object.keys(records[0].probabilities);
  const step = records.length > 1 ? (w - 10) / (records.length - 1) : 0;
  $("legend").innerHTML = "";
  names.forEach((name, k) => {
    context.strokeStyle = COLOURS[k % COLOURS.length]; context.lineWidth = 2;
    context.beginPath();
    records.forEach((record, i) => {
      const p = (record.smoothed_probabilities || record.probabilities)[name];
      const x = 5 + i * step, y = h - 5 - p * (h - 10);
      if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    if (records.length === 1) context.arc(5, h - 5 - records[0].probabilities[name] * (h - 10), 2, 0, 7);
    context.stroke();
    const item = document.createElement("span");
    item.innerHTML = `<i style="background:${COLOURS[k % COLOURS.length]}"></i>`;
    item.append(name);
    $("legend").append(item);
  });
}

function showBest(planes, imageOf) {
  $("best").innerHTML = "";
  for (const [plane, best] of Object.entries(planes)) {
    const item = document.createElement("li");
    item.dataset.plane = plane; item.dataset.frame = String(best.frame);
    const url = imageOf(plane, best);
    if (url) { const img = document.createElement("img"); img.src = url; img.alt = plane; item.append(img); }
    const text = [`${plane}: frame ${best.frame}, p = ${best.smoothed_probability.toFixed(3)}`];
    for (const [name, mm] of Object.entries(best.measurements_mm || {})) {
      text.push(`${name} ${mm === null ? "-" : mm.toFixed(1) + " mm"}`);
    }
    const caption = document.createElement("div"); caption.textContent = text.join("; ");
    item.append(caption);
    $("best").append(item);
  }
}

function offerDownload(extra) {
  const lines = state.records.map((record) => JSON.stringify(record)).join("\n") + "\n";
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([lines], { type: "application/x-ndjson" }));
  link.download = extra || "predictions.jsonl";
  link.hidden = false;
}

// ---- one file: POST /v1/predict --------------------------------------------------------

async function predictFile(file) {
  reset();
  setStatus(`predicting ${file.name}…`);
  const form = new FormData();
  form.append("file", file);
  form.append("model", $("model").value);
  if ($("spacing").value.trim()) form.append("spacing_mm", $("spacing").value.trim());
  form.append("measure", $("spacing").value.trim() ? "true" : "false");
  form.append("attention", "true");
  form.append("images", "true");
  const response = await fetch("/v1/predict", { method: "POST", body: form, headers: authHeaders() });
  const body = await response.json();
  if (!response.ok) { setStatus(`${response.status}: ${body.error}`, true); return; }
  state.records = body.predictions;
  let picture = null;
  if (file.type.startsWith("image/")) {
    try { picture = await loadImage(URL.createObjectURL(file)); } catch (error) { picture = null; }
  }
  const decoded = body.predictions[0] && body.predictions[0].image_png;
  if (!picture && decoded) {  // TIFF, DICOM, a video: the frame as the server decoded it
    try { picture = await loadImage(decoded); } catch (error) { picture = null; }
  }
  await drawFrame(picture, body.predictions[0]);
  drawTimeline();
  showBest((body.best_frames || {}).planes || {}, (plane, best) => best.image_png || null);
  offerDownload(file.name.replace(/[^A-Za-z0-9_.-]/g, "_") + ".predictions.jsonl");
  document.body.dataset.predicted = String(body.frames);
  setStatus(`${body.frames} frame(s) of ${file.name} predicted`);
}

// ---- a video as a live stream: /v1/stream ----------------------------------------------

function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams({ model: $("model").value, attention: "1",
                                       measure: $("spacing").value.trim() ? "1" : "0" });
  if ($("token").value.trim()) params.set("token", $("token").value.trim());
  return `${scheme}//${location.host}/v1/stream?${params}`;
}

function grabFrame(video) {
  const scale = Math.min(1, MAX_STREAM_WIDTH_PX / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(video, 0, 0, canvas.width, canvas.height);
  const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const grey = new Uint8Array(canvas.width * canvas.height);
  for (let i = 0, j = 0; j < grey.length; i += 4, j += 1) {
    grey[j] = Math.round(0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2]);
  }
  return { canvas, grey };
}

function sendFrame(video) {
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  if (state.sent.length >= MAX_IN_FLIGHT) return;  // a live feed does not wait: drop
  const { canvas, grey } = grabFrame(video);
  const spacing = $("spacing").value.trim();
  socket.send(JSON.stringify({ format: "raw", shape: [canvas.height, canvas.width],
                               spacing_mm: spacing ? spacing : null,
                               timestamp_ms: video.currentTime * 1000 }));
  socket.send(grey.buffer);
  state.sent.push(canvas);
}

async function onStreamMessage(event) {
  const canvas = state.sent.shift();
  const reply = JSON.parse(event.data);
  if (reply.error) {
    setStatus(`frame refused (${reply.status}): ${reply.error}`, true);
  } else {
    state.records.push(reply);
    for (const [plane, best] of Object.entries(reply.best_frames)) {
      if (best.frame === reply.frame && canvas) state.snapshots[plane] = canvas.toDataURL("image/png");
    }
    await drawFrame(canvas, reply);
    drawTimeline();
    showBest(reply.best_frames, (plane) => state.snapshots[plane] || null);
    document.body.dataset.streamed = String(state.records.length);
  }
  finishIfDone();
}

function finishIfDone() {
  if (state.ended && state.sent.length === 0 && state.streaming) {
    state.streaming = false;
    if (state.socket) state.socket.close();
    offerDownload("stream.predictions.jsonl");
    $("stream-stop").disabled = true; $("stream-start").disabled = false;
    setStatus(`stream done: ${state.records.length} frame(s) answered`);
    document.body.dataset.streamDone = "1";
  }
}

function startStream() {
  const video = $("video");
  reset();
  state.sent = []; state.ended = false; state.streaming = true;
  delete document.body.dataset.streamDone;
  const socket = new WebSocket(streamUrl());
  socket.binaryType = "arraybuffer";
  state.socket = socket;
  socket.onmessage = onStreamMessage;
  socket.onclose = (event) => {
    if (event.code >= 4000) setStatus(`stream refused (${event.code})`, true);
  };
  socket.onopen = () => {
    setStatus("streaming…");
    const tick = () => {
      if (!state.streaming || video.ended) return;
      sendFrame(video);
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(tick);
      else setTimeout(tick, 33);
    };
    video.onended = () => { state.ended = true; finishIfDone(); };
    video.currentTime = 0;
    video.play().then(tick).catch((error) => setStatus("cannot play the video: " + error, true));
  };
  $("stream-start").disabled = true; $("stream-stop").disabled = false;
}

function stopStream() {
  $("video").pause();
  state.ended = true;
  finishIfDone();
}

// ---- wiring ------------------------------------------------------------------------------

function init() {
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault(); drop.classList.remove("over");
    if (event.dataTransfer.files.length) predictFile(event.dataTransfer.files[0]);
  });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    $("file").value = "";  // so that choosing the same file again (another model) predicts again
    if (file) predictFile(file);
  });
  $("video-file").addEventListener("change", () => {
    const file = $("video-file").files[0];
    if (!file) return;
    $("video").src = URL.createObjectURL(file);
    $("stream-start").disabled = false;
    setStatus(`${file.name} ready to stream`);
  });
  $("stream-start").addEventListener("click", startStream);
  $("stream-stop").addEventListener("click", stopStream);
  $("token").addEventListener("change", loadModels);
  loadModels().catch((error) => setStatus("cannot list the models: " + error, true));
}

init();
