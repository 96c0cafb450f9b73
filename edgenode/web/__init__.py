"""The local web UI: static assets served by the node itself (docs/ui.md)."""

from .assets import Asset, Assets, UI_CSP

__all__ = ["Asset", "Assets", "UI_CSP"]
