"""The look of the studio: one Gradio theme and a little CSS (system fonts only: the page must work offline)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="rose", neutral_hue="slate",
                       font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])

CSS = """
.studio-header { display: flex; align-items: baseline; gap: 14px; flex-wrap: wrap; }
.studio-header h1 { margin: 0; font-size: 1.5em; letter-spacing: -0.02em; }
.studio-header p { margin: 0; opacity: 0.75; font-size: 0.92em; }
.studio-banner { background: #fff7e6; border: 1px solid #f5c16c; border-radius: 10px; padding: 4px 12px; color: #7a4b00;
                 font-size: 0.88em; }
.studio-status { min-height: 44px; padding: 8px 12px; border-radius: 10px; background: var(--block-background-fill);
                 border: 1px solid var(--border-color-primary); font-size: 0.92em; }
.studio-bar { height: 8px; border-radius: 4px; background: var(--neutral-200); overflow: hidden; margin-bottom: 6px; }
.studio-fill { height: 100%; background: linear-gradient(90deg, #6366f1, #ec4899); transition: width 0.15s linear; }
.studio-status[data-state=error] { background: #fff1f2; border-color: #fda4af; }
/* One height (bar, line and two notes; more scroll inside): notes that come and go never move the image below. An
   error or a restore's account may take more room. */
.studio-panel:not(#live-status) .studio-status { min-height: 96px; box-sizing: border-box; }
.studio-panel:not(#live-status) .studio-status:not([data-state=error], [data-state=restored]) {
  max-height: 96px; overflow-y: auto; }
/* A floating label (an image's) stops before the buttons Gradio lays over the block's top right corner. */
.studio-work .block:has(.icon-button-wrapper) > label[data-testid=block-label].float {
  max-width: calc(100% - 104px); overflow: hidden; white-space: nowrap; }
.studio-error { color: #be123c; font-weight: 600; }
.studio-panel [data-testid=status-tracker]:has(> .error) { display: none !important; }
/* Gradio's own tracker on a status panel: only the queue position, small in a corner, never fading the panel. */
.studio-panel [data-testid=status-tracker] { background: transparent !important; align-items: flex-start !important;
                                              justify-content: flex-end !important; pointer-events: none; }
.studio-panel [data-testid=status-tracker] svg, .studio-panel [data-testid=status-tracker] .eta-bar { display: none; }
.studio-panel [data-testid=status-tracker] .progress-text { font-size: 0.75em; position: static !important;
                                                            padding: 2px 8px; }
.studio-work .block:has(.gallery-container) .grid-wrap { padding-top: 30px; }
.studio-work .caption-label { max-width: 96% !important; white-space: normal !important; font-size: 0.72em !important;
                              line-height: 1.2; }
.studio-note { margin-top: 4px; color: var(--body-text-color-subdued); font-size: 0.9em; }
.studio-note::before { content: "› "; }
.studio-work input[role=listbox], .studio-work .wrap-inner input { text-overflow: ellipsis; }
/* A dropdown's text ends (with "…") before its arrow, which Gradio lays over the input's right end. */
.studio-work .wrap-inner:has(.icon-wrap) input { padding-right: 24px; }
/* Live: a new image is on its way (set by ui/tabs/live.py's page script from the first key). */
#live-image[data-making]::after { content: "Making a new image…"; position: absolute; bottom: 14px; left: 50%;
  transform: translateX(-50%); white-space: nowrap; z-index: 5; padding: 4px 12px; border-radius: 999px;
  background: rgba(79, 70, 229, 0.92); color: #fff; font-size: 0.85em; pointer-events: none;
  animation: studio-pulse 0.9s ease-in-out infinite alternate; }
#live-image[data-making] img { opacity: 0.6; transition: opacity 0.2s; }
@keyframes studio-pulse { from { opacity: 0.6; } to { opacity: 1; } }
.studio-tile-toggle { position: absolute; left: 10px; bottom: 10px; z-index: 6; padding: 3px 10px; border-radius: 999px;
  font-size: 0.8em; background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color);
  border: 1px solid var(--border-color-primary); cursor: pointer; }
#img-canvas label[data-testid=block-label] { max-width: calc(100% - 8px); }  /* it has no buttons to leave room for */
#img-examples .grid-container { grid-template-columns: repeat(4, minmax(0, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: 112px !important; }
.studio-clamped { color: #b45309; font-size: 0.85em; margin-top: 4px; }
.studio-tokens { font-size: 0.82em; margin-top: -6px !important; opacity: 0.8; }
.studio-tokens .warn { color: #b45309; }
.studio-tokens .bad { color: #be123c; }
.cmp-head { height: 118px; overflow-y: auto; font-size: 0.9em; line-height: 1.35; }
#edit-history .grid-container, #edit-variations .grid-container {
  grid-template-columns: repeat(auto-fill, 136px) !important; grid-template-rows: none !important;
  grid-auto-rows: 136px !important; }
.studio-actions { flex-wrap: nowrap !important; }
.studio-actions > button { min-width: 0 !important; }
/* Layout (ui/kit.py workspace): the prompt, the run buttons and the forming image share one screen. */
.studio-compose, .studio-settings, .studio-stage { gap: var(--layout-gap); }
.gradio-container { overflow: clip !important; }  /* hidden would stop the results column sticking */
@media (min-width: 821px) {
  .studio-results { position: sticky; top: 8px; align-self: flex-start; }
}
@media (max-width: 820px) {
  .studio-header p { display: none; }
  .studio-banner { font-size: 0.8em; line-height: 1.3; }
  .studio-work { flex-direction: column !important; flex-wrap: nowrap !important; }
  .studio-controls, .studio-results { display: contents !important; }
  .studio-work > * > * { order: 4; width: 100%; }
  .studio-work .studio-compose { order: 1; }
  .studio-work .studio-stage { order: 2; }
  .studio-work .studio-settings { order: 3; }
  .studio-stage .block[style^="height: "] { height: 40vh !important; }
  /* Compare: two columns a row, the third and fourth under them (none hidden off-screen). */
  .cmp-columns { flex-wrap: wrap !important; }
  .cmp-columns > .column { min-width: 0 !important; flex: 0 0 calc(50% - var(--layout-gap)) !important; }
  .studio-stage .cmp-columns .block[style^="height: "] { height: 46vw !important; }
  /* Live: the image above the prompt, so it stays in sight above a phone's keyboard while typing. */
  .studio-work .studio-stage:has(#live-image) { order: 0; }
  .studio-compose #live-model { order: 2; }
  .studio-stage #live-image { height: 32vh !important; }
  #img-examples .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
  #img-examples .grid-wrap { height: auto !important; max-height: none !important; }
  .cmp-head { height: 84px; }
  /* Every tab stays in the strip (two rows if need be) instead of hiding behind a "⋯" menu. */
  .tab-container.visually-hidden button { max-width: 1px !important; padding: 0 !important; overflow: hidden; }
  .tab-wrapper, .tab-wrapper .tab-container[role=tablist] { flex-wrap: wrap !important; height: auto !important; }
  .tab-wrapper .tab-container[role=tablist] button { padding: 6px 9px !important; }
}
"""
CSS += (Path(__file__).with_name("library.css")).read_text(encoding="utf-8")  # the Library tab
CSS += (Path(__file__).with_name("sweep.css")).read_text(encoding="utf-8")  # the Sweep tab

# Run once when the page loads. A number typed outside a slider's range is clamped by the browser before the server
# sees it; this says so next to the slider instead of changing the visitor's value silently.
SCRIPT = """
() => {
  const say = (input, text) => {
    const block = input.closest('.block');
    if (!block) return;
    let note = block.querySelector('.studio-clamped');
    if (!note) { note = document.createElement('div'); note.className = 'studio-clamped'; block.appendChild(note); }
    note.textContent = text;
    clearTimeout(note.timer);
    note.timer = setTimeout(() => note.remove(), 8000);
  };
  const check = (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== 'number' || input.value === '') return;
    const value = Number(input.value);
    const low = input.min === '' ? -Infinity : Number(input.min);
    const high = input.max === '' ? Infinity : Number(input.max);
    const label = (input.closest('.block')?.querySelector('label span, [data-testid=block-info]')?.textContent
                   || 'this setting').trim();
    if (value > high) say(input, `${input.value} is more than ${label} can be here: ${high} is used.`);
    else if (value < low) say(input, `${input.value} is less than ${label} can be: ${low} is used.`);
  };
  document.addEventListener('change', check, true);
  document.addEventListener('keydown', (event) => { if (event.key === 'Enter') check(event); }, true);
""" + (Path(__file__).with_name("tiled_view.js")).read_text(encoding="utf-8") + """
""" + (Path(__file__).with_name("editor_ready.js")).read_text(encoding="utf-8") + """
}
"""
