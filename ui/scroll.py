"""Where the page scrolls after something lands in a tab (a send, a restore, an example): to the top of the tab
shown, so its status panel and what arrived are in view, not the drop zone far down the settings."""

from __future__ import annotations

TABS_ID = "studio-tabs"  # the page's top-level tabs

# A `js=` handler for an event's `.then(...)`: once the tab has switched and painted, scroll up to the tab strip
# (never down: a visitor already above it stays where they are).
TO_TAB_TOP = f"""() => {{
  requestAnimationFrame(() => requestAnimationFrame(() => {{
    const tabs = document.getElementById('{TABS_ID}');
    if (!tabs) return;
    const top = tabs.getBoundingClientRect().top + window.scrollY - 4;
    if (window.scrollY > top) window.scrollTo({{top: Math.max(0, top), behavior: 'instant'}});
  }}));
}}"""
