"""Draw the integration's brand images (custom_components/ocpp_central/brand/).

Home Assistant serves these for custom integrations (icon on the integrations page, logo in
the integration's page). Run from the repository root:

    .venv/bin/python scripts/draw_brand.py

A wall charger with a lightning bolt and a cable ending in a plug, drawn at 4x and scaled
down for smooth edges. Images: icon.png (256x256), icon@2x.png (512x512), logo.png and
logo@2x.png (icon and name, landscape), and dark_ variants of each (a light cable and
light text for dark themes).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components/ocpp_central/brand"
BODY = (3, 136, 209)  # blue wall box
FACE = (255, 255, 255)
CABLE = (38, 50, 56)  # dark grey cable and plug
DARK_CABLE = (176, 190, 197)  # light grey on dark themes
SS = 4  # supersampling factor
NAME = ("OCPP", "Central System")
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)


def _bezier(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], steps: int = 60
) -> list[tuple[float, float]]:
    points = []
    for i in range(steps + 1):
        t = i / steps
        x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t**2 * p2[0]
        y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t**2 * p2[1]
        points.append((x, y))
    return points


def draw_icon(size: int, cable: tuple[int, int, int] = CABLE) -> Image.Image:
    """The charger icon on a transparent square of `size` pixels."""
    s = size * SS / 1024  # drawing units: a 1024 x 1024 canvas
    img = Image.new("RGBA", (size * SS, size * SS), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (x0 * s, y0 * s, x1 * s, y1 * s)

    # Cable from the bottom of the box, round the side, up to the plug.
    width = 56 * s  # cable thickness
    for x, y in _bezier((520, 880), (560, 1010), (840, 900)) + _bezier(
        (840, 900), (930, 860), (880, 560)
    ):
        r = width / 2
        d.ellipse((x * s - r, y * s - r, x * s + r, y * s + r), cable)
    # Plug: body and two pins.
    d.rounded_rectangle(box(810, 400, 950, 580), radius=36 * s, fill=cable)
    d.rounded_rectangle(box(835, 320, 865, 410), radius=12 * s, fill=cable)
    d.rounded_rectangle(box(895, 320, 925, 410), radius=12 * s, fill=cable)
    # Wall box.
    d.rounded_rectangle(box(120, 60, 700, 900), radius=110 * s, fill=BODY)
    # Face with a lightning bolt.
    d.rounded_rectangle(box(210, 150, 610, 560), radius=60 * s, fill=FACE)
    bolt = [(445, 190), (285, 385), (390, 385), (345, 520), (525, 310), (415, 310), (470, 190)]
    d.polygon([(x * s, y * s) for x, y in bolt], fill=BODY)
    # Status light.
    d.ellipse(box(365, 660, 455, 750), fill=FACE)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def draw_logo(height: int, text: tuple[int, int, int], cable: tuple[int, int, int]) -> Image.Image:
    """The icon followed by the name on two lines, `height` pixels high."""
    icon = draw_icon(height, cable)
    big, small = _font(int(height * 0.36)), _font(int(height * 0.2))
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    width = max(probe.textlength(NAME[0], font=big), probe.textlength(NAME[1], font=small))
    img = Image.new("RGBA", (height + int(height * 0.12) + int(width) + 4, height), (0, 0, 0, 0))
    img.alpha_composite(icon)
    d = ImageDraw.Draw(img)
    x = height + int(height * 0.12)
    d.text((x, int(height * 0.14)), NAME[0], font=big, fill=(*text, 255))
    d.text((x, int(height * 0.58)), NAME[1], font=small, fill=(*text, 255))
    return img


def main() -> None:
    BRAND.mkdir(exist_ok=True)
    images = {
        "icon.png": draw_icon(256),
        "icon@2x.png": draw_icon(512),
        "dark_icon.png": draw_icon(256, DARK_CABLE),
        "dark_icon@2x.png": draw_icon(512, DARK_CABLE),
        "logo.png": draw_logo(128, (33, 33, 33), CABLE),
        "logo@2x.png": draw_logo(256, (33, 33, 33), CABLE),
        "dark_logo.png": draw_logo(128, (241, 241, 241), DARK_CABLE),
        "dark_logo@2x.png": draw_logo(256, (241, 241, 241), DARK_CABLE),
    }
    for name, img in images.items():
        img.save(BRAND / name, optimize=True)
        print(f"{BRAND.name}/{name}: {img.width}x{img.height}")


if __name__ == "__main__":
    main()
