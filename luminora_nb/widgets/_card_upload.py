"""The FileUpload control through which Character Cards are dropped into a BlendStudio."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .blend_studio import BlendStudio

__all__ = ["card_upload"]


def card_upload(studio: BlendStudio) -> Any:
    """A FileUpload (``.json``, ``.png``, ``.charx``) whose files go to ``studio.add_card``."""
    import ipywidgets  # local: only this control needs it

    upload = ipywidgets.FileUpload(
        accept=".json,.png,.charx", multiple=True, description="Add cards", tooltip="Character Cards"
    )

    def added(change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        for item in files:
            studio.add_card(bytes(item["content"]))
        upload.value = ()  # ready for the next drop (this change calls back with nothing)

    upload.observe(added, names="value")
    return upload
