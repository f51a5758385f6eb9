"""Fake patient identifiers and the places they are planted: burned into pixels and DICOM headers.

Every identity is invented from small word lists (no real person); phone numbers use the
fictional 555-0100..0199 range (``317-555-0142``). Burned-in text is white on a dark label plate (as many
modalities print annotations), in an image corner, in Pillow's bundled
scalable font (``ImageFont.load_default(size=...)``, Pillow >= 10.1) so the pixels are the same on
every machine with the same Pillow, and large enough for Tesseract to read at the default size.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Maria",
         "Wei", "Aisha", "Olga", "Kenji", "Fatima", "Pierre", "Ingrid", "Rahul"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Thompson", "White",
        "Nguyen", "Kowalski", "Okafor", "Tanaka", "Schmidt", "Dubois", "Larsen", "Patel"]


def fake_identity(rng: random.Random) -> dict:
    """A patient's invented identifiers (constant across their studies)."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    birth = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 65))
    return {
        "first": first, "last": last, "name": f"{first} {last}",
        "mrn": f"{rng.randrange(10**6, 10**7)}",
        "birth": birth,
        "dob": birth.strftime("%m/%d/%Y"),
        "sex": rng.choice(["M", "F"]),
        "phone": f"{rng.randrange(201, 990)}-555-01{rng.randrange(10, 100)}",
        "doctor": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
    }


def study_date(rng: random.Random, birth: dt.date) -> dt.date:
    start = max(birth + dt.timedelta(days=365 * 18), dt.date(2005, 1, 1))
    return start + dt.timedelta(days=rng.randrange(0, max(1, (dt.date(2025, 12, 31) - start).days)))


def burn_in(img: np.ndarray, ident: dict, date: dt.date, rng: random.Random) -> tuple[np.ndarray, list[dict]]:
    """Write 1-3 identifier lines in white into a corner; returns the image and one box per line."""
    size = img.shape[0]
    font = ImageFont.load_default(size=max(11, round(size * 0.085)))
    lines = [(f"{ident['last'].upper()}, {ident['first'].upper()}", "name"),
             (f"ID {ident['mrn']}", "id"),
             (date.strftime(rng.choice(["%d/%m/%Y", "%Y-%m-%d", "%d %b %Y"])).upper(), "date")]
    lines = rng.sample(lines, k=rng.randint(2, 3))
    corner = rng.choice(["tl", "tr", "bl", "br"])
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    margin = max(3, size // 40)
    line_h = round(font.size * 1.35)
    boxes = []
    block_h = line_h * len(lines)
    y = margin if corner[0] == "t" else size - margin - block_h
    for text, kind in lines:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        w = right - left
        x = margin if corner[1] == "l" else size - margin - w
        draw.rectangle((x - 3, y - 2, x + w + 3, y + line_h), fill=8)   # dark label plate
        draw.text((x - left, y), text, fill=255, font=font)
        bl, bt, br, bb = draw.textbbox((x - left, y), text, font=font)
        boxes.append({"left": int(bl), "top": int(bt), "width": int(br - bl), "height": int(bb - bt),
                      "text": text, "kind": kind})
        y += line_h
    return np.asarray(pil, dtype=np.uint8), boxes


CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def write_dicom(path: Path, img: np.ndarray, *, ident: dict, date: dt.date, modality: str, view: str,
                photometric: str, uid_seed: str, age: int) -> dict:
    """Save ``img`` (uint8) as a 12-bit DICOM (explicit VR little endian); returns the header identifiers."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = CR_IMAGE_STORAGE if modality == "CR" else DX_IMAGE_STORAGE
    uid = lambda part: generate_uid(entropy_srcs=[uid_seed, part])  # noqa: E731 - deterministic UIDs
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid("sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.PatientName = f"{ident['last']}^{ident['first']}"
    ds.PatientID = ident["mrn"]
    ds.PatientBirthDate = ident["birth"].strftime("%Y%m%d")
    ds.PatientSex = ident["sex"]
    ds.PatientAge = f"{age:03d}Y"
    ds.StudyDate = date.strftime("%Y%m%d")
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"A{ident['mrn'][::-1]}"
    ds.ReferringPhysicianName = ident["doctor"].replace(" ", "^")
    ds.InstitutionName = "Medharvest Synthetic Hospital"
    ds.Modality = modality
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    values = (img.astype(np.uint32) * 4095 + 127) // 255
    if photometric == "MONOCHROME1":
        values = 4095 - values
    ds.PixelData = values.astype("<u2").tobytes()
    tmp = path.with_name(path.name + ".tmp")
    ds.save_as(tmp, enforce_file_format=True)
    tmp.replace(path)
    return {"PatientName": str(ds.PatientName), "PatientID": ds.PatientID, "PatientBirthDate": ds.PatientBirthDate,
            "StudyDate": ds.StudyDate, "AccessionNumber": ds.AccessionNumber,
            "ReferringPhysicianName": str(ds.ReferringPhysicianName)}
