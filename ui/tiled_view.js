// Seamless patterns, one view from the first preview to the result: the images of a tab's stage whose status panel
// holds the mark <span class="studio-tiled" data-axes="x|y|both"> (ui/shown.py) are shown repeated 3× along those
// axes, as the pattern will be used, with a button to see one tile. Only the picture on screen changes: the file
// behind it, and its download, is the tile itself with its recipe.
(() => {
  const TIMES = 3;
  let repeated = true;  // the visitor's choice, for every pattern on the page
  const sheet = (src, axes) => new Promise((done) => {
    const tile = new Image();
    tile.onload = () => {
      const columns = axes === 'y' ? 1 : TIMES, rows = axes === 'x' ? 1 : TIMES;
      const canvas = document.createElement('canvas');
      canvas.width = tile.naturalWidth * columns;
      canvas.height = tile.naturalHeight * rows;
      const pen = canvas.getContext('2d');
      for (let row = 0; row < rows; row++) {
        for (let column = 0; column < columns; column++) {
          pen.drawImage(tile, column * tile.naturalWidth, row * tile.naturalHeight);
        }
      }
      try { done(canvas.toDataURL('image/png')); } catch (error) { done(null); }
    };
    tile.onerror = () => done(null);
    tile.src = src;
  });
  const toggle = (block, axes) => {
    let button = block.querySelector(':scope > .studio-tile-toggle');
    if (!axes || !block.querySelector('img')) { button?.remove(); return; }
    if (!button) {
      button = document.createElement('button');
      button.type = 'button';
      button.className = 'studio-tile-toggle';
      button.addEventListener('click', (event) => {
        event.stopPropagation();
        repeated = !repeated;
        scan();
      });
      block.appendChild(button);
    }
    const label = repeated ? 'Show one tile' : `Show it repeated (${axes === 'both' ? '3×3' : '3×'})`;
    if (button.textContent !== label) button.textContent = label;
  };
  const show = (block, axes) => {
    const wanted = repeated ? axes : undefined;
    block.querySelectorAll('.image-container img').forEach(async (img) => {
      const src = img.getAttribute('src');
      if (!src) return;
      if (src !== img.dataset.sheet) img.dataset.tile = src;  // a new image from the server
      const tile = img.dataset.tile;
      if (!wanted) {
        if (src !== tile) img.setAttribute('src', tile);
        return;
      }
      if (img.dataset.sheetOf === tile + wanted) {
        if (src !== img.dataset.sheet) img.setAttribute('src', img.dataset.sheet);
        return;
      }
      const made = await sheet(tile, wanted);
      if (!made || img.dataset.tile !== tile) return;  // a newer image came meanwhile
      img.dataset.sheet = made;
      img.dataset.sheetOf = tile + wanted;
      img.setAttribute('src', made);
    });
    toggle(block, axes);
  };
  const scan = () => {
    queued = false;
    document.querySelectorAll('.studio-stage').forEach((stage) => {
      const axes = stage.querySelector('.studio-tiled')?.dataset.axes;
      stage.querySelectorAll('.block:has(> .image-container)').forEach((block) => {
        if (axes || block.querySelector('img[data-sheet], .studio-tile-toggle')) show(block, axes);
      });
    });
  };
  let queued = false;
  new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(scan); }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
})();
