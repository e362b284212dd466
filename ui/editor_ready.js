// A picture given to an image editor before its canvas is set up is held until it is. Gradio's ImageEditor builds its
// canvas (WebGL) after the tab shows; a file chosen or dropped before then throws inside the editor ("reading
// 'reset_layers'") and is lost: the picture never shows, and the server never hears of it. On a busy machine or a
// slow phone that window lasts seconds (issue 27: Your image's lost upload).
(() => {
  const EDITORS = '#img-editor, #sketch-pad';
  const PATIENCE_MS = 20000;  // after this the event goes on as it came (the editor may still take it)
  const ready = (editor) => {
    const canvases = [...editor.querySelectorAll('canvas')];
    return canvases.length > 0 && canvases.every((canvas) => canvas.width > 0);
  };
  const whenReady = (editor, then) => {
    const started = performance.now();
    const look = () => (ready(editor) || performance.now() - started > PATIENCE_MS ? then() : setTimeout(look, 50));
    look();
  };
  const held = (event) => {
    if (event.studioHeld) return null;  // our own replay
    const editor = event.target instanceof Element ? event.target.closest(EDITORS) : null;
    return editor && !ready(editor) ? editor : null;
  };
  for (const type of ['input', 'change']) {
    document.addEventListener(type, (event) => {
      const input = event.target;
      if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !input.files?.length) return;
      const editor = held(event);
      if (!editor) return;
      event.stopImmediatePropagation();
      whenReady(editor, () => {
        const again = new Event(type, { bubbles: true });
        again.studioHeld = true;
        input.dispatchEvent(again);
      });
    }, true);
  }
  document.addEventListener('drop', (event) => {
    const files = [...(event.dataTransfer?.files || [])];
    const editor = files.length ? held(event) : null;
    if (!editor) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const target = event.target;
    whenReady(editor, () => {
      const carried = new DataTransfer();
      files.forEach((file) => carried.items.add(file));
      const again = new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: carried });
      again.studioHeld = true;
      (target.isConnected ? target : editor).dispatchEvent(again);
    });
  }, true);
})();
