// The drawing pad (a plain 2-D canvas, hand-built rather than Gradio's Sketchpad: see the README's
// demo section for the side-by-side measurement). It opens with the brush, so the first stroke
// draws; strokes come out MNIST-wide after the 28x28 downscaling at size 1. Tools: brush, eraser
// (ink and paint), a region to erase painted on a second canvas, undo, clear, a brush size, the
// test digits and uploads. Both canvases are exported synchronously (window.aelabPad.export()) when
// Compare is clicked, so a run always uses what is on screen at that moment.
//
// A drawing is sent as ink on a transparent ground: the server never inverts it. Only a picture
// (an upload or a test digit, drawn on white) is sent opaque, and only that may be white on black.
(() => {
  const root = element.querySelector(".pad");
  const ink = root.querySelector("canvas.ink");
  const paint = root.querySelector("canvas.region");
  const status = root.querySelector(".pad-status");
  const undoButton = root.querySelector("[data-act=undo]");
  const sizeInput = root.querySelector("label.size input");
  const SIZE = ink.width;                 // internal pixels (CSS scales the element)
  const EXPORT = 140;                     // sent size: 5x MNIST, a few kB of PNG
  const MIN_SIDE = 16, MAX_SIDE = 2048;   // as demo/inputs.py
  const BRUSH = Math.round(SIZE * 0.085); // a digit drawn ~220 px tall gets ~2.5-px strokes at 28x28
  const MAX_UNDO = 40;                    // snapshots of both canvases, ~0.6 MB each
  let mode = "draw";
  let picture = false;                    // the ink canvas holds an upload or a test digit (opaque)
  const history = [];
  // The examples come as 28x28 grey levels (0 = ink) and are painted synchronously: an image
  // element would decode asynchronously, and a quick Compare would export the previous drawing.
  const examples = JSON.parse(root.dataset.examples).map((grey) => {
    const c = document.createElement("canvas");
    c.width = c.height = 28;
    const x = c.getContext("2d"), px = x.createImageData(28, 28);
    grey.forEach((v, i) => { px.data.set([v, v, v, 255], 4 * i); });
    x.putImageData(px, 0, 0);
    return c;
  });

  function say(text, bad) { status.textContent = text; status.classList.toggle("bad", !!bad); }
  function ctx(c) { const x = c.getContext("2d"); x.lineCap = "round"; x.lineJoin = "round"; return x; }
  function snapshot() {   // before every change, so Undo can step back over it
    history.push({ ink: ctx(ink).getImageData(0, 0, SIZE, SIZE), paint: ctx(paint).getImageData(0, 0, SIZE, SIZE), picture });
    if (history.length > MAX_UNDO) { history.shift(); }
    undoButton.disabled = false;
  }
  function undo() {
    const last = history.pop();
    if (!last) { return; }
    ctx(ink).putImageData(last.ink, 0, 0);
    ctx(paint).putImageData(last.paint, 0, 0);
    picture = last.picture;
    undoButton.disabled = history.length === 0;
    say(history.length ? "Undone." : "Undone: back to the start.");
  }
  function clear() {
    ctx(ink).clearRect(0, 0, SIZE, SIZE);
    ctx(paint).clearRect(0, 0, SIZE, SIZE);
    picture = false;
  }
  function setMode(m) {
    mode = m;
    root.querySelectorAll("[data-mode]").forEach((b) => b.classList.toggle("on", b.dataset.mode === m));
    root.querySelector(".stack").classList.toggle("erasing", m === "erase");
    say({ draw: "Draw a digit with the brush.", erase: "Erase ink or paint with the eraser.",
          region: "Paint the part of your digit to erase (noise: Painted region)." }[m]);
  }
  // Painting a region only means something with the "Painted region" noise: choose it for the
  // user (the radio is Gradio's; clicking it runs its change handlers as a user's click would).
  function paintedRegionNoise() {
    const radio = document.querySelector('#noise-type input[value="Painted region"]');
    if (radio && !radio.checked) {
      radio.click();
      say("Noise switched to Painted region: the painted pixels will be erased.");
    }
  }
  function point(e) {
    const r = ink.getBoundingClientRect();
    return [(e.clientX - r.left) * SIZE / r.width, (e.clientY - r.top) * SIZE / r.height];
  }
  function line(c, from, to, style, width, erase) {
    const x = ctx(c);
    x.globalCompositeOperation = erase ? "destination-out" : "source-over";
    x.strokeStyle = style; x.lineWidth = width;
    x.beginPath(); x.moveTo(...from); x.lineTo(...to); x.stroke();
    x.globalCompositeOperation = "source-over";
  }
  let last = null;
  function stroke(e) {
    const p = point(e), from = last || p, width = BRUSH * Number(sizeInput.value);
    if (mode === "draw") { line(ink, from, p, "#000", width, false); }
    if (mode === "region") { line(paint, from, p, "rgba(200, 30, 30, 1)", width * 1.6, false); }
    if (mode === "erase") { line(ink, from, p, "#000", width * 1.6, true); line(paint, from, p, "#000", width * 1.6, true); }
    last = p;
  }
  paint.addEventListener("pointerdown", (e) => {
    paint.setPointerCapture(e.pointerId);
    snapshot();
    if (mode === "region") { paintedRegionNoise(); }
    last = null; stroke(e); e.preventDefault();
  });
  paint.addEventListener("pointermove", (e) => { if (last) { stroke(e); } });
  for (const ev of ["pointerup", "pointercancel"]) { paint.addEventListener(ev, () => { last = null; }); }

  function drawImage(im, w, h) {
    // Fit inside the canvas on white, aspect kept (too small an image never gets here: it is refused).
    const s = Math.min(SIZE / w, SIZE / h);
    snapshot();
    clear();
    const c = ctx(ink);
    c.fillStyle = "#fff"; c.fillRect(0, 0, SIZE, SIZE);
    c.drawImage(im, (SIZE - w * s) / 2, (SIZE - h * s) / 2, w * s, h * s);
    picture = true;
  }
  root.querySelectorAll(".examples button").forEach((b, i) => b.addEventListener("click", () => {
    drawImage(examples[i], 28, 28);   // preloaded: drawn before any later click can export
    setMode("draw");
    say(`Test digit ${i} loaded: press Compare, or draw over it.`);
  }));
  undoButton.addEventListener("click", undo);
  root.querySelector("[data-act=clear]").addEventListener("click", () => { snapshot(); clear(); setMode("draw"); });
  root.querySelectorAll("[data-mode]").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
  document.addEventListener("keydown", (e) => {   // Ctrl+Z / Cmd+Z, unless the user is typing
    const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement?.tagName) || document.activeElement?.isContentEditable;
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z" && !typing && history.length) {
      e.preventDefault(); undo();
    }
  });
  const file = root.querySelector("input[type=file]");
  file.addEventListener("change", async () => {
    const f = file.files[0];
    file.value = "";
    if (!f) { return; }
    let im;
    try { im = await createImageBitmap(f); } catch (err) {
      say(`"${f.name.slice(0, 60)}" is not an image (PNG, JPEG, GIF, BMP or WebP expected).`, true);
      return;
    }
    if (im.width < MIN_SIDE || im.height < MIN_SIDE || im.width > MAX_SIDE || im.height > MAX_SIDE) {
      say(`The image is ${im.width}x${im.height} px; images must be ${MIN_SIDE} to ${MAX_SIDE} px on each side.`, true);
      return;
    }
    drawImage(im, im.width, im.height);
    setMode("draw");
    say(`Loaded ${im.width}x${im.height} px: press Compare.`);
  });

  function blank(c) {   // nothing on this canvas (after erasing or undoing, say)
    const a = ctx(c).getImageData(0, 0, SIZE, SIZE).data;
    for (let i = 3; i < a.length; i += 4) { if (a[i]) { return false; } }
    return true;
  }
  function exported(c, background) {
    const out = document.createElement("canvas");
    out.width = out.height = EXPORT;
    const x = out.getContext("2d");
    if (background) { x.fillStyle = background; x.fillRect(0, 0, EXPORT, EXPORT); }
    x.imageSmoothingQuality = "high";
    x.drawImage(c, 0, 0, EXPORT, EXPORT);
    return out.toDataURL("image/png");
  }
  window.aelabPad = {
    // A picture is flattened on white (an erased hole in it is white paper, not "no picture");
    // strokes keep their transparent ground.
    export() {
      return { drawing: blank(ink) ? "" : exported(ink, picture ? "#fff" : null),
               region: blank(paint) ? "" : exported(paint, null) };
    },
    mode: () => mode,
    undoSteps: () => history.length,
  };
  setMode("draw");
})();
