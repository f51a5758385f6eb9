"""Image decoding and normalisation (a sub-package of :mod:`curation`).

Reads image files of any supported format and returns a :class:`curation.images.decode.Decoded`
(pixels as a numpy array + non-identifying metadata + identifier strings found in headers, which
are used as an OCR deny-list and never stored). Writes nothing except through :mod:`.store`.

Public API (import from the modules; this ``__init__`` imports nothing heavy):

* :func:`curation.images.decode.decode_file` -- sniff the format (DICOM, DICOM-WSI, NIfTI,
  whole-slide SVS/NDPI/..., JPEG/PNG/TIFF) and decode it; raises :class:`DecodeError`.
* :func:`curation.images.dicom.decode_dicom`, :func:`curation.images.volume.decode_nifti`,
  :func:`curation.images.volume.representative_slices`, :func:`curation.images.wsi.decode_wsi`,
  :func:`curation.images.wsi.wsi_tiles`, :func:`curation.images.raster.decode_raster`.
* :func:`curation.images.wsi.assemble_tiles` -- thumbnail of a tiled slide OpenSlide cannot open
  (DICOM-WSI frames): per-frame positions, else the grid layout with the smoothest tile seams
  (``meta["tile_layout"]`` records the choice and the seam scores).
* :func:`curation.images.store.to_display` (16-bit kept or scaled to 8-bit),
  :func:`curation.images.store.store_png` (content-addressed ``images/ab/<sha256>.png``),
  :func:`curation.images.store.phash_hex`.
"""
