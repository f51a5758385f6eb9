"""placeholder"""
SOURCE = "iu_xray"
