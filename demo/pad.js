// The drawing pad (a plain 2-D canvas): opens with the brush, draws strokes that come out MNIST-wide
// after the 28x28 downscaling, paints a region to erase on a second canvas, loads the examples and
// uploads, and exports both canvases synchronously (window.aelabPad.export()) when Compare is
// clicked, so a run always uses what is on screen at that moment. Gradio's Sketchpad exported
// and uploaded three full-size PNGs per click instead (about a second before the request left).
(() => {
  const root = element.querySelector(".pad");
  const ink = root.querySelector("canvas.ink");
  const paint = root.querySelector("canvas.region");
  const status = root.querySelector(".pad-status");
  const SIZE = ink.width;                 // internal pixels (CSS scales the element)
  const EXPORT = 140;                     // sent size: 5x MNIST, a few kB of PNG
  const MIN_SIDE = 16, MAX_SIDE = 2048;   // as demo/inference.py
  const BRUSH = Math.round(SIZE * 0.085); // a digit drawn ~220 px tall gets ~2.5-px strokes at 28x28
  let mode = "draw";
  let painted = false, inked = false;
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
  function clear(which) {
    if (which !== "region") { ctx(ink).clearRect(0, 0, SIZE, SIZE); inked = false; }
    if (which !== "ink") { ctx(paint).clearRect(0, 0, SIZE, SIZE); painted = false; }
  }
  function setMode(m) {
    mode = m;
    root.querySelectorAll("[data-mode]").forEach((b) => b.classList.toggle("on", b.dataset.mode === m));
    say(m === "draw" ? "Draw a digit with the brush." :
        "Paint the part of your digit to erase (noise: Painted region).");
  }
  function point(e) {
    const r = ink.getBoundingClientRect();
    return [(e.clientX - r.left) * SIZE / r.width, (e.clientY - r.top) * SIZE / r.height];
  }
  let last = null;
  function stroke(e) {
    const c = ctx(mode === "draw" ? ink : paint);
    c.strokeStyle = mode === "draw" ? "#000" : "rgba(200, 30, 30, 1)";
    c.lineWidth = mode === "draw" ? BRUSH : BRUSH * 1.6;
    const p = point(e);
    c.beginPath(); c.moveTo(...(last || p)); c.lineTo(...p); c.stroke();
    last = p;
    if (mode === "region") { painted = true; } else { inked = true; }
  }
  paint.addEventListener("pointerdown", (e) => { paint.setPointerCapture(e.pointerId); last = null; stroke(e); e.preventDefault(); });
  paint.addEventListener("pointermove", (e) => { if (last) { stroke(e); } });
  for (const ev of ["pointerup", "pointercancel"]) { paint.addEventListener(ev, () => { last = null; }); }

  function drawImage(im, w, h) {
    // Fit inside the canvas, aspect kept (too small an image never gets here: it is refused).
    const s = Math.min(SIZE / w, SIZE / h);
    clear();
    const c = ctx(ink);
    c.fillStyle = "#fff"; c.fillRect(0, 0, SIZE, SIZE);
    c.drawImage(im, (SIZE - w * s) / 2, (SIZE - h * s) / 2, w * s, h * s);
    inked = true;
  }
  root.querySelectorAll(".examples button").forEach((b, i) => b.addEventListener("click", () => {
    drawImage(examples[i], 28, 28);   // preloaded: drawn before any later click can export
    setMode("draw");
    say(`Test digit ${i} loaded: press Compare, or draw over it.`);
  }));
  root.querySelector("[data-act=clear]").addEventListener("click", () => { clear(); setMode("draw"); });
  root.querySelectorAll("[data-mode]").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
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
    export() {
      return { drawing: inked ? exported(ink, "#fff") : "", region: painted ? exported(paint, null) : "" };
    },
    mode: () => mode,
  };
  setMode("draw");
})();
