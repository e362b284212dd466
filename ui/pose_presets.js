// The pose presets strip (ui/pose_editor.py): thumbnails drawn here from props.presets ([{name, pose}]) with
// CONFIG's limbs and colours, so they show as soon as the page does; a click fires 'select' with the preset's name.
const strip = element.querySelector('.pp');
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');

function thumbnail(text) {
  const data = JSON.parse(text), w = +data.canvas_width || 512, h = +data.canvas_height || 512;
  const lines = (data.people || []).map((person) => CONFIG.limbs.map(([a, b], i) => {
    const f = person.pose_keypoints_2d || [];
    if (!(f[3 * a + 2] > 0 && f[3 * b + 2] > 0)) return '';
    return `<line x1="${f[3 * a]}" y1="${f[3 * a + 1]}" x2="${f[3 * b]}" y2="${f[3 * b + 1]}" ` +
      `stroke="rgb(${CONFIG.colours[i]})"/>`;
  }).join('')).join('');
  return `<svg viewBox="0 0 ${w} ${h}" stroke-width="${Math.max(w, h) / 40}" stroke-linecap="round">${lines}</svg>`;
}

function draw() {
  strip.innerHTML = (props.presets || []).map((preset, i) => {
    let drawn = '';
    try { drawn = thumbnail(preset.pose); } catch (err) { drawn = '<svg></svg>'; }
    return `<button type="button" class="pp-item" data-index="${i}" title="${esc(preset.name)}">${drawn}` +
      `<span>${esc(preset.name)}</span></button>`;
  }).join('');
}

strip.addEventListener('click', (event) => {
  const button = event.target.closest('.pp-item');
  if (!button) return;
  const preset = (props.presets || [])[+button.dataset.index];
  if (preset) trigger('select', { index: +button.dataset.index, value: preset.name });
});
watch('presets', draw);
draw();
