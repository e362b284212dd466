"""The Gradio user interface: one module per tab, each a builder that receives the engine's Studio."""
