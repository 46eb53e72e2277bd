"""Tiny dataset files in the real column layouts of Unsplash Lite and Fashion Product Images."""

from __future__ import annotations

import csv
from pathlib import Path

# photos.tsv000 of Unsplash Lite 1.2, in its order.
UNSPLASH_COLUMNS = [
    "photo_id", "photo_url", "photo_image_url", "photo_submitted_at", "photo_featured",
    "photo_width", "photo_height", "photo_aspect_ratio", "photo_description",
    "photographer_username", "photographer_first_name", "photographer_last_name",
    "exif_camera_make", "exif_camera_model", "exif_iso", "exif_aperture_value",
    "exif_focal_length", "exif_exposure_time", "photo_location_name",
    "photo_location_latitude", "photo_location_longitude", "photo_location_country",
    "photo_location_city", "stats_views", "stats_downloads", "ai_description",
    "ai_primary_landmark_name", "ai_primary_landmark_latitude",
    "ai_primary_landmark_longitude", "ai_primary_landmark_confidence", "blur_hash",
]

FASHION_COLUMNS = ["id", "gender", "masterCategory", "subCategory", "articleType",
                   "baseColour", "season", "year", "usage", "productDisplayName"]


def unsplash_row(photo_id: str, image_url: str, description: str = "",
                 ai_description: str = "", first: str = "", last: str = "",
                 username: str = "", location: str = "") -> dict[str, str]:
    return {
        "photo_id": photo_id, "photo_url": f"https://unsplash.com/photos/{photo_id}",
        "photo_image_url": image_url, "photo_submitted_at": "2020-01-01 10:00:00",
        "photo_featured": "t", "photo_width": "4000", "photo_height": "3000",
        "photo_aspect_ratio": "1.33", "photo_description": description,
        "photographer_username": username or f"user_{photo_id}",
        "photographer_first_name": first, "photographer_last_name": last,
        "photo_location_name": location, "ai_description": ai_description,
    }


def write_unsplash_tsv(path: Path, rows: list[dict[str, str]],
                       columns: list[str] | None = None, bom: bool = False) -> Path:
    """Written the way Unsplash ships it: tab-separated, header first, UTF-8."""
    columns = columns or UNSPLASH_COLUMNS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


def fashion_line(product_id: int | str, colour: str, name: str, article: str = "Tshirts",
                 gender: str = "Men") -> str:
    """One styles.csv line, written like the real file: unquoted, so commas in the product
    name make extra fields."""
    return (f"{product_id},{gender},Apparel,Topwear,{article},{colour},Summer,2012,Casual,"
            f"{name}")


def write_styles_csv(path: Path, lines: list[str], bom: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ",".join(FASHION_COLUMNS) + "\n" + "\n".join(lines) + "\n"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path
