"""placeholder"""
SOURCE = "mimic_cxr_jpg"
