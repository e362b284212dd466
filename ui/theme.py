"""The look of the studio: one Gradio theme and a little CSS (system fonts only: the page must work offline)."""

from __future__ import annotations

import gradio as gr

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="rose", neutral_hue="slate",
                       font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])

CSS = """
.studio-header h1 { margin-bottom: 0; letter-spacing: -0.02em; }
.studio-header p { margin-top: 4px; opacity: 0.75; }
.studio-banner { background: #fff7e6; border: 1px solid #f5c16c; border-radius: 10px; padding: 8px 14px; color: #7a4b00; }
.studio-status { min-height: 44px; padding: 8px 12px; border-radius: 10px; background: var(--block-background-fill);
                 border: 1px solid var(--border-color-primary); font-size: 0.92em; }
.studio-bar { height: 8px; border-radius: 4px; background: var(--neutral-200); overflow: hidden; margin-bottom: 6px; }
.studio-fill { height: 100%; background: linear-gradient(90deg, #6366f1, #ec4899); transition: width 0.15s linear; }
.studio-status[data-state=error] { background: #fff1f2; border-color: #fda4af; }
.studio-error { color: #be123c; font-weight: 600; }
.studio-panel [data-testid=status-tracker]:has(> .error) { display: none !important; }
.studio-note { margin-top: 4px; color: var(--body-text-color-subdued); font-size: 0.9em; }
.studio-note::before { content: "› "; }
.studio-tokens { font-size: 0.82em; margin-top: -6px !important; opacity: 0.8; }
.studio-tokens .warn { color: #b45309; }
.studio-tokens .bad { color: #be123c; }
.cmp-head { min-height: 118px; font-size: 0.9em; line-height: 1.35; }
#edit-history .grid-container, #edit-variations .grid-container {
  grid-template-columns: repeat(auto-fill, 136px) !important; grid-template-rows: none !important;
  grid-auto-rows: 136px !important; }
"""
