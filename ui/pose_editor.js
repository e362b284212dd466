// The pose editor (ui/pose_editor.py): run by gr.HTML's js_on_load with `element`, `props`, `trigger`, `watch`.
// props.value is the pose JSON Generate uses (OpenPose editors' format, pixels); a user's edit sets it and fires
// 'input' (Python then refreshes the table); a value set from Python (preset, detection, table, import) is drawn and
// can be undone. props.photo: the reference photo's URL. CONFIG (prepended by Python): keypoint names, left/right
// pairs, OpenPose's limbs and colours, and how far off the frame a joint may go.
const { limbs: LIMBS, colours: COLOURS, pairs: PAIRS, outside: OUTSIDE } = CONFIG;
// "Standing front" around its neck, for a 768 px tall canvas: where an added person's joints (or a shown one) go.
const TEMPLATE = [[0, -61.5], [0, 0], [-51, 8], [-67, 107], [-72, 200], [51, 8], [67, 107], [72, 200], [-31, 215],
  [-31, 353], [-31, 492], [31, 215], [31, 353], [31, 492], [-10, -73], [10, -73], [-20, -65], [20, -65]];
const VIEW = 0.15;  // the least margin shown around the frame, as a fraction of its sides
const NS = 'http://www.w3.org/2000/svg';
const root = element.querySelector('.pe');
const svg = element.querySelector('.pe-svg');
const info = element.querySelector('.pe-info');
const chips = element.querySelector('.pe-hidden');
const photoButton = element.querySelector('[data-act=photo]');
let pose = null, saved = '', undo = [], redo = [], sel = null, drag = null, frame = 0, showPhoto = true, view = VIEW;
const last = {};  // "person:joint" -> where a hidden joint was, to show it there again
const names = () => CONFIG.names;
const cap = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');

function parse(text) {
  const data = JSON.parse(text);
  const w = +data.canvas_width || 512, h = +data.canvas_height || 512;
  const people = (data.people || []).map((person) => {
    const flat = person.pose_keypoints_2d || [];
    const pts = [];
    for (let k = 0; k < 18; k++) pts.push(flat[3 * k + 2] > 0 ? [+flat[3 * k], +flat[3 * k + 1]] : null);
    const extra = {};
    for (const [key, flat] of Object.entries(person)) {
      if (key !== 'pose_keypoints_2d' && Array.isArray(flat)) extra[key] = flat.slice();
    }
    return { pts, extra };
  });
  return { w, h, name: data.name || '', people };
}

function serialise(p) {
  const r = (v) => Math.round(v * 100) / 100;
  const people = p.people.map((person) => {
    const entry = { pose_keypoints_2d: person.pts.flatMap((q) => (q ? [r(q[0]), r(q[1]), 1] : [0, 0, 0])) };
    for (const [key, flat] of Object.entries(person.extra)) entry[key] = flat.map((v, i) => (i % 3 === 2 ? v : r(v)));
    return entry;
  });
  return JSON.stringify({ canvas_width: p.w, canvas_height: p.h, people, ...(p.name ? { name: p.name } : {}) });
}

function load(text) {
  try { pose = parse(text); } catch (err) { pose = null; }
  view = VIEW;  // wider when a joint lies further out (from the table or a file), so every joint is in sight
  for (const person of pose ? pose.people : []) {
    for (const q of person.pts.filter(Boolean)) {
      view = Math.max(view, -q[0] / pose.w, q[0] / pose.w - 1, -q[1] / pose.h, q[1] / pose.h - 1);
    }
  }
  view = Math.min(view, OUTSIDE) + (view > VIEW ? 0.03 : 0);
  if (sel && (!pose || sel.p >= pose.people.length)) sel = null;
  render();
}

function commit(say) {  // the user changed the pose: it becomes the value Generate uses
  const text = serialise(pose);
  if (text === saved) return;
  undo.push(saved); redo = [];
  if (undo.length > 100) undo.shift();
  saved = text;
  props.value = text;
  trigger('input', { say: cap(say || '') });
  render();
}

function travel(from, to, say) {  // undo / redo
  if (!from.length) return;
  to.push(saved);
  saved = from.pop();
  load(saved);
  props.value = saved;
  trigger('input', { say });
}

const scale = () => { const m = svg.getScreenCTM(); return m ? 1 / m.a : 1; };  // canvas px per screen px
function at(event) {
  const m = svg.getScreenCTM();
  if (!m) return [0, 0];
  const q = new DOMPoint(event.clientX, event.clientY).matrixTransform(m.inverse());
  return [q.x, q.y];
}
function limit(q) {
  const o = Math.min(view, OUTSIDE);
  const within = (v, side) => Math.min(side * (1 + o), Math.max(-side * o, v));
  return [within(q[0], pose.w), within(q[1], pose.h)];
}
function box(person) {
  const seen = person.pts.filter(Boolean);
  if (!seen.length) return null;
  const xs = seen.map((q) => q[0]), ys = seen.map((q) => q[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}
function transform(person, fn) {  // every point of a person, hands and face too
  person.pts = person.pts.map((q) => (q ? limit(fn(q)) : null));
  for (const flat of Object.values(person.extra)) {
    for (let i = 0; i + 2 < flat.length; i += 3) {
      if (flat[i + 2] > 0) [flat[i], flat[i + 1]] = fn([flat[i], flat[i + 1]]);
    }
  }
}

function el(tag, attrs, parent) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  parent.appendChild(node);
  return node;
}

function render() {
  frame = 0;
  svg.replaceChildren();
  if (!pose) { info.textContent = 'No pose yet: pick a preset, detect one from a photo or import pose JSON.'; return; }
  const { w, h } = pose;
  const [vx, vy, vw, vh] = [-w * view, -h * view, w * (1 + 2 * view), h * (1 + 2 * view)];
  svg.setAttribute('viewBox', `${vx} ${vy} ${vw} ${vh}`);
  const s = scale();  // (after the viewBox: a new canvas size changes it)
  el('rect', { x: vx, y: vy, width: vw, height: vh, class: 'pe-off' }, svg);
  el('rect', { x: 0, y: 0, width: w, height: h, class: 'pe-frame' }, svg);
  if (props.photo && showPhoto) {
    el('image', { href: props.photo, x: 0, y: 0, width: w, height: h, preserveAspectRatio: 'xMidYMid meet',
      class: 'pe-photo' }, svg);
  }
  el('rect', { x: 0, y: 0, width: w, height: h, class: 'pe-edge', 'stroke-width': 1.5 * s }, svg);
  pose.people.forEach((person, p) => {
    const g = el('g', { class: 'pe-person' + (sel && sel.p === p ? ' pe-chosen' : '') }, svg);
    LIMBS.forEach(([a, b], i) => {
      const qa = person.pts[a], qb = person.pts[b];
      if (!qa || !qb) return;
      el('line', { x1: qa[0], y1: qa[1], x2: qb[0], y2: qb[1], stroke: `rgb(${COLOURS[i]})`, 'stroke-opacity': 0.6,
        'stroke-width': Math.max(8, 6 * s), 'stroke-linecap': 'round', 'data-p': p, class: 'pe-bone' }, g);
    });
    for (const flat of Object.values(person.extra)) {
      for (let i = 0; i + 2 < flat.length; i += 3) {
        if (flat[i + 2] > 0) el('circle', { cx: flat[i], cy: flat[i + 1], r: 1.6 * s, class: 'pe-extra' }, g);
      }
    }
    person.pts.forEach((q, k) => {
      if (!q) return;
      const chosen = sel && sel.p === p && sel.k === k;
      el('circle', { cx: q[0], cy: q[1], r: (chosen ? 8 : 5.5) * s, fill: `rgb(${COLOURS[k]})`,
        class: 'pe-joint' + (chosen ? ' pe-on' : ''), 'stroke-width': 1.5 * s }, g);
      el('circle', { cx: q[0], cy: q[1], r: 15 * s, class: 'pe-hit', 'data-p': p, 'data-k': k,
        'aria-label': `person ${p + 1} ${names()[k] || k}` }, g);
    });
  });
  if (sel && sel.k == null) handles(s);
  describe();
}

function handles(s) {
  const b = box(pose.people[sel.p]);
  if (!b) return;
  const pad = 12 * s, [x0, y0, x1, y1] = [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad];
  el('rect', { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: 'pe-box', 'data-role': 'move', 'data-p': sel.p,
    'stroke-width': 1.5 * s, 'stroke-dasharray': `${6 * s} ${4 * s}` }, svg);
  for (const [x, y] of [[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) {
    el('rect', { x: x - 7 * s, y: y - 7 * s, width: 14 * s, height: 14 * s, class: 'pe-handle', 'data-role': 'scale',
      'stroke-width': 1.5 * s }, svg);
  }
  const cx = (x0 + x1) / 2;
  el('line', { x1: cx, y1: y0, x2: cx, y2: y0 - 26 * s, class: 'pe-stem', 'stroke-width': 1.5 * s }, svg);
  el('circle', { cx, cy: y0 - 26 * s, r: 9 * s, class: 'pe-handle pe-rotate', 'data-role': 'rotate',
    'stroke-width': 1.5 * s }, svg);
}

function describe() {
  const count = pose.people.length;
  let text = `${count} ${count === 1 ? 'person' : 'people'} · ${pose.w}×${pose.h}. `;
  if (sel && sel.k != null) {
    const q = pose.people[sel.p].pts[sel.k];
    text += `Person ${sel.p + 1}, ${names()[sel.k] || sel.k}: ` + (q ? `${Math.round(q[0])}, ${Math.round(q[1])} px` +
      (q[0] < 0 || q[1] < 0 || q[0] > pose.w || q[1] > pose.h ? ' (outside the frame)' : '') : 'hidden');
  } else if (sel) {
    text += `Person ${sel.p + 1} selected: drag to move, a corner to scale, the round handle to rotate.`;
  } else {
    text += 'Drag a joint; click a bone to select a whole person.';
  }
  info.textContent = text;
  const person = sel && pose.people[sel.p];
  const hidden = person ? person.pts.map((q, k) => (q ? null : k)).filter((k) => k !== null) : [];
  chips.innerHTML = hidden.length ? `<span>Hidden, click to show:</span>` + hidden.map((k) =>
    `<button type="button" data-show="${k}">${esc(names()[k] || k)}</button>`).join('') : '';
  const hiddenOne = sel && sel.k != null && !person.pts[sel.k];
  element.querySelector('[data-act=hide]').textContent = hiddenOne ? 'Show joint' : 'Hide joint';
  element.querySelector('[data-act=hide]').disabled = !(sel && sel.k != null);
  element.querySelector('[data-act=remove]').disabled = !sel;
  element.querySelector('[data-act=undo]').disabled = !undo.length;
  element.querySelector('[data-act=redo]').disabled = !redo.length;
  element.querySelector('[data-act=add]').disabled = count >= 10;
  photoButton.hidden = !props.photo;
  photoButton.setAttribute('aria-pressed', String(showPhoto));
}

function nearest(q, radius) {  // the visible joint closest to q within `radius` screen px
  let best = null, bestDistance = radius * scale();
  pose.people.forEach((person, p) => person.pts.forEach((point, k) => {
    const d = point ? Math.hypot(point[0] - q[0], point[1] - q[1]) : Infinity;
    if (d <= bestDistance) { best = { p, k }; bestDistance = d; }
  }));
  return best;
}

function repaint() { if (!frame) frame = requestAnimationFrame(render); }

function home(p, k) {  // where a hidden joint reappears: where it was, else the template around the neck
  if (last[p + ':' + k]) return last[p + ':' + k];
  const pts = pose.people[p].pts, u = pose.h / 768;
  const anchor = pts[1] || pts.find(Boolean) || [pose.w / 2, pose.h * 0.25];
  const base = pts[1] ? TEMPLATE[1] : TEMPLATE[pts.findIndex(Boolean)] || [0, 0];
  return limit([anchor[0] + (TEMPLATE[k][0] - base[0]) * u, anchor[1] + (TEMPLATE[k][1] - base[1]) * u]);
}

function toggle(p, k) {
  const person = pose.people[p];
  if (person.pts[k]) { last[p + ':' + k] = person.pts[k]; person.pts[k] = null; }
  else person.pts[k] = home(p, k);
  sel = { p, k };
  commit(`${names()[k] || 'Joint'} ${person.pts[k] ? 'shown' : 'hidden'}.`);
}

function addPerson() {  // beside the others, in the widest free stretch of the frame (smaller if that is narrow)
  const u = pose.h / 768, half = 82 * u;  // the template's half width (72 px at 768 px tall) and some room
  const spans = pose.people.map(box).filter(Boolean).map((b) => [b[0], b[2]]).sort((a, b) => a[0] - b[0]);
  let free = [0, 0], x = 0;
  for (const [left, right] of [...spans, [pose.w, pose.w]]) {
    if (left - x > free[1] - free[0]) free = [x, left];
    x = Math.max(x, right);
  }
  const room = free[1] - free[0], f = Math.min(1, Math.max(0.45, room / (2 * half)));
  const cx = room > 0 ? (free[0] + free[1]) / 2 : pose.w / 2;
  const cy = pose.h * 0.22 + TEMPLATE[10][1] * u * (1 - f);  // smaller: the feet stay on the same ground
  pose.people.push({ pts: TEMPLATE.map(([tx, ty]) => limit([cx + tx * u * f, cy + ty * u * f])), extra: {} });
  sel = { p: pose.people.length - 1, k: null };
  const crowded = room < 2 * half * 0.45, others = spans.length === 1 ? 'person 1' : 'the others';
  commit(`Person ${pose.people.length} added` + (crowded ? `: there is no free room beside ${others}, so it ` +
    'overlaps; drag it where you want it.' : `${f < 1 ? ', smaller,' : ''} beside ${others}.`));
}

function mirror() {  // the selected person about its own middle, else the whole picture
  const targets = sel ? [pose.people[sel.p]] : pose.people;
  const before = targets.map((person) => person.pts.slice());
  const undoTo = serialise(pose);
  for (const person of targets) {
    const b = box(person), axis = sel && b ? b[0] + b[2] : pose.w;
    transform(person, ([x, y]) => [axis - x, y]);
    for (const [a, b2] of PAIRS) [person.pts[a], person.pts[b2]] = [person.pts[b2], person.pts[a]];
    const { hand_left_keypoints_2d: left, hand_right_keypoints_2d: right } = person.extra;
    if (left || right) {
      delete person.extra.hand_left_keypoints_2d; delete person.extra.hand_right_keypoints_2d;
      if (right) person.extra.hand_left_keypoints_2d = right;
      if (left) person.extra.hand_right_keypoints_2d = left;
    }
  }
  // A person symmetric left ↔ right looks the same mirrored: say so rather than change nothing in silence.
  const near = Math.max(pose.w, pose.h) * 0.01;
  const same = targets.every((person, i) => person.pts.every((q, k) => {
    const was = before[i][k];
    return !q === !was && (!q || Math.hypot(q[0] - was[0], q[1] - was[1]) <= near);
  }));
  if (same) {
    load(undoTo);
    const who = sel ? `Person ${sel.p + 1} is` : targets.length === 1 ? 'The person is' : 'The pose is';
    const say = `${who} symmetric left ↔ right, so mirroring changes nothing you would see. Move an arm or a leg ` +
      'first, or mirror a person who faces one way.';
    trigger('input', { say });
    info.textContent = say;
    return;
  }
  commit(sel ? `Person ${sel.p + 1} mirrored.` : 'Pose mirrored left ↔ right.');
}

const actions = {
  undo: () => travel(undo, redo, 'Undone.'),
  redo: () => travel(redo, undo, 'Redone.'),
  hide: () => sel && sel.k != null && toggle(sel.p, sel.k),
  add: addPerson,
  remove: () => {
    if (!sel) return;
    const p = sel.p;
    pose.people.splice(p, 1);
    for (const key of Object.keys(last)) delete last[key];
    sel = null;
    commit(`Person ${p + 1} removed.`);
  },
  mirror,
  photo: () => { showPhoto = !showPhoto; render(); },
};

element.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (!button || !pose) return;
  if (button.dataset.act && actions[button.dataset.act]) actions[button.dataset.act]();
  else if (button.dataset.show != null && sel) toggle(sel.p, +button.dataset.show);
});

svg.addEventListener('touchstart', (event) => {  // a finger on the skeleton edits it instead of scrolling the page
  if (drag) event.preventDefault();  // (pointerdown, which comes first, started a drag)
}, { passive: false });

svg.addEventListener('pointerdown', (event) => {
  if (!pose || event.button > 0) return;
  root.focus({ preventScroll: true });
  const t = event.target, start = at(event);
  const p = t.dataset.p != null ? +t.dataset.p : sel ? sel.p : null;
  const handle = t.dataset.role === 'scale' || t.dataset.role === 'rotate';
  const near = handle ? null : nearest(start, event.pointerType === 'touch' ? 26 : 16);
  if (near) sel = near;  // the closest joint, not whichever hit area is drawn on top
  else if (t.classList.contains('pe-bone')) sel = { p, k: null };
  else if (!t.dataset.role) { sel = null; render(); return; }
  const person = pose.people[sel.p], b = box(person);
  drag = { role: handle ? t.dataset.role : sel.k != null ? 'joint' : 'move', start, moved: false,
    before: JSON.stringify(person), centre: b ? [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] : start };
  svg.setPointerCapture(event.pointerId);
  repaint();  // not now: the touch that follows this pointerdown must still find its target in the page
});

svg.addEventListener('pointermove', (event) => {
  if (!drag) return;
  const q = at(event), person = pose.people[sel.p];
  if (!drag.moved && Math.hypot(q[0] - drag.start[0], q[1] - drag.start[1]) < 2 * scale()) return;
  drag.moved = true;
  const original = JSON.parse(drag.before);
  person.pts = original.pts; person.extra = original.extra;
  const [cx, cy] = drag.centre, [sx, sy] = drag.start;
  if (drag.role === 'joint') person.pts[sel.k] = limit(q);
  else if (drag.role === 'move') transform(person, ([x, y]) => [x + q[0] - sx, y + q[1] - sy]);
  else if (drag.role === 'scale') {
    const f = Math.max(0.1, Math.hypot(q[0] - cx, q[1] - cy) / Math.max(1, Math.hypot(sx - cx, sy - cy)));
    transform(person, ([x, y]) => [cx + (x - cx) * f, cy + (y - cy) * f]);
  } else if (drag.role === 'rotate') {
    const a = Math.atan2(q[1] - cy, q[0] - cx) - Math.atan2(sy - cy, sx - cx), c = Math.cos(a), s = Math.sin(a);
    transform(person, ([x, y]) => [cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c]);
  }
  repaint();
});

function release() {
  if (!drag) return;
  const { moved, role } = drag;
  drag = null;
  if (!moved) { render(); return; }
  const done = { move: 'moved', scale: 'scaled', rotate: 'rotated' }[role];
  const what = role === 'joint' ? `${names()[sel.k] || 'Joint'} moved` : `Person ${sel.p + 1} ${done}`;
  commit(what + '.');
}
svg.addEventListener('pointerup', release);
svg.addEventListener('pointercancel', release);

root.addEventListener('keydown', (event) => {
  const key = event.key.toLowerCase(), mod = event.ctrlKey || event.metaKey;
  if (mod && key === 'z') { actions[event.shiftKey ? 'redo' : 'undo'](); event.preventDefault(); return; }
  if (mod && key === 'y') { actions.redo(); event.preventDefault(); return; }
  if (!sel || !pose) return;
  if (key === 'escape') { sel = null; render(); return; }
  if ((key === 'delete' || key === 'backspace' || key === 'h') && sel.k != null) {
    toggle(sel.p, sel.k);
    event.preventDefault();
    return;
  }
  const steps = { arrowleft: [-1, 0], arrowright: [1, 0], arrowup: [0, -1], arrowdown: [0, 1] }[key];
  if (!steps) return;
  const d = event.shiftKey ? 10 : 1, person = pose.people[sel.p];
  const q = sel.k != null && person.pts[sel.k];
  if (q) person.pts[sel.k] = limit([q[0] + steps[0] * d, q[1] + steps[1] * d]);
  else if (sel.k == null) transform(person, ([x, y]) => [x + steps[0] * d, y + steps[1] * d]);
  commit('Nudged.');
  event.preventDefault();
});

watch('value', () => {  // set from Python: a preset, a detection, the table, an import, a restored PNG
  if (props.value === saved) return;
  if (saved) { undo.push(saved); redo = []; }
  for (const key of Object.keys(last)) delete last[key];  // another pose: its hidden joints have no past place
  saved = props.value;
  load(saved);
});
watch('photo', () => { showPhoto = true; render(); });
new ResizeObserver(() => repaint()).observe(svg);
saved = props.value || '';
load(saved);
