"""QR posters: a printable PNG per grassroots union with the bot's deep link, so workers
scan it and start with their union already known."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.i18n import Gettext

log = logging.getLogger(__name__)

POSTER_SIZE = (1240, 1748)      # portrait, A5 at 210 dpi (A4 at 150 dpi)
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",          # Debian/Ubuntu fonts-dejavu-core
    "/usr/share/fonts/dejavu",                   # Fedora, Arch, Alpine
    "/usr/local/share/fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)
_FONT_FILES = {
    False: ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "arial.ttf", "Arial.ttf"),
    True: ("DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "arialbd.ttf", "Arial Bold.ttf"),
}


def deep_link(bot_username: str, code: str) -> str:
    """The Telegram link that opens the bot with the unit's code as the start parameter."""
    return f"https://t.me/{bot_username.strip().lstrip('@')}?start={code}"


def find_font(*, bold: bool = False, extra: Sequence[str | Path] = ()) -> Path | None:
    """A TrueType font with Vietnamese glyphs: DejaVu Sans from the OS, or the copy that
    ships inside matplotlib when that is installed; None when there is none."""
    dirs = [Path(d) for d in extra] + [Path(d) for d in _FONT_DIRS]
    try:
        import importlib.util
        spec = importlib.util.find_spec("matplotlib")
        if spec and spec.origin:
            dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    except (ImportError, ValueError):
        pass
    for d in dirs:
        for name in _FONT_FILES[bold]:
            if (d / name).is_file():
                return d / name
    return None


def qr_matrix(link: str) -> list[list[bool]]:
    """The QR code's modules (True = dark), quiet zone of 4 modules included."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(link)
    qr.make(fit=True)
    return qr.get_matrix()


@dataclass(frozen=True, slots=True)
class Poster:
    path: Path
    link: str
    qr_origin: tuple[int, int]  # top-left pixel of the matrix (quiet zone included)
    module: int                 # pixels per module
    font: Path | None


def render_poster(
    *, name: str, parent_name: str | None, link: str, out: str | Path, _: Gettext,
    font_path: str | Path | None = None,
) -> Poster:
    """A printable PNG: the union's name, a QR code of `link`, one line of instructions."""
    from PIL import Image, ImageDraw, ImageFont

    regular = Path(font_path) if font_path else find_font()
    bold = Path(font_path) if font_path else find_font(bold=True) or regular
    if regular is None:
        log.warning("no TrueType font found: Vietnamese letters may not render")

    def font(size: int, strong: bool = False) -> Any:
        path = bold if strong else regular
        return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size)

    width, height = POSTER_SIZE
    margin = 90
    img = Image.new("RGB", POSTER_SIZE, "white")
    draw = ImageDraw.Draw(img)
    accent = (180, 20, 30)
    draw.rectangle((0, 0, width, 24), fill=accent)
    draw.rectangle((0, height - 24, width, height), fill=accent)

    def wrap(text: str, f: Any, max_width: int) -> list[str]:
        lines: list[str] = []
        for word in text.split():
            if lines and draw.textlength(f"{lines[-1]} {word}", font=f) <= max_width:
                lines[-1] += f" {word}"
            else:
                lines.append(word)
        return lines

    def block(text: str, top: int, sizes: Sequence[int], fill: Any, *, strong: bool = False,
              max_lines: int = 3) -> tuple[int, int]:
        """Centred, wrapped text at the largest size that fits; returns (next free y, size)."""
        for size in sizes:
            f = font(size, strong)
            lines = wrap(text, f, width - 2 * margin)
            if len(lines) <= max_lines:
                break
        step = int(size * 1.25)
        for i, line in enumerate(lines):
            draw.text((width // 2, top + i * step), line, font=f, fill=fill, anchor="ma")
        return top + len(lines) * step, size

    text = unicodedata.normalize("NFC", name)
    y, size = block(text, 80, (76, 66, 58, 50, 44, 38), "black", strong=True)
    if parent_name:
        small = [s for s in (42, 36, 32, 28, 24) if s <= size * 0.75] or [24]
        y, _size = block(unicodedata.normalize("NFC", parent_name), y + 10, small, (90, 90, 90))

    bottom_text = _("Scan the code to register your initiative with the union")
    matrix = qr_matrix(link)
    n = len(matrix)
    qr_top = y + 30
    room = min(width - 2 * margin + 120, height - qr_top - 330)
    module = max(room // n, 1)
    side = module * n
    left = (width - side) // 2
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x0, y0 = left + c * module, qr_top + r * module
                draw.rectangle((x0, y0, x0 + module - 1, y0 + module - 1), fill="black")
    y, _size = block(bottom_text, qr_top + side + 20, (48, 42, 36, 32), "black", strong=True)
    shown = link.removeprefix("https://")
    draw.text((width // 2, max(y + 20, height - 110)), shown, font=font(30), fill=(90, 90, 90),
              anchor="ma")
    path = Path(out)
    img.save(path, "PNG", dpi=(210, 210))
    return Poster(path=path, link=link, qr_origin=(left, qr_top), module=module, font=regular)
